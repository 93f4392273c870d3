"""Evaluation files and run metadata become the tidy tables; the sweep is kept apart."""

from __future__ import annotations

import json

import pandas as pd

from poolstudy.analyze import analyze


def write_run(tmp_path, condition: str, operator: str, seed: int, test: float, train: float):
    rows = [
        ("e", "digits", condition, operator, seed, "accuracy_train", "", "", "", train, 10),
        ("e", "digits", condition, operator, seed, "accuracy_test", "", "", "", test, 10),
    ]
    columns = [
        "experiment",
        "dataset",
        "condition",
        "operator",
        "seed",
        "metric",
        "protocol",
        "dx",
        "dy",
        "value",
        "n",
    ]
    path = tmp_path / f"{condition}-{operator}-{seed}.csv"
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    meta = tmp_path / f"{condition}-{operator}-{seed}.json"
    meta.write_text(
        json.dumps(
            {
                "dataset": "digits",
                "condition": condition,
                "operator": operator,
                "seed": seed,
                "parameters": 10,
                "flops": 20,
                "receptive_field": 7,
                "feature_map_sizes": [4],
                "n_train": 100,
                "device": "cpu",
                "wall_seconds": 1.0,
            }
        )
    )
    return path, meta


def test_sweep_runs_go_to_their_own_tables(tmp_path):
    runs = [("gap", "max", s, 90.0 + s, 99.0) for s in (0, 1)]
    runs += [("sweep-n50-aug0", "max", s, 80.0 + s, 95.0 + s) for s in (0, 1)]
    paths = [write_run(tmp_path, *run) for run in runs]
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    tables = analyze(
        [p for p, _ in paths],
        [m for _, m in paths],
        "e",
        tmp_path / "tables",
        tmp_path / "metrics.json",
        sweep_points=points,
    )
    assert set(tables["observations"]["condition"]) == {"gap"}
    assert set(tables["models"]["condition"]) == {"gap"}
    sweep = tables["sweep"].set_index("metric")
    assert sweep.loc["gap", "mean"] == 15.0 and sweep.loc["gap", "n"] == 2
    assert (sweep["n_train"] == 50).all() and (sweep["augment_shift"] == 0).all()
    observed = tables["sweep_observations"]
    assert len(observed) == 6 and set(observed["metric"]) == {
        "accuracy_train",
        "accuracy_test",
        "gap",
    }
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "digits": {"gap": {"max": {"accuracy_test": 90.5, "accuracy_train": 99.0}}}
    }
    for name in ("sweep", "sweep_observations", "summary"):
        assert (tmp_path / "tables" / f"{name}.csv").exists()


def test_without_a_sweep_the_sweep_tables_are_empty_with_their_columns(tmp_path):
    paths = [write_run(tmp_path, "gap", "max", s, 90.0, 99.0) for s in (0, 1)]
    tables = analyze(
        [p for p, _ in paths],
        [m for _, m in paths],
        "e",
        tmp_path / "tables",
        tmp_path / "metrics.json",
    )
    assert tables["sweep"].empty and "n_train" in tables["sweep"].columns
    reread = pd.read_csv(tmp_path / "tables" / "sweep.csv")
    assert reread.empty and "augment_shift" in reread.columns
