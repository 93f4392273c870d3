"""Figures are drawn from the tidy tables alone."""

from __future__ import annotations

import math

import pandas as pd

from poolstudy.analyze import empty_sweep_tables, placement_curves
from poolstudy.figures import FIGURES, make_figures, operator_colors
from poolstudy.pooling import OPERATORS
from poolstudy.stats import shift_curves, summarize

NAN = math.nan


def observations() -> pd.DataFrame:
    rows = []
    for condition in ("gap", "flatten"):
        for operator in ("none", "max"):
            for seed in (0, 1):
                base = 90.0 if operator == "max" else 70.0
                for metric in ("accuracy_train", "accuracy_test"):
                    rows.append((condition, operator, seed, metric, "", NAN, NAN, base + seed))
                for protocol, steps in (("circular", (0, 1, 2)), ("subpixel", (0, 0.5, 1))):
                    for dx in steps:
                        for dy in steps:
                            value = base - 3 * (dx + dy) + seed
                            rows.append(
                                (
                                    condition,
                                    operator,
                                    seed,
                                    "accuracy_shifted",
                                    protocol,
                                    dx,
                                    dy,
                                    value,
                                )
                            )
    for operator in ("none", "max"):
        for seed in (0, 1):
            for dx in (-4, -2, 0, 2, 4):
                for dy in (-4, 0, 4):
                    value = 95.0 if dx <= 0 else (60.0 if operator == "none" else 85.0)
                    rows.append(
                        ("placed", operator, seed, "accuracy_shifted", "placement", dx, dy, value)
                    )
    frame = pd.DataFrame(
        rows,
        columns=["condition", "operator", "seed", "metric", "protocol", "dx", "dy", "value"],
    )
    frame.insert(0, "dataset", "digits")
    frame.insert(0, "experiment", "e")
    return frame


def models() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "digits",
            "condition": ["gap", "flatten", "placed"],
            "placement_region": ["", "", "left"],
        }
    )


def write_tables(obs: pd.DataFrame, tables) -> None:
    tables.mkdir()
    summarize(obs).to_csv(tables / "summary.csv", index=False)
    shift_curves(obs).to_csv(tables / "shift_curves.csv", index=False)
    empty_sweep_tables()[1].to_csv(tables / "sweep.csv", index=False)
    placement_curves(obs, models()).to_csv(tables / "placement.csv", index=False)
    curves = pd.DataFrame(
        {
            "experiment": "x",
            "dataset": "digits",
            "condition": "gap",
            "operator": ["max"] * 3 + ["none"] * 3,
            "seed": 0,
            "step": [10, 20, 30] * 2,
            "train_loss": 1.0,
            "train_accuracy": [50, 80, 90, 40, 60, 70],
            "val_accuracy": [48, 78, 88, 39, 58, 69],
        }
    )
    curves.to_csv(tables / "learning_curves.csv", index=False)
    regime = pd.DataFrame(
        {"dataset": ["digits"] * 2, "condition": "gap", "operator": ["max", "none"]}
    )
    regime.to_csv(tables / "regime.csv", index=False)


def test_placement_curves_average_over_vertical_positions_per_model():
    curves = placement_curves(observations(), models())
    assert set(curves["condition"]) == {"placed"}
    assert set(curves["region"]) == {"left"}
    right = curves[(curves["operator"] == "none") & (curves["position"] == 4)].iloc[0]
    assert right["mean"] == 60.0 and right["n"] == 2
    assert sorted(set(curves["position"])) == [-4, -2, 0, 2, 4]


def test_every_figure_is_written_from_the_tables(tmp_path):
    obs = observations()
    tables = tmp_path / "tables"
    write_tables(obs, tables)
    written = make_figures(tables, tmp_path / "figures")
    assert [p.rsplit("/", 1)[-1] for p in written] == [f"{name}.pdf" for name in FIGURES]
    for path in written:
        data = open(path, "rb").read()
        assert data[:5] == b"%PDF-" and len(data) > 2000


def test_figures_are_byte_identical_for_the_same_tables(tmp_path):
    obs = observations()
    tables = tmp_path / "tables"
    write_tables(obs, tables)
    first = [open(p, "rb").read() for p in make_figures(tables, tmp_path / "a")]
    second = [open(p, "rb").read() for p in make_figures(tables, tmp_path / "b")]
    assert first == second


def test_every_registered_operator_gets_its_own_colour():
    colours = operator_colors(list(OPERATORS))
    assert len(set(colours.values())) == len(OPERATORS)
