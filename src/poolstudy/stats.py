"""Seeds -> means, 95% intervals and paired differences against the no-pooling baseline.

Observations are tidy: one row per (experiment, dataset, condition, operator, seed, metric,
protocol, dx, dy). The unit of replication is the training seed, so intervals are Student-t
intervals over seeds; a cell with a single seed gets no interval (NaN), never a made-up one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

MODEL_KEYS = ["experiment", "dataset", "condition", "operator", "seed"]
CELL_KEYS = ["experiment", "dataset", "condition", "operator", "metric", "protocol", "dx", "dy"]
BASELINE = "none"


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of the t-interval of the mean of ``values``."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < 2:
        return mean, math.nan, math.nan
    half = scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
    half /= math.sqrt(values.size)
    return mean, mean - half, mean + half


def _summarize_groups(frame: pd.DataFrame, keys: list[str], confidence: float) -> pd.DataFrame:
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        mean, low, high = t_interval(group["value"], confidence)
        std = float(group["value"].std(ddof=1)) if len(group) > 1 else math.nan
        rows.append((*key, len(group), mean, std, low, high))
    return pd.DataFrame(rows, columns=[*keys, "n", "mean", "std", "ci_low", "ci_high"])


def summarize(observations: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per cell (all keys but the seed): n seeds, mean, std and the t-interval."""
    return _summarize_groups(observations, CELL_KEYS, confidence)


def paired_differences(
    observations: pd.DataFrame, baseline: str = BASELINE, confidence: float = 0.95
) -> pd.DataFrame:
    """Per cell, the operator's value minus the baseline's with the same seed, summarised.

    Empty when the baseline was not trained.
    """
    keys = [k for k in CELL_KEYS if k != "operator"]
    base = observations[observations["operator"] == baseline]
    if base.empty:
        return pd.DataFrame(
            columns=[*CELL_KEYS, "n", "mean", "std", "ci_low", "ci_high", "significant"]
        )
    merged = observations[observations["operator"] != baseline].merge(
        base[[*keys, "seed", "value"]].rename(columns={"value": "baseline"}),
        on=[*keys, "seed"],
        how="inner",
    )
    merged["value"] = merged["value"] - merged["baseline"]
    table = _summarize_groups(merged, CELL_KEYS, confidence)
    table["significant"] = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    return table


def shift_curves(observations: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy against shift magnitude max(|dx|, |dy|): averaged over the shifts of each
    magnitude within a model first, then summarised over seeds."""
    shifted = observations[observations["metric"] == "accuracy_shifted"].copy()
    shifted["shift"] = np.maximum(shifted["dx"].abs(), shifted["dy"].abs())
    per_model = shifted.groupby([*MODEL_KEYS, "protocol", "shift"], as_index=False, sort=False)[
        "value"
    ].mean()
    keys = ["experiment", "dataset", "condition", "operator", "protocol", "shift"]
    return _summarize_groups(per_model, keys, confidence)


def contrast(
    observations: pd.DataFrame,
    metric: str,
    first: dict,
    second: dict,
    confidence: float = 0.95,
    protocol: str = "",
) -> dict | None:
    """``first`` minus ``second`` for one metric, paired by seed.

    ``first`` and ``second`` select models by column values (e.g. ``{"condition": "gap",
    "operator": "max"}``); every other key column must match. None when either side is
    missing. The result holds n, mean, the t-interval and whether it excludes zero.
    """
    rows = observations[(observations["metric"] == metric) & (observations["protocol"] == protocol)]
    sides = []
    for selection in (first, second):
        side = rows
        for column, value in selection.items():
            side = side[side[column] == value]
        if side.empty:
            return None
        sides.append(side.set_index("seed")["value"])
    paired = (sides[0] - sides[1]).dropna()
    if paired.empty:
        return None
    mean, low, high = t_interval(paired.to_numpy(), confidence)
    return {
        "n": int(paired.size),
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "significant": bool(low > 0 or high < 0),
    }
