"""Per-model evaluation files and run metadata -> the tidy tables in ``results/tables/`` and
the headline metrics file that ``dvc metrics show`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from poolstudy import stats
from poolstudy.atomic import write_csv, write_json

MODEL_COLUMNS = [
    "experiment",
    "dataset",
    "condition",
    "operator",
    "seed",
    "parameters",
    "flops",
    "receptive_field",
    "final_feature_map",
    "n_train",
    "device",
    "wall_seconds",
]


def read_observations(paths) -> pd.DataFrame:
    frames = [pd.read_csv(path, keep_default_na=False, na_values=[""]) for path in paths]
    frame = pd.concat(frames, ignore_index=True)
    frame["protocol"] = frame["protocol"].astype(object).fillna("")
    return frame


def read_models(paths, experiment: str) -> pd.DataFrame:
    rows = []
    for path in paths:
        meta = json.loads(Path(path).read_text())
        rows.append(
            {
                "experiment": experiment,
                "dataset": meta["dataset"],
                "condition": meta["condition"],
                "operator": meta["operator"],
                "seed": meta["seed"],
                "parameters": meta["parameters"],
                "flops": meta["flops"],
                "receptive_field": meta["receptive_field"],
                "final_feature_map": meta["feature_map_sizes"][-1],
                "n_train": meta["n_train"],
                "device": meta["device"],
                "wall_seconds": meta["wall_seconds"],
            }
        )
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def headline_metrics(summary: pd.DataFrame) -> dict:
    """{dataset: {condition: {operator: {metric: mean}}}} for clean accuracies and
    consistency."""
    table = summary[summary["metric"].isin(["accuracy_train", "accuracy_test", "consistency"])]
    metrics: dict = {}
    for row in table.itertuples():
        name = row.metric if not row.protocol else f"{row.metric}_{row.protocol}"
        cell = metrics.setdefault(row.dataset, {}).setdefault(row.condition, {})
        cell.setdefault(row.operator, {})[name] = round(float(row.mean), 4)
    return metrics


SWEEP_COLUMNS = ["n_train", "augment_shift"]


def with_sweep_columns(table: pd.DataFrame, points: dict) -> pd.DataFrame:
    """``table`` with the training-set size and augmentation of each row's condition."""
    table = table.copy()
    for column in reversed(SWEEP_COLUMNS):
        table.insert(3, column, [points[c][column] for c in table["condition"]])
    return table


def sweep_observations(observations: pd.DataFrame) -> pd.DataFrame:
    """Per model of the sweep: train and test accuracy and their gap (train - test)."""
    clean = observations[observations["metric"].isin(["accuracy_train", "accuracy_test"])]
    wide = clean.pivot_table(
        index=stats.MODEL_KEYS, columns="metric", values="value", sort=False
    ).reset_index()
    gap = wide[stats.MODEL_KEYS].assign(
        metric="gap",
        protocol="",
        dx=float("nan"),
        dy=float("nan"),
        value=wide["accuracy_train"] - wide["accuracy_test"],
    )
    return pd.concat([clean, gap], ignore_index=True)[list(clean.columns)]


def empty_sweep_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    observed = [*stats.MODEL_KEYS[:3], *SWEEP_COLUMNS, *stats.MODEL_KEYS[3:]]
    cells = [*stats.CELL_KEYS[:3], *SWEEP_COLUMNS, *stats.CELL_KEYS[3:]]
    return (
        pd.DataFrame(columns=[*observed, "metric", "protocol", "dx", "dy", "value", "n"]),
        pd.DataFrame(columns=[*cells, "n", "mean", "std", "ci_low", "ci_high"]),
    )


def analyze(
    eval_paths,
    meta_paths,
    experiment: str,
    out_dir,
    metrics_path,
    confidence: float = 0.95,
    sweep_points: dict | None = None,
) -> dict[str, pd.DataFrame]:
    """Write the tables. Runs of the sweep's conditions (``sweep_points``: condition ->
    {n_train, augment_shift}) go to ``sweep.csv`` only; the rest is the main study."""
    sweep_points = sweep_points or {}
    everything = read_observations(eval_paths)
    in_sweep = everything["condition"].isin(list(sweep_points))
    observations = everything[~in_sweep].reset_index(drop=True)
    summary = stats.summarize(observations, confidence)
    models = read_models(meta_paths, experiment)
    tables = {
        "observations": observations,
        "summary": summary,
        "paired": stats.paired_differences(observations, confidence=confidence),
        "shift_curves": stats.shift_curves(observations, confidence),
        "models": models[~models["condition"].isin(list(sweep_points))],
    }
    if in_sweep.any():
        observed = sweep_observations(everything[in_sweep])
        cells = with_sweep_columns(stats.summarize(observed, confidence), sweep_points)
        observed = with_sweep_columns(observed, sweep_points)
    else:
        observed, cells = empty_sweep_tables()
    tables["sweep_observations"] = observed
    tables["sweep"] = cells
    out = Path(out_dir)
    for name, table in tables.items():
        write_csv(out / f"{name}.csv", table)
    write_json(metrics_path, headline_metrics(summary))
    return tables
