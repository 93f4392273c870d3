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
    frame["protocol"] = frame["protocol"].fillna("")
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


def analyze(
    eval_paths, meta_paths, experiment: str, out_dir, metrics_path, confidence: float = 0.95
) -> dict[str, pd.DataFrame]:
    observations = read_observations(eval_paths)
    summary = stats.summarize(observations, confidence)
    tables = {
        "observations": observations,
        "summary": summary,
        "paired": stats.paired_differences(observations, confidence=confidence),
        "shift_curves": stats.shift_curves(observations, confidence),
        "models": read_models(meta_paths, experiment),
    }
    out = Path(out_dir)
    for name, table in tables.items():
        write_csv(out / f"{name}.csv", table)
    write_json(metrics_path, headline_metrics(summary))
    return tables
