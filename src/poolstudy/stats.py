"""Seeds -> means, 95% intervals and paired differences against the no-pooling baseline.

Observations are tidy: one row per (experiment, dataset, condition, operator, seed, metric,
protocol, dx, dy). The unit of replication is the training seed, so intervals are Student-t
intervals over seeds; a cell with fewer than ``MIN_SEEDS`` seeds gets no interval (NaN), never
a made-up one (with 2 seeds the t quantile is 12.7 and the interval says nothing). Percentages
cannot leave [0, 100] (differences of them [-100, 100]): an interval reaching past its range is
clipped to it, and the table says so (``ci_clipped``).

A second unit is the test image: with the trained networks held fixed, how far would the
accuracy move on another test set of the same size? ``bootstrap_over_images`` answers it with
a percentile bootstrap that resamples the test images (the same resample for every seed, since
all seeds see the same test set) and averages over seeds. It does not include the training
randomness; the t-interval over seeds does not include the test-set sampling. The paper
reports both and says which is which.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

MODEL_KEYS = ["experiment", "dataset", "condition", "operator", "seed"]
CELL_KEYS = ["experiment", "dataset", "condition", "operator", "metric", "protocol", "dx", "dy"]
BASELINE = "none"
SUMMARY_COLUMNS = ["n", "mean", "std", "ci_low", "ci_high", "ci_clipped"]
"""The columns a summary adds to its group keys."""
MIN_SEEDS = 3
"""The fewest seeds an interval (or a test) is computed from."""
PERCENT_RANGE = (0.0, 100.0)
DIFFERENCE_RANGE = (-100.0, 100.0)
"""The values a difference of two percentages can take."""
DIFFERENCE_METRICS = frozenset({"gap", "accuracy_placed_drop"})
"""The metrics that are one accuracy minus another (written by ``analyze``: a model's train -
test gap, its accuracy at trained minus untrained positions); they may be negative."""


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take: percentages, or differences of two."""
    return DIFFERENCE_RANGE if metric in DIFFERENCE_METRICS else PERCENT_RANGE


def difference_range(metric: str) -> tuple[float, float]:
    """The values one model's ``metric`` minus another's can take: twice the metric's span
    for a metric that is itself a difference (a drop of 90 against a gain of 20: 110)."""
    low, high = metric_range(metric)
    return low - high, high - low


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of the t-interval of the mean of ``values`` (NaN ends with
    fewer than ``MIN_SEEDS`` values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if values.size < MIN_SEEDS:
        return mean, math.nan, math.nan
    half = scipy_stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
    half /= math.sqrt(values.size)
    return mean, mean - half, mean + half


def clip_interval(
    low: float, high: float, bounds: tuple[float, float]
) -> tuple[float, float, bool]:
    """The interval cut to ``bounds``, and whether it reached past them."""
    if math.isnan(low):
        return low, high, False
    clipped = low < bounds[0] or high > bounds[1]
    return max(low, bounds[0]), min(high, bounds[1]), clipped


def summarize_groups(
    frame: pd.DataFrame,
    keys: list[str],
    confidence: float,
    range_of=metric_range,
) -> pd.DataFrame:
    """One row per group: n, mean, std and the t-interval clipped to the values its values
    can take: ``range_of(metric)`` of the group's metric, percentages without a metric
    column."""
    rows = []
    for key, group in frame.groupby(keys, dropna=False, sort=False):
        mean, low, high = t_interval(group["value"], confidence)
        if "metric" in group:
            limits = range_of(group["metric"].iloc[0])
        else:
            limits = PERCENT_RANGE
        low, high, clipped = clip_interval(low, high, limits)
        n = int(group["value"].notna().sum())  # a value can be undefined (an empty denominator)
        std = float(group["value"].std(ddof=1))  # NaN for fewer than two values
        rows.append((*key, n, mean, std, low, high, clipped))
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])


def summarize(observations: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per cell (all keys but the seed): n seeds, mean, std and the t-interval, clipped
    to the range of the cell's metric."""
    return summarize_groups(observations, CELL_KEYS, confidence)


def paired_differences(
    observations: pd.DataFrame, baseline: str = BASELINE, confidence: float = 0.95
) -> pd.DataFrame:
    """Per cell, the operator's value minus the baseline's with the same seed, summarised,
    the interval clipped to the values such a difference can take (``difference_range``).

    Empty when the baseline was not trained.
    """
    keys = [k for k in CELL_KEYS if k != "operator"]
    base = observations[observations["operator"] == baseline]
    if base.empty:
        return pd.DataFrame(columns=[*CELL_KEYS, *SUMMARY_COLUMNS, "significant"])
    merged = observations[observations["operator"] != baseline].merge(
        base[[*keys, "seed", "value"]].rename(columns={"value": "baseline"}),
        on=[*keys, "seed"],
        how="inner",
    )
    merged["value"] = merged["value"] - merged["baseline"]
    table = summarize_groups(merged, CELL_KEYS, confidence, range_of=difference_range)
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
    return summarize_groups(per_model, keys, confidence)


def bootstrap_over_images(
    values, confidence: float = 0.95, samples: int = 2000, seed: int = 0, chunk: int = 250
) -> tuple[float, float, float]:
    """Mean over seeds of the mean over test images of ``values`` ([seeds, images]: 0/1 for
    correct, or a paired difference of two such records), and the percentile interval of that
    mean when the images are resampled with replacement ``samples`` times."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"expected a [seeds, images] array, got shape {values.shape}")
    n_images = values.shape[1]
    mean = float(values.mean())
    # Every seed sees the same resample of the images, so the statistic is the mean over the
    # resampled images of each image's mean over seeds.
    per_image = values.mean(axis=0)
    rng = np.random.default_rng(seed)
    statistics = []
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        # one call per resample, so that the draws do not depend on the chunk: [count, images]
        drawn = np.stack([rng.integers(0, n_images, n_images) for _ in range(count)])
        statistics.append(per_image[drawn].mean(axis=1))
    statistics = np.concatenate(statistics)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(statistics, [tail, 100 - tail])
    return mean, float(low), float(high)


def bootstrap_table(
    records: pd.DataFrame,
    baseline: str = BASELINE,
    confidence: float = 0.95,
    samples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per (experiment, dataset, condition, operator): clean test accuracy (%) with its
    bootstrap interval over test images, and the paired difference against ``baseline`` (same
    seeds, same images) with its interval. ``records`` has the model keys and ``correct`` (a
    0/1 array per model, over the same test images within a dataset and condition)."""
    keys = [k for k in MODEL_KEYS if k != "seed"]
    by_cell = {key: group.sort_values("seed") for key, group in records.groupby(keys, sort=False)}
    rows = []
    for key, group in by_cell.items():
        correct = np.stack(group["correct"].to_list()).astype(float)
        mean, low, high = bootstrap_over_images(correct, confidence, samples, seed)
        row = dict(zip(keys, key, strict=True))
        row.update(
            n_seeds=len(group),
            n_images=correct.shape[1],
            mean=100 * mean,
            ci_low=100 * low,
            ci_high=100 * high,
        )
        base_key = (*key[:-1], baseline)
        diff = (math.nan,) * 3
        if key[-1] != baseline and base_key in by_cell:
            base = by_cell[base_key]
            shared = sorted(set(group["seed"]) & set(base["seed"]))
            if shared:
                ours = np.stack(group.set_index("seed").loc[shared, "correct"].to_list())
                theirs = np.stack(base.set_index("seed").loc[shared, "correct"].to_list())
                diff = bootstrap_over_images(
                    ours.astype(float) - theirs.astype(float), confidence, samples, seed
                )
        row.update(diff_mean=100 * diff[0], diff_ci_low=100 * diff[1], diff_ci_high=100 * diff[2])
        rows.append(row)
    columns = [*keys, "n_seeds", "n_images", "mean", "ci_low", "ci_high"]
    columns += ["diff_mean", "diff_ci_low", "diff_ci_high"]
    return pd.DataFrame(rows, columns=columns)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979): the i-th smallest is
    multiplied by (m - i + 1), running maxima keep the order, capped at 1. NaN entries are
    left out of the family and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = present.size
    running = 0.0
    for rank, index in enumerate(present[np.argsort(p[present], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def paired_contrast(differences, margin: float, confidence: float = 0.95) -> dict:
    """A paired comparison from its per-seed differences: mean, t-interval, the two-sided
    t-test of no difference, and the two one-sided tests (TOST, Schuirmann 1987) of a
    difference inside ``(-margin, margin)``, whose p-value is the larger of the two."""
    d = np.asarray(differences, dtype=float)
    d = d[~np.isnan(d)]
    mean, low, high = t_interval(d, confidence)
    result = {
        "n": int(d.size),
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "p_difference": math.nan,
        "p_equivalence": math.nan,
    }
    if d.size < MIN_SEEDS:
        return result
    df = d.size - 1
    se = d.std(ddof=1) / math.sqrt(d.size)
    if se == 0:  # every seed gave the same difference
        result["p_difference"] = 0.0 if mean != 0 else 1.0
        result["p_equivalence"] = 0.0 if abs(mean) < margin else 1.0
        return result
    result["p_difference"] = float(2 * scipy_stats.t.sf(abs(mean) / se, df))
    p_above_lower = scipy_stats.t.sf((mean + margin) / se, df)  # H0: mean <= -margin
    p_below_upper = scipy_stats.t.cdf((mean - margin) / se, df)  # H0: mean >= +margin
    result["p_equivalence"] = float(max(p_above_lower, p_below_upper))
    return result


VERDICTS = ("difference", "equivalent", "inconclusive")


def significance_level(confidence: float) -> float:
    """The tests' level for a confidence level: 1 - confidence as written (0.95 -> 0.05), not
    its float (0.050000000000000044), below which a p of exactly 0.05 would count."""
    return round(1 - confidence, 12)


def verdict(p_difference: float, p_equivalence: float, alpha: float) -> str:
    """What a contrast's (adjusted) tests allow one to say: a difference (no difference
    rejected; it may still be smaller than the margin), equivalence within the margin (both
    one-sided tests rejected), or neither."""
    if p_difference < alpha:
        return "difference"
    if p_equivalence < alpha:
        return "equivalent"
    return "inconclusive"


CONTRAST_COLUMNS = [
    "name",
    "dataset",
    "metric",
    "protocol",
    "first_condition",
    "first_operator",
    "second_condition",
    "second_operator",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "margin",
    "p_difference",
    "p_equivalence",
    "p_difference_holm",
    "p_equivalence_holm",
    "verdict",
    "within_margin",
    "budget_n",
    "budget_change",
    "budget_change_ci_low",
    "budget_change_ci_high",
    "budget_change_p_equivalence",
    "budget_change_within_margin",
    "half_budget_mean",
    "half_budget_ci_low",
    "half_budget_ci_high",
    "stable_under_budget",
]


def contrast_by_seed(selected: pd.DataFrame, first: dict, second: dict) -> pd.Series:
    """``first`` minus ``second`` (each {condition, operator}) by seed, for the seeds both
    have, from observations already narrowed to one dataset, metric and protocol. A metric
    measured at several shifts (``accuracy_shifted``: a row per shift) counts once per seed,
    as its mean over the shifts: the seed, not the shift, is the unit of replication."""
    sides = []
    for side in (first, second):
        chosen = selected[
            (selected["condition"] == side["condition"])
            & (selected["operator"] == side["operator"])
        ]
        sides.append(chosen.groupby("seed")["value"].mean())
    return (sides[0] - sides[1]).dropna()


ON_THRESHOLD = 1e-9
"""Points of accuracy closer than this to a threshold are on it: float noise of a mean
(``analyze``'s checks decide so, and the paper prints such a mean as the threshold)."""


def on_threshold(value: float, threshold: float) -> bool:
    return math.isclose(value, threshold, rel_tol=0.0, abs_tol=ON_THRESHOLD)


def interval_side(low: float, high: float) -> int | None:
    """Where an interval lies against zero: 1 above it, -1 below it, 0 where it holds zero
    (an end on zero included); None without an interval (NaN ends)."""
    if math.isnan(low) or math.isnan(high):
        return None
    return 1 if low > 0 else -1 if high < 0 else 0


def budget_change(
    selected: pd.DataFrame,
    first: dict,
    second: dict,
    paired: pd.Series,
    half_budget: dict[str, str],
    margin: float,
    confidence: float,
) -> dict:
    """How much a contrast moved when its networks' training budget was doubled, and what it
    showed at half the budget.

    Per seed, the contrast at the full budget (``paired``) minus the same contrast between
    the runs at half the budget (``half_budget``: condition -> its half-budget condition),
    with its interval and the two one-sided tests against ``margin``
    (``budget_change_within_margin``: the change is shown to lie inside the margin). The
    contrast at half the budget itself, over the same seeds (those with both budgets), gets
    its mean and t-interval at ``confidence`` (``half_budget_mean``, ``half_budget_ci_low``,
    ``half_budget_ci_high``).

    Also the half-budget contrast's equivalence p-value (``half_budget_p_equivalence``,
    NaN from fewer than ``MIN_SEEDS`` seeds), which ``contrast_table`` adjusts across the
    family as it adjusts the full budget's before ``budget_stability`` compares them. Empty
    (n = 0) where a side has no half-budget condition or runs; the truth value NA where
    fewer than ``MIN_SEEDS`` seeds have both budgets."""
    halves = [half_budget.get(side["condition"]) for side in (first, second)]
    change = pd.Series(dtype=float)
    at_half = pd.Series(dtype=float)
    if all(halves):
        at_half = contrast_by_seed(
            selected,
            {**first, "condition": halves[0]},
            {**second, "condition": halves[1]},
        )
        change = (paired - at_half).dropna()
    result = paired_contrast(change.to_numpy(), margin, confidence)
    half = paired_contrast(at_half.reindex(change.index).to_numpy(), margin, confidence)
    n = result["n"]
    alpha = significance_level(confidence)
    # from fewer seeds than a test takes, nothing is shown either way
    within = bool(result["p_equivalence"] < alpha) if n >= MIN_SEEDS else pd.NA
    return {
        "budget_n": n,
        "budget_change": result["mean"],
        "budget_change_ci_low": result["ci_low"],
        "budget_change_ci_high": result["ci_high"],
        "budget_change_p_equivalence": result["p_equivalence"],
        "budget_change_within_margin": within,
        "half_budget_mean": half["mean"],
        "half_budget_ci_low": half["ci_low"],
        "half_budget_ci_high": half["ci_high"],
        "half_budget_p_equivalence": half["p_equivalence"] if n >= MIN_SEEDS else math.nan,
    }


def budget_stability(row: dict, half_equivalent: bool, alpha: float):
    """``stable_under_budget`` of a contrast (``row``: its line of ``contrast_table``, the
    full budget's Holm-adjusted tests included; ``half_equivalent``: whether its contrast at
    half the budget is shown within the margin by the same adjusted tests).

    A change smaller than the margin can still reverse what the contrast shows (-0.4
    [-0.5, -0.3] at the full budget against +0.5 [+0.4, +0.6] at half is a change of -0.9),
    so a contrast is stable where both hold: the change shown inside the margin, and the
    half-budget interval on the same side of zero as the full-budget one: both above zero,
    both below it, or both holding it (``interval_side``), and then both shown within the
    margin or neither (an equivalence at the full budget and nothing shown at half is not
    the same answer). What each budget shows is what its verdict would say: the two
    one-sided tests Holm-adjusted across the family, as ``verdict`` reads them. NA where
    fewer than ``MIN_SEEDS`` seeds have both budgets."""
    if row["budget_n"] < MIN_SEEDS:
        return pd.NA
    side = interval_side(row["ci_low"], row["ci_high"])
    half_side = interval_side(row["half_budget_ci_low"], row["half_budget_ci_high"])
    same_side = side is not None and side == half_side
    if same_side and side == 0:
        # holding zero, a contrast shows equivalence or nothing: the same at both budgets
        same_side = bool(row["p_equivalence_holm"] < alpha) == half_equivalent
    return bool(row["budget_change_within_margin"]) and same_side


def contrast_table(
    observations: pd.DataFrame,
    contrasts: list[dict],
    margin: float,
    confidence: float = 0.95,
    half_budget: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The declared family of contrasts, each ``first`` minus ``second`` paired by seed (keys
    of a contrast: name, dataset, metric, protocol, first/second: {condition, operator}),
    with Holm's adjustment across the family for both the difference and the equivalence
    tests, and the verdict at level ``significance_level(confidence)``. A contrast whose sides
    were not trained gets n = 0 and stays out of the family. With ``half_budget`` (condition
    -> the condition that trains its networks with half the steps), each contrast also gets
    how much it moved when the budget doubled and what it showed at half the budget
    (``budget_change``): a check, not a claim, so the change's own test is not in the family
    and not Holm-adjusted; whether the contrast shows the same at both budgets
    (``budget_stability``) reads each budget's equivalence tests Holm-adjusted across the
    family, as the verdict reads them."""
    rows = []
    for item in contrasts:
        first, second = item["first"], item["second"]
        selected = observations[
            (observations["dataset"] == item["dataset"])
            & (observations["metric"] == item["metric"])
            & (observations["protocol"] == item.get("protocol", ""))
        ]
        paired = contrast_by_seed(selected, first, second)
        result = paired_contrast(paired.to_numpy(), margin, confidence)
        budget = budget_change(
            selected, first, second, paired, half_budget or {}, margin, confidence
        )
        rows.append(
            {
                "name": item["name"],
                "dataset": item["dataset"],
                "metric": item["metric"],
                "protocol": item.get("protocol", ""),
                "first_condition": first["condition"],
                "first_operator": first["operator"],
                "second_condition": second["condition"],
                "second_operator": second["operator"],
                "margin": margin,
                **result,
                **budget,
            }
        )
    after_family = ("within_margin", "stable_under_budget")
    columns = [c for c in CONTRAST_COLUMNS if "holm" not in c and c not in after_family]
    table = pd.DataFrame(rows, columns=[*columns, "half_budget_p_equivalence"])
    table["p_difference_holm"] = holm(table["p_difference"])
    table["p_equivalence_holm"] = holm(table["p_equivalence"])
    alpha = significance_level(confidence)
    half_equivalent = holm(table["half_budget_p_equivalence"]) < alpha
    table["stable_under_budget"] = pd.Series(
        [
            budget_stability(row, bool(equivalent), alpha)
            for row, equivalent in zip(table.to_dict("records"), half_equivalent, strict=True)
        ],
        dtype=object,
    )
    table["verdict"] = [
        verdict(p, q, alpha) if n >= MIN_SEEDS else "not trained" if n == 0 else "inconclusive"
        for p, q, n in zip(
            table["p_difference_holm"], table["p_equivalence_holm"], table["n"], strict=True
        )
    ]
    # a difference may also be shown smaller than the margin (both one-sided tests reject)
    table["within_margin"] = (table["n"] >= MIN_SEEDS) & (table["p_equivalence_holm"] < alpha)
    return table[CONTRAST_COLUMNS]
