"""Summaries over seeds and paired differences against the no-pooling baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from poolstudy.stats import (
    CELL_KEYS,
    DIFFERENCE_METRICS,
    MODEL_KEYS,
    SUMMARY_COLUMNS,
    paired_differences,
    shift_curves,
    summarize,
    summarize_groups,
    t_interval,
)

COLUMNS = ["experiment", "dataset", "operator", "seed", "metric", "protocol", "dx", "dy", "value"]
NAN = math.nan
TABLE_COLUMNS = ["experiment", "dataset", "condition", "operator", "n_seeds", "n_images"]
TABLE_COLUMNS += ["mean", "ci_low", "ci_high", "diff_mean", "diff_ci_low", "diff_ci_high"]


def frame(rows, condition: str = "gap") -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.insert(2, "condition", condition)
    return table


def clean_rows(operator: str, values, metric: str = "accuracy_test", protocol: str = ""):
    return [
        ("e", "digits", operator, seed, metric, protocol, NAN, NAN, value)
        for seed, value in enumerate(values)
    ]


@pytest.mark.parametrize(
    "values, confidence",
    [
        ([1.0, 2.0, 3.0], 0.95),
        ([1.0, 4.0, 2.0, 7.0], 0.9),
        ([90.5, 91.25, 88.0, 93.0, 89.5], 0.99),
    ],
)
def test_t_interval_equals_scipy(values, confidence):
    sample = np.array(values)
    expected = scipy_stats.t.interval(
        confidence, len(sample) - 1, loc=sample.mean(), scale=scipy_stats.sem(sample)
    )
    mean, low, high = t_interval(values, confidence)
    assert mean == pytest.approx(sample.mean())
    assert (low, high) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[4.5], [80.0, 84.0]])
def test_no_interval_from_fewer_than_three_seeds(values):
    mean, low, high = t_interval(values)
    assert mean == pytest.approx(np.mean(values))
    assert math.isnan(low) and math.isnan(high)


def test_t_interval_empty_and_nan():
    assert all(math.isnan(v) for v in t_interval([]))
    mean, low, high = t_interval([1.0, NAN, 3.0])
    assert mean == pytest.approx(2.0)
    assert math.isnan(low)  # two values left
    mean, low, high = t_interval([1.0, NAN, 3.0, 2.0])
    assert mean == pytest.approx(2.0)
    assert not math.isnan(low)


def test_intervals_are_clipped_to_the_range_of_a_percentage_and_say_so():
    frame = pd.DataFrame({"key": ["high", "high", "high", "mid", "mid", "mid"]})
    frame["value"] = [99.0, 100.0, 92.0, 50.0, 52.0, 54.0]
    table = summarize_groups(frame, ["key"], 0.95).set_index("key")
    mean, low, high = t_interval([99.0, 100.0, 92.0])
    assert high > 100.0  # the raw t-interval leaves the range
    assert table.loc["high", "ci_high"] == 100.0 and table.loc["high", "ci_low"] == low
    assert bool(table.loc["high", "ci_clipped"]) and not bool(table.loc["mid", "ci_clipped"])
    assert table.loc["mid", "ci_high"] == pytest.approx(t_interval([50.0, 52.0, 54.0])[2])


@pytest.mark.parametrize("metric", sorted(DIFFERENCE_METRICS))
def test_a_difference_metrics_interval_may_lie_below_zero(metric):
    """A train - test gap or a placement drop can be negative: its interval is cut at -100,
    not at 0, so it still holds its mean; an accuracy's is cut at 0."""
    values = [-1.0, -0.5, 0.2]
    mean, low, high = t_interval(values)
    assert low < 0 < high and mean < 0
    rows = clean_rows("max", values, metric=metric) + clean_rows("none", [1.0, 0.2, 0.5])
    summary = summarize(frame(rows)).set_index("operator")
    difference = summary.loc["max"]
    assert (difference["ci_low"], difference["ci_high"]) == pytest.approx((low, high))
    assert not bool(difference["ci_clipped"])
    accuracy = summary.loc["none"]
    assert accuracy["ci_low"] == 0.0 and bool(accuracy["ci_clipped"])


def test_an_interval_that_only_touches_the_range_or_has_no_ends_is_not_clipped():
    frame = pd.DataFrame({"key": ["top"] * 3 + ["floor"] * 3 + ["one", "two", "two"]})
    frame["value"] = [100.0] * 3 + [0.0] * 3 + [50.0, 40.0, 44.0]
    table = summarize_groups(frame, ["key"], 0.95).set_index("key")
    assert table["ci_clipped"].map(bool).to_dict() == {
        "top": False,
        "floor": False,
        "one": False,
        "two": False,
    }
    assert (table.loc["top", "ci_low"], table.loc["top", "ci_high"]) == (100.0, 100.0)
    # two seeds: no interval, but a standard deviation
    assert math.isnan(table.loc["two", "ci_low"]) and table.loc["two", "std"] == pytest.approx(
        np.std([40.0, 44.0], ddof=1)
    )


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
    assert list(summary.columns) == [*CELL_KEYS, *SUMMARY_COLUMNS]
    assert SUMMARY_COLUMNS == ["n", "mean", "std", "ci_low", "ci_high", "ci_clipped"]
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
    low, high = scipy_stats.t.interval(0.95, 2, loc=92.0, scale=2.0 / math.sqrt(3))
    assert clean["ci_low"] == pytest.approx(low)
    assert clean["ci_high"] == pytest.approx(high)


def test_summarize_keeps_cells_in_order_of_first_appearance():
    # the paper's primary dataset and condition are the first in the summary
    rows = frame(clean_rows("none", [80.0, 81.0]), condition="gap")
    rows = pd.concat([rows, frame(clean_rows("max", [70.0, 71.0]), condition="flatten")])
    summary = summarize(rows.iloc[::-1].reset_index(drop=True))
    assert list(summary["condition"]) == ["flatten", "gap"]
    assert list(summarize(rows)["condition"]) == ["gap", "flatten"]


@pytest.mark.parametrize(
    "differences, significant",
    [([0.0, 0.0, 0.0], False), ([0.5, 0.5, 0.5], True), ([-0.5, -0.5, -0.5], True)]
    + [([-0.5, -0.5], False)]  # two seeds: no interval, no claim
    + [([-0.2, 0.4, 0.1], False), ([0.2, -0.4, -0.1], False)],
)
def test_a_difference_is_one_only_when_its_interval_excludes_zero(differences, significant):
    baseline = [80.0 + 3 * seed for seed in range(len(differences))]
    other = [b + d for b, d in zip(baseline, differences, strict=True)]
    observations = frame(clean_rows("none", baseline) + clean_rows("max", other))
    row = paired_differences(observations).iloc[0]
    assert bool(row["significant"]) is significant


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


@pytest.mark.parametrize(
    "baseline, other, confidence",
    [
        ([90.0, 80.0, 85.0, 88.0], [92.5, 81.0, 88.0, 88.5], 0.95),
        ([90.0, 80.0, 85.0], [88.0, 78.1, 82.9], 0.95),
        ([90.0, 80.0, 85.0], [91.0, 79.0, 85.5], 0.9),
    ],
)
def test_paired_differences_equal_scipy_ttest_rel(baseline, other, confidence):
    rows = clean_rows("none", baseline) + clean_rows("max", other)
    row = paired_differences(frame(rows), confidence=confidence).iloc[0]
    reference = scipy_stats.ttest_rel(other, baseline)
    low, high = reference.confidence_interval(confidence)
    assert row["n"] == len(baseline)
    assert row["mean"] == pytest.approx(np.mean(np.subtract(other, baseline)))
    assert row["std"] == pytest.approx(np.std(np.subtract(other, baseline), ddof=1))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert bool(row["significant"]) is bool(reference.pvalue < 1 - confidence)


def test_paired_differences_constant_difference():
    rows = clean_rows("none", [90.0, 80.0, 85.0]) + clean_rows("max", [95.0, 85.0, 90.0])
    paired = paired_differences(frame(rows))
    assert len(paired) == 1
    row = paired.iloc[0]
    assert row["operator"] == "max"
    assert row["n"] == 3
    assert row["mean"] == pytest.approx(5.0)
    assert bool(row["significant"]) is True


def test_paired_differences_pairs_by_seed():
    rows = clean_rows("none", [10.0, 20.0, 30.0])
    rows += [
        ("e", "digits", "max", seed, "accuracy_test", "", NAN, NAN, value)
        for seed, value in [(2, 31.0), (0, 11.0), (1, 21.0)]
    ]
    row = paired_differences(frame(rows)).iloc[0]
    assert row["mean"] == pytest.approx(1.0)
    assert row["std"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    "metric, baseline, other, bounds",
    [
        # drops of 92-99 points against gains of 6-10: differences past 100
        ("accuracy_placed_drop", [-8.0, -10.0, -6.0], [92.0, 96.0, 99.0], (-200.0, 200.0)),
        ("accuracy_test", [2.0, 1.0, 0.0], [99.0, 99.5, 100.0], (-100.0, 100.0)),
    ],
)
def test_a_paired_interval_is_clipped_to_what_a_difference_of_its_metric_can_be(
    metric, baseline, other, bounds
):
    rows = clean_rows("none", baseline, metric=metric) + clean_rows("max", other, metric=metric)
    row = paired_differences(frame(rows)).iloc[0]
    differences = np.subtract(other, baseline)
    mean, low, high = t_interval(differences)
    assert row["mean"] == pytest.approx(mean)
    assert row["ci_low"] == pytest.approx(max(low, bounds[0]))
    assert row["ci_high"] == pytest.approx(min(high, bounds[1]))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert bool(row["ci_clipped"]) is bool(low < bounds[0] or high > bounds[1])


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
    assert list(paired.columns) == [*CELL_KEYS, *SUMMARY_COLUMNS, "significant"]


def test_shift_curves_average_within_model_first():
    rows = []
    per_seed = {
        0: {(0, 0): 100.0, (1, 0): 90.0, (0, 1): 80.0, (1, 1): 70.0, (2, 1): 10.0},
        1: {(0, 0): 96.0, (1, 0): 88.0, (0, 1): 86.0, (1, 1): 72.0, (2, 1): 20.0},
        2: {(0, 0): 98.0, (1, 0): 85.0, (0, 1): 84.0, (1, 1): 74.0, (2, 1): 15.0},
    }
    for seed, values in per_seed.items():
        for (dx, dy), value in values.items():
            rows.append(("e", "digits", "max", seed, "accuracy_shifted", "zero", dx, dy, value))
    rows += clean_rows("max", [99.0, 98.0, 97.0])
    curves = shift_curves(frame(rows)).set_index("shift")
    assert list(curves.index) == [0, 1, 2]
    assert (curves["n"] == 3).all()
    assert curves.loc[0, "mean"] == pytest.approx(98.0)
    seeds = [(90.0 + 80.0 + 70.0) / 3, (88.0 + 86.0 + 72.0) / 3, (85.0 + 84.0 + 74.0) / 3]
    assert curves.loc[1, "mean"] == pytest.approx(np.mean(seeds))
    assert curves.loc[1, "std"] == pytest.approx(np.std(seeds, ddof=1))
    interval = scipy_stats.t.interval(0.95, 2, loc=np.mean(seeds), scale=scipy_stats.sem(seeds))
    assert (curves.loc[1, "ci_low"], curves.loc[1, "ci_high"]) == pytest.approx(interval)
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


def test_bootstrap_of_a_perfect_record_is_a_point():
    from poolstudy.stats import bootstrap_over_images

    assert bootstrap_over_images(np.ones((3, 50))) == (1.0, 1.0, 1.0)
    assert bootstrap_over_images(np.zeros((2, 50)) - 0.0) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("seeds, confidence", [(1, 0.95), (3, 0.9), (2, 0.5)])
def test_bootstrap_interval_equals_scipy_percentile_bootstrap(seeds, confidence):
    from poolstudy.stats import bootstrap_over_images

    # every seed sees the same resample of the images, so the statistic is the mean over the
    # resampled images of each image's mean over seeds: scipy's bootstrap of those means
    rng = np.random.default_rng(5)
    record = (rng.random((seeds, 400)) < np.linspace(0.3, 0.9, 400)).astype(float)
    mean, low, high = bootstrap_over_images(record, confidence, samples=20000, seed=1)
    per_image = record.mean(axis=0)
    reference = scipy_stats.bootstrap(
        (per_image,),
        np.mean,
        confidence_level=confidence,
        n_resamples=20000,
        method="percentile",
        rng=np.random.default_rng(2),
    ).confidence_interval
    assert mean == pytest.approx(record.mean())
    # two Monte Carlo estimates of the same quantiles: they differ by a few hundredths of the
    # statistic's standard error
    error = per_image.std() / np.sqrt(per_image.size)
    assert low == pytest.approx(reference.low, abs=0.1 * error)
    assert high == pytest.approx(reference.high, abs=0.1 * error)


def test_bootstrap_is_seeded_and_its_chunks_do_not_matter():
    from poolstudy.stats import bootstrap_over_images

    # values with no ties, so that every resample statistic is distinct
    record = np.random.default_rng(0).random((1, 120))
    first = bootstrap_over_images(record)
    # the defaults: 2000 resamples drawn from seed 0, the same whatever the chunk size
    assert bootstrap_over_images(record, 0.95, 2000, 0) == first
    assert bootstrap_over_images(record, samples=2000, chunk=2000) == first
    assert bootstrap_over_images(record, samples=2000, chunk=300) == first
    assert bootstrap_over_images(record, seed=1) != first
    # a single image: every resample is that image
    assert bootstrap_over_images(np.ones((2, 1))) == (1.0, 1.0, 1.0)


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
    raw = bootstrap_table(records, samples=500)
    assert list(raw.columns) == TABLE_COLUMNS
    table = raw.set_index("operator")
    assert table.loc["none", "mean"] == 50.0 and table.loc["max", "mean"] == 100.0
    assert table.loc["max", "ci_low"] == table.loc["max", "ci_high"] == 100.0
    assert table.loc["none", "ci_low"] < 50.0 < table.loc["none", "ci_high"]
    assert table.loc["max", "diff_mean"] == 50.0
    assert 35.0 < table.loc["max", "diff_ci_low"] < 50.0 < table.loc["max", "diff_ci_high"] < 65
    # max is right on every image, so each resample's difference is 100 minus none's accuracy
    # on it (the same resamples): the intervals mirror each other
    assert table.loc["max", "diff_ci_low"] == pytest.approx(100 - table.loc["none", "ci_high"])
    assert table.loc["max", "diff_ci_high"] == pytest.approx(100 - table.loc["none", "ci_low"])
    assert np.isnan(table.loc["none", "diff_mean"])
    assert (table["n_seeds"] == 2).all() and (table["n_images"] == 100).all()
    assert list(table.index) == ["none", "max"]  # in order of first appearance
    assert bootstrap_table(records, samples=500).equals(raw)  # seeded: the same again
    other = bootstrap_table(records, samples=500, seed=1).set_index("operator")
    assert other.loc["none", "ci_low"] != table.loc["none", "ci_low"]
    assert other.loc["max", "diff_ci_high"] == pytest.approx(100 - other.loc["none", "ci_low"])
    # a seed trained for one operator only is left out of the paired difference
    extra = pd.DataFrame(
        [("e", "d", "gap", "max", 2, np.zeros(100, dtype=np.uint8))], columns=records.columns
    )
    grown = bootstrap_table(pd.concat([records, extra]), samples=500).set_index("operator")
    assert grown.loc["max", "n_seeds"] == 3
    assert grown.loc["max", "diff_mean"] == 50.0


def test_bootstrap_table_without_records_keeps_its_columns():
    from poolstudy.stats import bootstrap_table

    table = bootstrap_table(pd.DataFrame(columns=[*MODEL_KEYS, "correct"]))
    assert table.empty
    assert list(table.columns) == [*TABLE_COLUMNS]


# ---- the primary contrasts (paired_contrast, verdict, contrast_table) ------------------------


def test_paired_contrast_defaults_to_the_95_percent_interval_and_handles_exact_cases():
    from poolstudy.stats import paired_contrast

    d = [0.2, -0.1, 0.3, 0.0, 0.1]
    interval = scipy_stats.t.interval(0.95, 4, loc=np.mean(d), scale=scipy_stats.sem(d))
    result = paired_contrast(d, margin=1.0)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx(interval)
    single = paired_contrast([3.0], margin=1.0)
    assert math.isnan(single["p_difference"]) and math.isnan(single["p_equivalence"])
    # every seed the same difference: a difference unless it is zero, equivalent only strictly
    # inside the margin
    exact = {v: paired_contrast([v] * 3, margin=1.0) for v in (0.0, 1.0, 2.0)}
    assert [exact[v]["p_difference"] for v in (0.0, 1.0, 2.0)] == [1.0, 0.0, 0.0]
    assert [exact[v]["p_equivalence"] for v in (0.0, 1.0, 2.0)] == [0.0, 1.0, 1.0]
    # a standard error of exactly one is no special case: TOST at t = 1 with 2 df
    p_one = scipy_stats.t.sf(1.0, 2)
    spread = [-math.sqrt(3), 0.0, math.sqrt(3)]  # standard deviation sqrt(3), error 1
    assert paired_contrast(spread, margin=1.0)["p_equivalence"] == pytest.approx(p_one)
    # two seeds: no interval and no test
    two = paired_contrast([-1.0, 1.0], margin=1.0)
    assert math.isnan(two["ci_low"]) and math.isnan(two["p_equivalence"])


def test_a_p_value_equal_to_alpha_is_no_finding():
    from poolstudy.stats import verdict

    assert verdict(0.05, 1.0, alpha=0.05) == "inconclusive"
    assert verdict(1.0, 0.05, alpha=0.05) == "inconclusive"


def test_a_contrast_of_a_metric_measured_at_several_shifts_pairs_each_seed_once():
    """Accuracy at two shifts per model: each seed counts once, at its mean over the shifts
    (the shifts of one network are not independent replicates)."""
    from poolstudy.stats import contrast_table

    rows = []
    for operator, values in (
        ("max", [(90.0, 80.0), (92.0, 78.0), (91.0, 83.0)]),
        ("none", [(85.0, 75.0), (86.0, 70.0), (88.0, 80.0)]),
    ):
        for seed, by_shift in enumerate(values):
            for dx, value in enumerate(by_shift):
                rows.append(
                    ("e", "digits", operator, seed, "accuracy_shifted", "zero", dx, 0, value)
                )
    sides = {"first": {"condition": "gap", "operator": "max"}}
    sides["second"] = {"condition": "gap", "operator": "none"}
    contrast = {"name": "shifted", "dataset": "digits", "metric": "accuracy_shifted"}
    table = contrast_table(frame(rows), [{**contrast, "protocol": "zero", **sides}], 1.0, 0.95)
    per_seed = [85.0 - 80.0, 85.0 - 78.0, 87.0 - 84.0]
    mean, low, high = t_interval(per_seed)
    row = table.iloc[0]
    assert row["n"] == 3 and row["mean"] == pytest.approx(mean)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


def test_a_summarys_n_counts_the_seeds_with_a_value():
    """An undefined value (a consistency with an empty denominator) is no seed of the mean."""
    summary = summarize(frame(clean_rows("max", [50.0, NAN, 60.0, 70.0], "consistency")))
    row = summary.iloc[0]
    assert row["n"] == 3 and row["mean"] == 60.0
    assert row["std"] == pytest.approx(10.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(t_interval([50.0, 60.0, 70.0])[1:])


def test_contrast_table_rows_name_their_sides_and_use_the_level_and_margin():
    from poolstudy.stats import CONTRAST_COLUMNS, contrast_table

    rows = clean_rows("none", [80.0, 81.0, 79.0]) + clean_rows("max", [83.0, 84.5, 82.0])
    rows += clean_rows("none", [70.0, 72.0, 71.0], "consistency", "zero")
    rows += clean_rows("max", [75.0, 77.5, 76.0], "consistency", "zero")
    rows += clean_rows("max", [90.0], "accuracy_val")
    rows += clean_rows("none", [60.0], "accuracy_val")
    observations = frame(rows)
    sides = {"first": {"condition": "gap", "operator": "max"}}
    sides["second"] = {"condition": "gap", "operator": "none"}
    contrasts = [
        {"name": "test", "dataset": "digits", "metric": "accuracy_test", **sides},
        {"name": "zero", "dataset": "digits", "metric": "consistency", "protocol": "zero", **sides},
        {"name": "val", "dataset": "digits", "metric": "accuracy_val", **sides},
    ]
    table = contrast_table(observations, contrasts, margin=0.5, confidence=0.9)
    assert list(table.columns) == CONTRAST_COLUMNS
    first = table.iloc[0].to_dict()
    assert {k: first[k] for k in CONTRAST_COLUMNS[:9]} == {
        "name": "test",
        "dataset": "digits",
        "metric": "accuracy_test",
        "protocol": "",
        "first_condition": "gap",
        "first_operator": "max",
        "second_condition": "gap",
        "second_operator": "none",
        "n": 3,
    }
    d = [3.0, 3.5, 3.0]
    interval = scipy_stats.t.interval(0.9, 2, loc=np.mean(d), scale=scipy_stats.sem(d))
    assert (first["ci_low"], first["ci_high"]) == pytest.approx(interval)
    assert first["margin"] == 0.5
    zero = table.iloc[1]
    assert zero["protocol"] == "zero" and zero["mean"] == pytest.approx(15.5 / 3)
    # three seeds are enough for a verdict, one is not
    assert list(table["verdict"]) == ["difference", "difference", "inconclusive"]


@pytest.mark.parametrize(
    ("confidence", "alpha"), [(0.95, 0.05), (0.9, 0.1), (0.99, 0.01), (0.975, 0.025)]
)
def test_the_significance_level_is_one_minus_the_confidence_as_written(confidence, alpha):
    from poolstudy.stats import significance_level, verdict

    assert significance_level(confidence) == alpha
    # a p-value equal to the level is not below it (1 - 0.95 is a hair above 0.05)
    assert verdict(alpha, 1.0, significance_level(confidence)) == "inconclusive"
    assert verdict(alpha, alpha, significance_level(confidence)) == "inconclusive"


def test_the_contrasts_and_their_budget_check_are_judged_at_the_significance_level(monkeypatch):
    from poolstudy import stats

    rows = clean_rows("none", [80.0, 81.0, 79.0]) + clean_rows("max", [83.0, 84.5, 82.0])
    full = frame(rows)
    half = frame(clean_rows("none", [78.0, 79.0, 77.0]) + clean_rows("max", [81.0, 82.5, 80.0]))
    half["condition"] = "half"
    sides = {"first": {"condition": "gap", "operator": "max"}}
    sides["second"] = {"condition": "gap", "operator": "none"}
    contrasts = [{"name": "test", "dataset": "digits", "metric": "accuracy_test", **sides}]

    def table():
        observations = pd.concat([full, half], ignore_index=True)
        return stats.contrast_table(
            observations, contrasts, margin=2.0, confidence=0.95, half_budget={"gap": "half"}
        ).iloc[0]

    judged = table()
    assert judged["verdict"] == "difference" and judged["stable_under_budget"]
    monkeypatch.setattr(stats, "significance_level", lambda confidence: 0.0)
    strict = table()
    assert strict["verdict"] == "inconclusive" and not strict["stable_under_budget"]
    assert not strict["within_margin"]


@pytest.mark.parametrize(
    ("low", "high", "side"),
    [
        (0.1, 2.0, 1),
        (-2.0, -0.1, -1),
        (-1.0, 1.0, 0),
        (0.0, 1.0, 0),  # an end on zero holds it
        (-1.0, 0.0, 0),
        (NAN, NAN, None),  # too few seeds for an interval
    ],
)
def test_an_intervals_side_of_zero(low, high, side):
    from poolstudy.stats import interval_side

    assert interval_side(low, high) == side


@pytest.mark.parametrize(("low", "high"), [(NAN, -1.0), (NAN, 1.0), (1.0, NAN), (-1.0, NAN)])
def test_an_interval_missing_either_end_has_no_side_of_zero(low, high):
    from poolstudy.stats import interval_side

    assert interval_side(low, high) is None


def test_a_study_without_primary_contrasts_gets_an_empty_contrasts_table_with_its_columns():
    """``analyze`` passes an empty family where the config declares no primary contrasts:
    the table has no rows, but its columns all the same."""
    from poolstudy.stats import CONTRAST_COLUMNS, contrast_table

    observations = frame(clean_rows("max", [80.0, 81.0, 79.0]))
    for half_budget in (None, {"gap": "half"}):
        table = contrast_table(observations, [], 1.0, 0.95, half_budget)
        assert table.empty and list(table.columns) == CONTRAST_COLUMNS


def test_a_value_within_float_noise_of_a_threshold_is_on_it_at_any_scale():
    """``on_threshold``: an absolute tolerance of float noise, the same at 1 and at 100 points
    (a relative one would put 100 + 5e-8 on 100)."""
    from poolstudy.stats import on_threshold

    assert on_threshold(0.9999999999999952, 1.0) and on_threshold(1.0, 1.0)
    assert on_threshold(100.0 + 5e-10, 100.0)
    assert not on_threshold(1.0 - 1e-6, 1.0)
    assert not on_threshold(100.0 + 5e-8, 100.0)


def test_an_equivalence_p_value_on_the_level_shows_nothing_at_either_budget():
    """Holding zero at both budgets, a contrast is stable only where both or neither show
    equivalence; a p-value equal to the level shows nothing, as everywhere (``verdict``)."""
    from poolstudy.stats import budget_stability

    row = {"budget_n": 3, "budget_change_within_margin": True, "ci_low": -0.5, "ci_high": 0.5}
    row |= {"half_budget_ci_low": -1.0, "half_budget_ci_high": 1.5}

    def stable(p_equivalence_holm, half_equivalent=False, **changes):
        return budget_stability(
            {**row, "p_equivalence_holm": p_equivalence_holm, **changes}, half_equivalent, 0.05
        )

    assert stable(0.05) is True  # nothing shown at either budget
    assert stable(0.049) is False  # equivalence at the full budget only
    assert stable(0.05, half_equivalent=True) is False  # at half the budget only
    assert stable(0.049, half_equivalent=True) is True
    assert stable(0.05, budget_change_within_margin=False) is False
    assert stable(0.05, half_budget_ci_low=0.1) is False  # above zero at half, across at full
    assert stable(0.05, ci_low=0.1, half_budget_ci_low=0.2) is True  # above zero at both
    assert stable(0.05, budget_n=2) is pd.NA  # fewer seeds than a test takes


def test_three_seeds_show_an_equivalence_at_both_budgets():
    """The fewest seeds a test takes (``MIN_SEEDS``) show an equivalence at half the budget
    as at the full one: the contrast holds zero and is shown within the margin at both."""
    from poolstudy.stats import MIN_SEEDS, contrast_table

    def rows(condition, operator, values):
        table = frame(clean_rows(operator, values))
        table["condition"] = condition
        return table

    observations = pd.concat(
        [
            rows("gap", "none", [80.0] * 3),
            rows("gap", "max", [80.1, 79.9, 80.05]),
            rows("half", "none", [80.0] * 3),
            rows("half", "max", [80.2, 79.8, 80.1]),
        ],
        ignore_index=True,
    )
    contrast = {"name": "max", "dataset": "digits", "metric": "accuracy_test"}
    contrast["first"] = {"condition": "gap", "operator": "max"}
    contrast["second"] = {"condition": "gap", "operator": "none"}
    row = contrast_table(observations, [contrast], 1.0, 0.95, {"gap": "half"}).iloc[0]
    assert row["budget_n"] == MIN_SEEDS == 3 and row["verdict"] == "equivalent"
    assert row["half_budget_ci_low"] < 0 < row["half_budget_ci_high"]
    assert row["stable_under_budget"] is True


def test_what_each_budget_shows_is_read_from_the_holm_adjusted_tests_of_the_family():
    """Two contrasts holding zero, each shown within a point before Holm's adjustment at the
    full budget (p 0.025 and 0.030) and neither after it (0.050): nothing is shown at the full
    budget, as at half (p 0.14), so the budget changed nothing. Alone in its family the first
    is shown equivalent at the full budget and not at half: the budget changed its answer."""
    from poolstudy.stats import contrast_table

    def rows(condition, operator, differences):
        table = frame(clean_rows(operator, [80.0 + d for d in differences]))
        table["condition"] = condition
        return table

    first = (-0.9, 0.9, 0.0, 0.7, -0.7)
    second = (-0.95, 0.95, 0.0, 0.75, -0.75)
    observations = pd.concat(
        [
            rows("gap", "none", [0.0] * 5),
            rows("gap", "max", first),
            rows("gap", "avg", second),
            rows("half", "none", [0.0] * 5),
            rows("half", "max", (-2.0, 2.0, 0.0, 1.6, -1.6)),
            rows("half", "avg", second),
        ],
        ignore_index=True,
    )
    against_none = {"dataset": "digits", "metric": "accuracy_test"}
    against_none["second"] = {"condition": "gap", "operator": "none"}
    contrasts = [
        {**against_none, "name": name, "first": {"condition": "gap", "operator": name}}
        for name in ("max", "avg")
    ]
    family = contrast_table(observations, contrasts, 1.0, 0.95, {"gap": "half"})
    assert (family["p_equivalence"] < 0.05).all()
    assert list(family["verdict"]) == ["inconclusive", "inconclusive"]
    assert list(family["stable_under_budget"]) == [True, True]
    alone = contrast_table(observations, contrasts[:1], 1.0, 0.95, {"gap": "half"}).iloc[0]
    assert alone["verdict"] == "equivalent" and alone["stable_under_budget"] is False
    # at half the budget too, what a contrast shows is read after the family's adjustment:
    # the second contrast's half-budget runs shown within a point (p 0.030) only before it
    swapped = observations.replace({"condition": {"gap": "half", "half": "gap"}})
    family = contrast_table(swapped, contrasts, 1.0, 0.95, {"gap": "half"})
    assert list(family["stable_under_budget"]) == [True, True]
