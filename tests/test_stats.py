"""Summaries over seeds and paired differences against the no-pooling baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from poolstudy.stats import (
    CELL_KEYS,
    MODEL_KEYS,
    paired_differences,
    shift_curves,
    summarize,
    t_interval,
)

COLUMNS = ["experiment", "dataset", "operator", "seed", "metric", "protocol", "dx", "dy", "value"]
NAN = math.nan


def frame(rows, condition: str = "gap") -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.insert(2, "condition", condition)
    return table


def clean_rows(operator: str, values, metric: str = "accuracy_test", protocol: str = ""):
    return [
        ("e", "digits", operator, seed, metric, protocol, NAN, NAN, value)
        for seed, value in enumerate(values)
    ]


def test_t_interval_three_values():
    mean, low, high = t_interval([1, 2, 3])
    half = scipy_stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert mean == pytest.approx(2.0)
    assert low == pytest.approx(2.0 - half)
    assert high == pytest.approx(2.0 + half)


def test_t_interval_confidence_level():
    mean, low, high = t_interval([1.0, 4.0, 2.0, 7.0], confidence=0.9)
    values = np.array([1.0, 4.0, 2.0, 7.0])
    half = scipy_stats.t.ppf(0.95, 3) * values.std(ddof=1) / 2.0
    assert mean == pytest.approx(3.5)
    assert (high - low) / 2 == pytest.approx(half)


def test_t_interval_single_value():
    mean, low, high = t_interval([4.5])
    assert mean == 4.5
    assert math.isnan(low) and math.isnan(high)


def test_t_interval_empty_and_nan():
    assert all(math.isnan(v) for v in t_interval([]))
    mean, low, high = t_interval([1.0, NAN, 3.0])
    assert mean == pytest.approx(2.0)
    assert not math.isnan(low)


def test_t_interval_constant_values_has_zero_width():
    mean, low, high = t_interval([5.0, 5.0, 5.0])
    assert mean == low == high == 5.0


def tidy() -> pd.DataFrame:
    rows = []
    rows += clean_rows("none", [90.0, 92.0, 94.0])
    rows += clean_rows("max", [80.0, 81.0, 82.0])
    rows += clean_rows("none", [70.0, 72.0, 74.0], metric="consistency", protocol="circular")
    rows += clean_rows("none", [60.0, 61.0, 62.0], metric="consistency", protocol="zero")
    for seed, value in enumerate([50.0, 52.0, 54.0]):
        rows.append(("e", "digits", "none", seed, "accuracy_shifted", "zero", 1, 0, value))
        rows.append(("e", "digits", "none", seed, "accuracy_shifted", "zero", 0, 1, value + 10))
    return frame(rows)


def test_summarize_cells():
    summary = summarize(tidy())
    assert list(summary.columns) == [*CELL_KEYS, "n", "mean", "std", "ci_low", "ci_high"]
    assert len(summary) == 6
    assert (summary["n"] == 3).all()

    def one(**conditions):
        mask = np.ones(len(summary), dtype=bool)
        for key, value in conditions.items():
            mask &= summary[key] == value
        rows = summary[mask]
        assert len(rows) == 1
        return rows.iloc[0]

    assert one(operator="none", metric="accuracy_test")["mean"] == pytest.approx(92.0)
    assert one(operator="max", metric="accuracy_test")["mean"] == pytest.approx(81.0)
    assert one(metric="consistency", protocol="circular")["mean"] == pytest.approx(72.0)
    assert one(metric="consistency", protocol="zero")["mean"] == pytest.approx(61.0)
    assert one(metric="accuracy_shifted", dx=1, dy=0)["mean"] == pytest.approx(52.0)
    assert one(metric="accuracy_shifted", dx=0, dy=1)["mean"] == pytest.approx(62.0)
    clean = one(operator="none", metric="accuracy_test")
    assert math.isnan(clean["dx"]) and math.isnan(clean["dy"])
    assert clean["protocol"] == ""
    assert clean["std"] == pytest.approx(2.0)
    _, low, high = t_interval([90.0, 92.0, 94.0])
    assert clean["ci_low"] == pytest.approx(low)
    assert clean["ci_high"] == pytest.approx(high)


def test_summarize_single_seed_has_no_interval():
    summary = summarize(frame(clean_rows("max", [80.0])))
    assert len(summary) == 1
    row = summary.iloc[0]
    assert row["n"] == 1 and row["mean"] == 80.0
    assert math.isnan(row["std"]) and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def test_summarize_keeps_datasets_and_experiments_apart():
    rows = []
    for experiment, dataset, offset in (
        ("e", "digits", 0),
        ("e", "mnist", 10),
        ("f", "digits", -10),
    ):
        rows += [
            (experiment, dataset, "max", seed, "accuracy_test", "", NAN, NAN, value + offset)
            for seed, value in enumerate([80.0, 82.0])
        ]
    summary = summarize(frame(rows)).set_index(["experiment", "dataset"])
    assert len(summary) == 3
    assert summary.loc[("e", "digits"), "mean"] == pytest.approx(81.0)
    assert summary.loc[("e", "mnist"), "mean"] == pytest.approx(91.0)
    assert summary.loc[("f", "digits"), "mean"] == pytest.approx(71.0)


def test_paired_differences_constant_difference():
    rows = clean_rows("none", [90.0, 80.0, 85.0]) + clean_rows("max", [95.0, 85.0, 90.0])
    paired = paired_differences(frame(rows))
    assert len(paired) == 1
    row = paired.iloc[0]
    assert row["operator"] == "max"
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(5.0)
    assert bool(row["significant"]) is True


def test_paired_differences_negative_significant():
    rows = clean_rows("none", [90.0, 80.0, 85.0]) + clean_rows("avg", [88.0, 78.1, 82.9])
    row = paired_differences(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(-2.0)
    assert row["ci_high"] < 0
    assert bool(row["significant"]) is True


def test_paired_differences_not_significant():
    rows = clean_rows("none", [90.0, 80.0, 85.0]) + clean_rows("max", [91.0, 79.0, 85.5])
    row = paired_differences(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(0.5 / 3)
    assert row["ci_low"] < 0 < row["ci_high"]
    assert bool(row["significant"]) is False


def test_paired_differences_pairs_by_seed():
    rows = clean_rows("none", [10.0, 20.0, 30.0])
    rows += [
        ("e", "digits", "max", seed, "accuracy_test", "", NAN, NAN, value)
        for seed, value in [(2, 31.0), (0, 11.0), (1, 21.0)]
    ]
    row = paired_differences(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(1.0)
    assert row["std"] == pytest.approx(0.0)


def test_paired_differences_single_seed_not_significant():
    rows = clean_rows("none", [90.0]) + clean_rows("max", [99.0])
    row = paired_differences(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(9.0)
    assert math.isnan(row["ci_low"])
    assert bool(row["significant"]) is False


def test_paired_differences_per_cell():
    rows = clean_rows("none", [90.0, 80.0, 85.0]) + clean_rows("max", [95.0, 85.0, 90.0])
    rows += clean_rows("none", [50.0, 60.0, 70.0], "consistency", "zero")
    rows += clean_rows("max", [40.0, 50.0, 60.0], "consistency", "zero")
    rows += clean_rows("none", [55.0, 65.0, 75.0], "consistency", "circular")
    rows += clean_rows("max", [56.0, 66.0, 76.0], "consistency", "circular")
    paired = paired_differences(frame(rows)).set_index(["metric", "protocol"])
    assert len(paired) == 3
    assert paired.loc[("accuracy_test", ""), "mean"] == pytest.approx(5.0)
    assert paired.loc[("consistency", "zero"), "mean"] == pytest.approx(-10.0)
    assert paired.loc[("consistency", "circular"), "mean"] == pytest.approx(1.0)
    assert "none" not in set(paired["operator"])


def test_paired_differences_without_baseline_is_empty():
    paired = paired_differences(frame(clean_rows("max", [1.0, 2.0])))
    assert paired.empty
    for key in CELL_KEYS:
        assert key in paired.columns


def test_shift_curves_average_within_model_first():
    rows = []
    per_seed = {
        0: {(0, 0): 100.0, (1, 0): 90.0, (0, 1): 80.0, (1, 1): 70.0, (2, 1): 10.0},
        1: {(0, 0): 96.0, (1, 0): 88.0, (0, 1): 86.0, (1, 1): 72.0, (2, 1): 20.0},
    }
    for seed, values in per_seed.items():
        for (dx, dy), value in values.items():
            rows.append(("e", "digits", "max", seed, "accuracy_shifted", "zero", dx, dy, value))
    rows += clean_rows("max", [99.0, 98.0])
    curves = shift_curves(frame(rows)).set_index("shift")
    assert list(curves.index) == [0, 1, 2]
    assert (curves["n"] == 2).all()
    assert curves.loc[0, "mean"] == pytest.approx(98.0)
    seed0 = (90.0 + 80.0 + 70.0) / 3
    seed1 = (88.0 + 86.0 + 72.0) / 3
    assert curves.loc[1, "mean"] == pytest.approx((seed0 + seed1) / 2)
    assert curves.loc[1, "std"] == pytest.approx(np.std([seed0, seed1], ddof=1))
    assert curves.loc[2, "mean"] == pytest.approx(15.0)


def test_shift_curves_negative_shifts_and_protocols():
    rows = [
        ("e", "digits", "avg", 0, "accuracy_shifted", "circular", -2, 1, 40.0),
        ("e", "digits", "avg", 0, "accuracy_shifted", "circular", 1, -2, 60.0),
        ("e", "digits", "avg", 0, "accuracy_shifted", "zero", -2, 0, 10.0),
    ]
    curves = shift_curves(frame(rows))
    assert len(curves) == 2
    circular = curves[curves["protocol"] == "circular"].iloc[0]
    assert circular["shift"] == 2
    assert circular["mean"] == pytest.approx(50.0)
    assert circular["n"] == 1


def test_paired_differences_pair_within_each_condition():
    rows = []
    for seed in (0, 1, 2):
        rows.append(("e", "digits", "none", seed, "accuracy_test", "", NAN, NAN, 80.0 + seed))
        rows.append(("e", "digits", "max", seed, "accuracy_test", "", NAN, NAN, 85.0 + seed))
    gap = frame(rows, condition="gap")
    flatten = frame(rows, condition="flatten")
    flatten.loc[flatten["operator"] == "none", "value"] -= 10.0
    paired = paired_differences(pd.concat([gap, flatten], ignore_index=True))
    by_condition = paired.set_index("condition")["mean"]
    assert by_condition["gap"] == pytest.approx(5.0)
    assert by_condition["flatten"] == pytest.approx(15.0)


def test_contrast_pairs_by_seed_across_conditions_and_operators():
    from poolstudy.stats import contrast

    rows = []
    for seed in (0, 1, 2):
        rows.append(("e", "digits", "max", seed, "accuracy_test", "", NAN, NAN, 90.0 + seed))
        rows.append(("e", "digits", "none", seed, "accuracy_test", "", NAN, NAN, 80.0 + seed))
    observations = pd.concat(
        [frame(rows, condition="gap"), frame(rows, condition="flatten")], ignore_index=True
    )
    observations.loc[observations["condition"] == "flatten", "value"] += [0.5, 1.0, 1.5] * 2
    result = contrast(
        observations,
        "accuracy_test",
        {"condition": "gap", "operator": "max"},
        {"condition": "gap", "operator": "none"},
    )
    assert result["n"] == 3 and result["mean"] == pytest.approx(10.0)
    assert result["significant"] and result["ci_low"] == pytest.approx(10.0)
    across = contrast(
        observations,
        "accuracy_test",
        {"condition": "flatten", "operator": "max"},
        {"condition": "gap", "operator": "max"},
    )
    assert across["mean"] == pytest.approx(1.0)
    assert (
        contrast(observations, "accuracy_test", {"operator": "blur"}, {"operator": "none"}) is None
    )


def test_bootstrap_of_a_perfect_record_is_a_point():
    from poolstudy.stats import bootstrap_over_images

    assert bootstrap_over_images(np.ones((3, 50))) == (1.0, 1.0, 1.0)
    assert bootstrap_over_images(np.zeros((2, 50)) - 0.0) == (0.0, 0.0, 0.0)


def test_bootstrap_interval_matches_the_binomial_standard_error():
    from poolstudy.stats import bootstrap_over_images

    # one seed, 400 images, half correct: the mean's standard error is 0.025
    record = np.tile([1.0, 0.0], 200)[None, :]
    mean, low, high = bootstrap_over_images(record, samples=4000, seed=1)
    assert mean == 0.5
    assert (high - low) / 2 == pytest.approx(1.96 * 0.025, rel=0.12)


def test_bootstrap_resamples_the_same_images_for_every_seed():
    from poolstudy.stats import bootstrap_over_images

    record = np.tile([1.0, 0.0, 1.0, 1.0], 50)[None, :]
    one = bootstrap_over_images(record, seed=3)
    # identical seeds move together, so the interval is that of one seed
    assert bootstrap_over_images(np.repeat(record, 3, axis=0), seed=3) == pytest.approx(one)
    # complementary seeds always average to one half: no spread at all
    assert bootstrap_over_images(np.vstack([record, 1 - record]), seed=3) == (0.5, 0.5, 0.5)


def test_bootstrap_rejects_a_flat_record():
    from poolstudy.stats import bootstrap_over_images

    with pytest.raises(ValueError, match="seeds, images"):
        bootstrap_over_images(np.ones(10))


def test_bootstrap_table_gives_accuracy_and_paired_difference_in_percent():
    from poolstudy.stats import bootstrap_table

    rows = []
    for operator, record in (("none", [1, 0] * 50), ("max", [1, 1] * 50)):
        for seed in (0, 1):
            rows.append(("e", "d", "gap", operator, seed, np.array(record, dtype=np.uint8)))
    records = pd.DataFrame(rows, columns=[*MODEL_KEYS, "correct"])
    table = bootstrap_table(records, samples=500).set_index("operator")
    assert table.loc["none", "mean"] == 50.0 and table.loc["max", "mean"] == 100.0
    assert table.loc["max", "ci_low"] == table.loc["max", "ci_high"] == 100.0
    assert table.loc["none", "ci_low"] < 50.0 < table.loc["none", "ci_high"]
    assert table.loc["max", "diff_mean"] == 50.0
    assert 35.0 < table.loc["max", "diff_ci_low"] < 50.0 < table.loc["max", "diff_ci_high"] < 65
    assert np.isnan(table.loc["none", "diff_mean"])
    assert (table["n_seeds"] == 2).all() and (table["n_images"] == 100).all()
