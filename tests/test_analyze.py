"""Evaluation files and run metadata become the tidy tables; the sweep is kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from poolstudy import stats
from poolstudy.analyze import analyze, read_correct
from poolstudy.evaluate import COLUMNS
from poolstudy.stats import MODEL_KEYS

NAN = float("nan")


def write_run(tmp_path, condition: str, operator: str, seed: int, test: float, train: float):
    rows = [
        ("e", "digits", condition, operator, seed, "accuracy_train", "", "", "", train, 10),
        ("e", "digits", condition, operator, seed, "accuracy_test", "", "", "", test, 10),
    ]
    columns = [*MODEL_KEYS, *COLUMNS]
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


def analyze_runs(tmp_path, paths, **options):
    """analyze() on (evaluation, meta) pairs written by ``write_run``, tables under tmp_path."""
    return analyze(
        [path for path, *_ in paths],
        [meta for _, meta, *_ in paths],
        "e",
        tmp_path / "tables",
        tmp_path / "metrics.json",
        **options,
    )


def test_sweep_runs_go_to_their_own_tables(tmp_path):
    runs = [("gap", "max", s, 90.0 + s, 99.0) for s in (0, 1)]
    runs += [("sweep-n50-aug0", "max", s, 80.0 + s, 95.0 + s) for s in (0, 1)]
    paths = [write_run(tmp_path, *run) for run in runs]
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    tables = analyze_runs(tmp_path, paths, sweep_points=points)
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


def test_a_negative_gap_keeps_its_interval_around_its_mean(tmp_path):
    """A sweep network that scores higher on the test split than on its training images has
    a negative gap; its interval is not cut at zero, where its mean would fall outside it."""
    runs = [("gap", "max", s, 90.0, 99.0) for s in (0, 1)]
    runs += [("sweep-n50-aug0", "max", s, 90.0, 90.0 + g) for s, g in enumerate([-1, -0.5, 0.2])]
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    tables = analyze_runs(
        tmp_path, [write_run(tmp_path, *run) for run in runs], sweep_points=points
    )
    gap = tables["sweep"].set_index("metric").loc["gap"]
    mean, low, high = stats.t_interval([-1, -0.5, 0.2])
    assert gap["mean"] == pytest.approx(mean) and mean < 0
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx((low, high))
    assert not bool(gap["ci_clipped"])


def test_a_negative_placement_drop_keeps_its_interval_around_its_mean():
    """Accuracy at untrained positions above that at trained ones: a negative drop, whose
    summarised interval is not cut at zero."""
    from poolstudy.analyze import with_placement_drop

    drops = [-1.0, -0.5, 0.2]
    rows = [
        ("e", "digits", "placed", "max", seed, metric, "placement", NAN, NAN, value, 5)
        for seed, drop in enumerate(drops)
        for metric, value in (
            ("accuracy_placed_inside", 90.0 + drop),
            ("accuracy_placed_outside", 90.0),
        )
    ]
    observations = with_placement_drop(pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS]))
    summary = stats.summarize(observations).set_index("metric")
    mean, low, high = stats.t_interval(drops)
    drop = summary.loc["accuracy_placed_drop"]
    assert drop["mean"] == pytest.approx(mean) and low < mean < 0
    assert (drop["ci_low"], drop["ci_high"]) == pytest.approx((low, high))


def test_without_a_sweep_the_sweep_tables_are_empty_with_their_columns(tmp_path):
    paths = [write_run(tmp_path, "gap", "max", s, 90.0, 99.0) for s in (0, 1)]
    tables = analyze_runs(tmp_path, paths)
    assert tables["sweep"].empty and "n_train" in tables["sweep"].columns
    reread = pd.read_csv(tmp_path / "tables" / "sweep.csv")
    assert reread.empty and "augment_shift" in reread.columns
    # the columns of a study that has a sweep
    paths += [write_run(tmp_path, "sweep-n50-aug0", "max", s, 80.0, 95.0) for s in (0, 1)]
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    swept = analyze_runs(tmp_path, paths, sweep_points=points)
    for name in ("sweep", "sweep_observations"):
        assert list(tables[name].columns) == list(swept[name].columns), name


def test_sweep_plot_has_one_series_per_operator_and_augmentation(tmp_path):
    runs = [("gap", "max", s, 90.0, 99.0) for s in (0, 1)]
    for size in (50, 200):
        for operator in ("none", "max"):
            runs += [(f"sweep-n{size}-aug0", operator, s, 80.0, 84.0) for s in (0, 1)]
    paths = [write_run(tmp_path, *run) for run in runs]
    points = {f"sweep-n{n}-aug0": {"n_train": n, "augment_shift": 0} for n in (50, 200)}
    tables = analyze_runs(tmp_path, paths, sweep_points=points)
    plot = tables["sweep_plot"]
    assert list(plot.columns) == [
        "series",
        "operator",
        "augment_shift",
        "n_train",
        "accuracy_test",
        "gap",
    ]
    assert sorted(set(plot["series"])) == ["max, aug 0", "none, aug 0"]
    assert len(plot) == 4 and (plot["gap"] == 4.0).all()
    accuracy = tables["accuracy_plot"]
    assert accuracy.to_dict("records") == [{"operator": "max", "accuracy_test": 90.0}]


def test_bootstrap_table_comes_from_the_per_image_records(tmp_path):
    paths = []
    for operator, record in (("none", [1, 0] * 5), ("max", [1] * 10)):
        for seed in (0, 1):
            value = 100.0 * sum(record) / len(record)
            path, meta = write_run(tmp_path, "gap", operator, seed, value, 99.0)
            correct = tmp_path / f"{operator}-{seed}.npy"
            np.save(correct, np.array(record, dtype=np.uint8))
            paths.append((path, meta, correct))
    records = [c for _, _, c in paths]
    tables = analyze_runs(tmp_path, paths, correct_paths=records, bootstrap_samples=300)
    table = tables["bootstrap"].set_index("operator")
    assert table.loc["none", "mean"] == 50.0 and table.loc["max", "mean"] == 100.0
    assert table.loc["max", "diff_mean"] == 50.0
    assert (table["n_images"] == 10).all() and (table["n_seeds"] == 2).all()
    assert (tmp_path / "tables" / "bootstrap.csv").exists()


def test_records_and_evaluations_must_pair_up(tmp_path):
    path, meta = write_run(tmp_path, "gap", "max", 0, 90.0, 99.0)
    with pytest.raises(ValueError, match="1 evaluation files but 0 per-image records"):
        read_correct([path], [])


def test_placement_drop_is_inside_minus_outside_per_model():
    from poolstudy.analyze import with_placement_drop

    rows = []
    for seed, (inside, outside) in enumerate([(98.0, 60.0), (96.0, 90.0)]):
        for metric, value in (
            ("accuracy_test", inside),
            ("accuracy_placed_inside", inside),
            ("accuracy_placed_outside", outside),
        ):
            protocol = "" if metric == "accuracy_test" else "placement"
            rows.append(
                ("e", "digits", "placed", "max", seed, metric, protocol, NAN, NAN, value, 5)
            )
    columns = [*MODEL_KEYS, *COLUMNS]
    observations = pd.DataFrame(rows, columns=columns)
    extended = with_placement_drop(observations)
    drop = extended[extended["metric"] == "accuracy_placed_drop"].set_index("seed")
    assert drop["value"].to_dict() == {0: 38.0, 1: 6.0}
    assert (drop["protocol"] == "placement").all() and (drop["n"] == 5).all()
    assert len(extended) == len(observations) + 2
    others = observations[observations["metric"] == "accuracy_test"]
    assert with_placement_drop(others).equals(others)


def test_late_rise_is_the_training_accuracy_gained_over_the_last_fifth_averaged_over_seeds():
    from poolstudy.analyze import PLATEAU_SHARE, late_rise

    assert PLATEAU_SHARE == 0.2
    steps = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    rising = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]  # point at step 80 is 80
    flat = [50, 60, 70, 80, 90, 95, 96, 97, 97.5, 98.0]  # from 97 to 98
    rows = [
        {"seed": seed, "step": step, "train_accuracy": value}
        for seed, values in ((0, rising), (1, flat))
        for step, value in zip(steps, values, strict=True)
    ]
    rows.append({"seed": 2, "step": 10, "train_accuracy": 5.0})  # one point: no curve
    curves = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # any order
    assert late_rise(curves) == pytest.approx(((100 - 80) + (98 - 97)) / 2)
    assert np.isnan(late_rise(curves[curves["seed"] == 2]))


def test_regime_checks_convergence_by_doubling_the_budget_paired_by_seed():
    from poolstudy.analyze import regime_table

    # test accuracy per seed: "fast" gains 0.5, 0.3, 0.4 points from half to full budget;
    # "slow" gains 3, 2, 4; "plain" has no half-budget runs
    full = {"fast": [95.0, 94.0, 96.0], "slow": [93.0, 92.0, 95.0], "plain": [90.0, 91.0, 92.0]}
    half = {"fast": [94.5, 93.7, 95.6], "slow": [90.0, 90.0, 91.0]}
    rows = []
    for condition, table in (("primary", full), ("primary_half", half)):
        for operator, values in table.items():
            for seed, test in enumerate(values):
                for metric, value in (("accuracy_train", test + 0.3), ("accuracy_test", test)):
                    rows.append(
                        {
                            "experiment": "e",
                            "dataset": "glyphs",
                            "condition": condition,
                            "operator": operator,
                            "seed": seed,
                            "metric": metric,
                            "protocol": "",
                            "dx": NAN,
                            "dy": NAN,
                            "value": value,
                            "n": 2000,
                        }
                    )
    # a half seed the full budget lacks is not paired
    rows.append({**rows[-1], "seed": 9, "condition": "primary_half", "operator": "fast"})
    observations = pd.DataFrame(rows)
    curves = pd.DataFrame(
        [
            {
                "dataset": "glyphs",
                "condition": c,
                "operator": o,
                "seed": 0,
                "step": step,
                "train_accuracy": 50.0 + step / 100,
            }
            for c, last in (("primary", 1000), ("primary_half", 500))
            for o in ("fast", "slow", "plain")
            for step in range(100, last + 1, 100)
        ]
    )
    regime = regime_table(
        observations,
        curves,
        "glyphs",
        ["primary"],
        1.0,
        1.0,
        0.95,
        half_budget={"primary": "primary_half"},
    ).set_index("operator")
    assert list(regime.index) == ["fast", "slow", "plain"]
    assert regime.loc["fast", "budget_gain"] == pytest.approx(0.4)
    assert regime.loc["slow", "budget_gain"] == pytest.approx(3.0)
    assert regime.loc["fast", "budget_n"] == 3 and regime.loc["plain", "budget_n"] == 0
    low, high = regime.loc["slow", ["budget_gain_ci_low", "budget_gain_ci_high"]]
    from scipy import stats as scipy_stats

    expected = scipy_stats.t.interval(0.95, 2, loc=3.0, scale=scipy_stats.sem([3.0, 2.0, 4.0]))
    assert (low, high) == pytest.approx(expected)
    assert regime.loc["fast", "converged"] == True  # noqa: E712
    assert regime.loc["slow", "converged"] == False  # noqa: E712
    assert pd.isna(regime.loc["plain", "converged"])
    assert regime.loc["fast", "half_budget_condition"] == "primary_half"
    assert regime.loc["plain", "half_budget_condition"] == ""
    assert (regime.loc["fast", "steps"], regime.loc["fast", "half_budget_steps"]) == (1000, 500)
    assert regime.loc["fast", "gap"] == pytest.approx(0.3)
    assert regime["free_of_overfitting"].all()
    # without half-budget runs nothing is checked
    unchecked = regime_table(observations, curves, "glyphs", ["primary"], 1.0, 1.0, 0.95)
    assert unchecked["converged"].isna().all() and (unchecked["budget_n"] == 0).all()


def budget_regime(full: dict, half: dict, n_test: int) -> pd.DataFrame:
    """``regime.csv`` (by operator) of networks whose test accuracies by seed are ``full``
    under "primary" and ``half`` under its half budget (training 0.3 points higher)."""
    from poolstudy.analyze import regime_table

    rows = [
        ("e", "glyphs", condition, operator, seed, metric, "", NAN, NAN, value, n_test)
        for condition, table in (("primary", full), ("primary_half", half))
        for operator, values in table.items()
        for seed, test in enumerate(values)
        for metric, value in (("accuracy_train", test + 0.3), ("accuracy_test", test))
    ]
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    curves = pd.DataFrame(columns=["dataset", "condition", "operator", "seed", "step"])
    return regime_table(
        observations, curves, "glyphs", ["primary"], 1.0, 1.0, 0.95, {"primary": "primary_half"}
    ).set_index("operator")


def test_regime_decides_nothing_from_fewer_seeds_than_a_contrast_takes():
    """Convergence and overfitting, like a contrast, need ``stats.MIN_SEEDS`` seeds: one
    half-budget seed beside five full-budget ones checks no convergence, and two seeds
    decide no overfitting; the table keeps what was measured."""

    assert stats.MIN_SEEDS == 3
    # "many": five seeds at the full budget, one of them also at half (a gain of 0.1 point);
    # "two": two seeds at both budgets; "three": three (the fewest a check takes)
    full = {
        "many": [95.0, 94.0, 96.0, 95.5, 94.5],
        "two": [93.0, 92.0],
        "three": [90.0, 91.0, 92.0],
    }
    half = {"many": [94.9], "two": [92.9, 91.9], "three": [89.9, 90.9, 91.9]}
    regime = budget_regime(full, half, 2000)
    # measured, and reported, but not decided
    assert regime.loc["many", "budget_n"] == 1
    assert regime.loc["many", "budget_gain"] == pytest.approx(0.1)
    assert regime.loc["many", "half_budget_condition"] == "primary_half"
    assert np.isnan(regime.loc["many", "budget_gain_ci_low"])
    assert pd.isna(regime.loc["many", "converged"])
    assert regime.loc["many", "free_of_overfitting"] == True  # noqa: E712
    assert regime.loc["two", "n"] == 2 and regime.loc["two", "budget_n"] == 2
    assert regime.loc["two", "gap"] == pytest.approx(0.3)
    assert pd.isna(regime.loc["two", "converged"])
    assert pd.isna(regime.loc["two", "free_of_overfitting"])
    # three seeds decide both
    assert regime.loc["three", "converged"] == True  # noqa: E712
    assert regime.loc["three", "free_of_overfitting"] == True  # noqa: E712


def test_models_table_holds_each_runs_accounting_and_placement(tmp_path):
    from poolstudy.analyze import MODEL_COLUMNS, read_models

    _, plain = write_run(tmp_path, "gap", "max", 0, 90.0, 99.0)
    placed = tmp_path / "placed.json"
    meta = json.loads(plain.read_text())
    meta.update(
        condition="placement",
        seed=3,
        parameters=123,
        flops=4567,
        receptive_field=22,
        feature_map_sizes=[16, 8, 4, 2],
        n_train=50,
        steps=300,
        device="cuda",
        device_name="H200",
        wall_seconds=7.5,
        placement={"canvas": 48, "region": "left"},
    )
    placed.write_text(json.dumps(meta))
    models = read_models([plain, placed], "study")
    assert list(models.columns) == MODEL_COLUMNS
    first, second = models.to_dict("records")
    assert first["experiment"] == "study" and first["device_name"] == "cpu"  # named by device
    assert pd.isna(first["placement_canvas"]) and first["placement_region"] == ""
    assert pd.isna(first["steps"])  # a run that recorded no steps
    assert {k: second[k] for k in MODEL_COLUMNS[1:]} == {
        "dataset": "digits",
        "condition": "placement",
        "operator": "max",
        "seed": 3,
        "parameters": 123,
        "flops": 4567,
        "receptive_field": 22,
        "final_feature_map": 2,
        "n_train": 50,
        "steps": 300,
        "device": "cuda",
        "device_name": "H200",
        "wall_seconds": 7.5,
        "placement_canvas": 48,
        "placement_region": "left",
    }


def test_learning_curves_carry_each_runs_keys_from_its_metadata(tmp_path):
    from poolstudy.analyze import read_histories

    metas, histories = [], []
    for operator, seed, losses in (("max", 0, [2.0, 1.0]), ("none", 1, [2.5, 1.5, 0.5])):
        _, meta = write_run(tmp_path, "gap", operator, seed, 90.0, 99.0)
        history = tmp_path / f"{operator}-{seed}-history.csv"
        pd.DataFrame(
            {
                "epoch": 1,
                "step": [10 * (i + 1) for i in range(len(losses))],
                "train_loss": losses,
                "train_accuracy": [50.0 + i for i in range(len(losses))],
                "val_accuracy": [40.0 + i for i in range(len(losses))],
                "lr": 0.1,
            }
        ).to_csv(history, index=False)
        metas.append(meta)
        histories.append(history)
    curves = read_histories(histories, metas, "study")
    assert list(curves.columns) == [
        *MODEL_KEYS,
        "step",
        "train_loss",
        "train_accuracy",
        "val_accuracy",
    ]
    assert curves["operator"].tolist() == ["max", "max", "none", "none", "none"]
    assert curves["seed"].tolist() == [0, 0, 1, 1, 1]
    assert (curves["experiment"] == "study").all() and (curves["condition"] == "gap").all()
    assert curves["train_loss"].tolist() == [2.0, 1.0, 2.5, 1.5, 0.5]
    assert curves["step"].tolist() == [10, 20, 10, 20, 30]
    empty = read_histories([], [], "study")
    assert empty.empty and list(empty.columns) == list(curves.columns)
    with pytest.raises(ValueError, match="2 histories but 1 metadata files"):
        read_histories(histories, metas[:1], "study")


def test_headline_metrics_name_protocol_metrics_and_round_to_four_places():
    from poolstudy.analyze import headline_metrics

    rows = [
        ("digits", "gap", "max", "accuracy_test", "", 91.234567),
        ("digits", "gap", "max", "consistency", "circular", 88.0),
        ("digits", "gap", "max", "accuracy_shifted", "circular", 50.0),  # not a headline
        ("glyphs", "c16", "none", "accuracy_train", "", 70.0),
    ]
    summary = pd.DataFrame(
        rows, columns=["dataset", "condition", "operator", "metric", "protocol", "mean"]
    )
    assert headline_metrics(summary) == {
        "digits": {"gap": {"max": {"accuracy_test": 91.2346, "consistency_circular": 88.0}}},
        "glyphs": {"c16": {"none": {"accuracy_train": 70.0}}},
    }


def test_difference_rows_count_images_only_where_both_metrics_share_them():
    from poolstudy.analyze import difference_rows

    rows = []
    for seed, (a, b, n_a, n_b) in enumerate([(90.0, 80.0, 100, 100), (70.0, 75.0, 100, 50)]):
        rows.append(("e", "d", "c", "max", seed, "first", "p", NAN, NAN, a, n_a))
        rows.append(("e", "d", "c", "max", seed, "second", "p", NAN, NAN, b, n_b))
    rows.append(("e", "d", "c", "max", 2, "first", "p", NAN, NAN, 60.0, 10))  # no partner
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    diff = difference_rows(observations, "first", "second", "delta").set_index("seed")
    assert list(diff.columns) == list(observations.drop(columns="seed").columns)
    assert diff["value"].to_dict() == {0: 10.0, 1: -5.0}
    assert diff.loc[0, "n"] == 100 and np.isnan(diff.loc[1, "n"])
    assert (diff["metric"] == "delta").all() and (diff["protocol"] == "p").all()
    assert diff["dx"].isna().all() and diff["dy"].isna().all()
    same = observations[observations["seed"] == 0]
    assert difference_rows(same, "first", "second", "delta")["n"].dtype == same["n"].dtype
    assert difference_rows(observations, "first", "third", "delta").empty


def test_placement_curves_average_rows_per_model_then_seeds_with_the_training_region():
    from poolstudy.analyze import placement_curves

    rows = []
    # per seed, two vertical positions per horizontal position
    values = {0: {0: (80.0, 100.0), 4: (40.0, 60.0)}, 1: {0: (70.0, 90.0), 4: (20.0, 40.0)}}
    for seed, by_dx in values.items():
        for dx, pair in by_dx.items():
            for dy, value in zip((0, 4), pair, strict=True):
                # the same positions under another protocol must not enter the curve
                for protocol, scored in (("placement", value), ("circular", 0.0)):
                    keys = ("e", "d", "placed", "max", seed, "accuracy_shifted", protocol)
                    rows.append((*keys, dx, dy, scored, 10))
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    models = pd.DataFrame([{"dataset": "d", "condition": "placed", "placement_region": "left"}] * 2)
    table = placement_curves(observations, models).set_index("position")
    assert table["mean"].to_dict() == {0: 85.0, 4: 40.0}  # seeds 90, 80 and 50, 30
    assert (table["n"] == 2).all() and (table["region"] == "left").all()
    assert table.loc[0, "std"] == pytest.approx(np.std([90.0, 80.0], ddof=1))


def test_regime_measures_the_gap_and_its_sampling_error_against_the_threshold():
    from poolstudy.analyze import regime_table

    rows = []
    # "tight": train 80.5, 81.5, 80 against test 80, 81, 80 (gap 0.5, 0.5, 0)
    # "loose": train 95, 96, 94 against test 90, 90, 90 (gap 5, 6, 4)
    for operator, train, test in (
        ("tight", [80.5, 81.5, 80.0], [80.0, 81.0, 80.0]),
        ("loose", [95.0, 96.0, 94.0], [90.0, 90.0, 90.0]),
    ):
        for seed in range(3):
            for metric, value, n in (
                ("accuracy_train", train[seed], 1000),
                ("accuracy_test", test[seed], 4000),
            ):
                rows.append(("e", "g", "c16", operator, seed, metric, "", NAN, NAN, value, n))
                rows.append(("e", "g", "other", operator, seed, metric, "", NAN, NAN, 0.0, n))
                rows.append(("e", "x", "c16", operator, seed, metric, "", NAN, NAN, 0.0, n))
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    curves = pd.DataFrame(columns=["dataset", "condition", "operator", "seed", "step"])
    regime = regime_table(observations, curves, "g", ["c16"], 1.0, 2.0).set_index("operator")
    assert list(regime.index) == ["tight", "loose"] and (regime["condition"] == "c16").all()
    assert (regime["n"] == 3).all() and (regime["plateau_points"] == 2.0).all()
    assert regime.loc["tight", "accuracy_train"] == pytest.approx(242 / 3)
    assert regime.loc["loose", "accuracy_test"] == pytest.approx(90.0)
    assert regime.loc["loose", "gap"] == pytest.approx(5.0)
    from scipy import stats as scipy_stats

    expected = scipy_stats.t.interval(0.95, 2, loc=5.0, scale=scipy_stats.sem([5.0, 6.0, 4.0]))
    low, high = regime.loc["loose", ["gap_ci_low", "gap_ci_high"]]
    assert (low, high) == pytest.approx(expected)
    # binomial standard error of train - test, per seed, averaged over seeds
    per_seed = [
        100 * np.sqrt(a / 100 * (1 - a / 100) / 1000 + b / 100 * (1 - b / 100) / 4000)
        for a, b in zip([95.0, 96.0, 94.0], [90.0, 90.0, 90.0], strict=True)
    ]
    assert regime.loc["loose", "gap_sampling_se"] == pytest.approx(np.mean(per_seed))
    assert regime.loc["tight", "free_of_overfitting"] == True  # noqa: E712
    assert regime.loc["loose", "free_of_overfitting"] == False  # noqa: E712
    assert np.isnan(regime.loc["tight", "late_rise"]) and np.isnan(regime.loc["tight", "steps"])
    empty = regime_table(observations, curves, "g", ["none-such"], 1.0, 2.0)
    assert empty.empty and "converged" in empty.columns


def test_read_observations_reads_names_verbatim_and_empty_fields_as_missing(tmp_path):
    from poolstudy.analyze import read_observations

    columns = [*MODEL_KEYS, *COLUMNS]
    first = tmp_path / "first.csv"
    second = tmp_path / "second.csv"
    pd.DataFrame(
        [
            ("e", "digits", "NA", "max", 0, "accuracy_test", "", "", "", 90.0, 10),
            ("e", "digits", "NA", "max", 0, "accuracy_shifted", "circular", 2, -1, 80.0, 10),
        ],
        columns=columns,
    ).to_csv(first, index=False)
    pd.DataFrame(
        [("e", "digits", "gap", "none", 1, "accuracy_test", "", "", "", 70.0, 10)],
        columns=columns,
    ).to_csv(second, index=False)
    frame = read_observations([first, second])
    assert list(frame.columns) == columns
    assert frame.index.equals(pd.RangeIndex(3))
    assert frame["condition"].tolist() == ["NA", "NA", "gap"]  # a name, not a missing value
    assert frame["protocol"].tolist() == ["", "circular", ""]
    assert frame["dx"].dtype == np.float64 and frame["dy"].dtype == np.float64
    assert frame.loc[1, "dx"] == 2.0 and frame.loc[1, "dy"] == -1.0
    assert frame["dx"].isna().tolist() == [True, False, True]
    assert frame["value"].tolist() == [90.0, 80.0, 70.0]


def test_read_correct_keeps_uint8_records_and_its_columns_when_empty(tmp_path):
    path, _ = write_run(tmp_path, "gap", "max", 4, 90.0, 99.0)
    record = tmp_path / "record.npy"
    np.save(record, np.array([True, False, True] + [False] * 7))  # its 10 test images
    records = read_correct([path], [record])
    assert list(records.columns) == [*MODEL_KEYS, "correct"]
    (row,) = records.to_dict("records")
    assert {k: row[k] for k in MODEL_KEYS} == {
        "experiment": "e",
        "dataset": "digits",
        "condition": "gap",
        "operator": "max",
        "seed": 4,
    }
    assert row["correct"].dtype == np.uint8 and row["correct"].tolist() == [1, 0, 1] + [0] * 7
    empty = read_correct([], [])
    assert empty.empty and list(empty.columns) == [*MODEL_KEYS, "correct"]


def test_placement_columns_are_empty_for_runs_without_a_canvas():
    from poolstudy.analyze import placement_columns

    assert placement_columns({}) == {"placement_canvas": None, "placement_region": ""}
    assert placement_columns({"canvas": None, "region": "left"}) == {
        "placement_canvas": None,
        "placement_region": "",
    }
    assert placement_columns({"canvas": 48, "region": "left"}) == {
        "placement_canvas": 48,
        "placement_region": "left",
    }


def test_models_and_histories_tables_keep_their_columns_and_a_fresh_index(tmp_path):
    from poolstudy.analyze import read_histories, read_models

    empty = read_models([], "study")
    assert (
        empty.empty
        and list(empty.columns)
        == (
            "experiment dataset condition operator seed parameters flops "
            "receptive_field final_feature_map n_train steps device device_name "
            "wall_seconds placement_canvas placement_region"
        ).split()
    )
    metas, histories = [], []
    for seed, points in ((0, 2), (1, 3)):
        _, meta = write_run(tmp_path, "gap", "max", seed, 90.0, 99.0)
        history = tmp_path / f"history-{seed}.csv"
        pd.DataFrame(
            {
                "step": [10 * (i + 1) for i in range(points)],
                "train_loss": 1.0,
                "train_accuracy": 50.0,
                "val_accuracy": 40.0,
            }
        ).to_csv(history, index=False)
        metas.append(meta)
        histories.append(history)
    curves = read_histories(histories, metas, "study")
    assert curves.index.equals(pd.RangeIndex(5))
    assert curves["seed"].tolist() == [0, 0, 1, 1, 1]


def test_difference_rows_keep_the_models_order_a_missing_count_and_float_positions():
    from poolstudy.analyze import difference_rows

    rows = [
        ("e", "d", "c", "max", 1, "first", "p", NAN, NAN, 70.0, 100),
        ("e", "d", "c", "max", 1, "second", "p", NAN, NAN, 75.0, NAN),  # count unknown
        ("e", "d", "c", "max", 0, "first", "p", NAN, NAN, 90.0, 100),
        ("e", "d", "c", "max", 0, "second", "p", NAN, NAN, 80.0, 100),
        ("e", "d", "c", "avg", 0, "first", "p", NAN, NAN, 50.0, 100),
        ("e", "d", "c", "avg", 0, "second", "p", NAN, NAN, 20.0, 100),
    ]
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    diff = difference_rows(observations, "first", "second", "delta")
    assert diff.index.equals(pd.RangeIndex(3))
    # in the order the models first appear, not sorted
    assert list(zip(diff["operator"], diff["seed"], strict=True)) == [
        ("max", 1),
        ("max", 0),
        ("avg", 0),
    ]
    assert diff["value"].tolist() == [-5.0, 10.0, 30.0]
    assert np.isnan(diff["n"].iloc[0]) and diff["n"].tolist()[1:] == [100.0, 100.0]
    assert diff["dx"].dtype == np.float64 and diff["dy"].dtype == np.float64
    assert diff["dx"].isna().all() and diff["dy"].isna().all()


def test_placement_drop_and_sweep_observations_are_renumbered_tables():
    from poolstudy.analyze import sweep_observations, with_placement_drop

    columns = [*MODEL_KEYS, *COLUMNS]
    placed = pd.DataFrame(
        [
            ("e", "d", "placed", "max", 0, "accuracy_test", "", NAN, NAN, 97.0, 5),
            (
                "e",
                "d",
                "placed",
                "max",
                0,
                "accuracy_placed_inside",
                "placement",
                NAN,
                NAN,
                96.0,
                5,
            ),
            (
                "e",
                "d",
                "placed",
                "max",
                0,
                "accuracy_placed_outside",
                "placement",
                NAN,
                NAN,
                90.0,
                5,
            ),
        ],
        columns=columns,
    )
    extended = with_placement_drop(placed)
    assert extended.index.equals(pd.RangeIndex(4))
    assert extended["metric"].iloc[3] == "accuracy_placed_drop" and extended["value"].iloc[3] == 6.0

    rows = []
    for seed, (train, test) in enumerate([(99.0, 90.0), (98.0, 92.0)]):
        rows.append(("e", "d", "s50", "max", seed, "consistency", "circular", NAN, NAN, 80.0, 10))
        rows.append(("e", "d", "s50", "max", seed, "accuracy_train", "", NAN, NAN, train, 50))
        rows.append(("e", "d", "s50", "max", seed, "accuracy_test", "", NAN, NAN, test, 10))
    observed = sweep_observations(pd.DataFrame(rows, columns=columns))
    assert observed.index.equals(pd.RangeIndex(6))
    assert observed["metric"].tolist() == ["accuracy_train", "accuracy_test"] * 2 + ["gap"] * 2
    assert observed["value"].tolist() == [99.0, 90.0, 98.0, 92.0, 9.0, 6.0]
    assert observed["n"].iloc[4:].isna().all()  # train and test count different images


def test_placement_curves_are_ordered_by_position_with_intervals_and_one_region_per_condition():
    from scipy import stats as scipy_stats

    from poolstudy.analyze import placement_curves

    # per-seed means (over the two vertical positions) at dx = -4, 0, 4
    means = {-4: [30.0, 20.0, 40.0], 0: [80.0, 76.0, 84.0], 4: [60.0, 50.0, 55.0]}
    rows = []
    for seed in range(3):
        for dx in (4, -4, 0):  # not in increasing order
            for dy, offset in ((0, -10.0), (4, 10.0)):
                keys = ("e", "d", "placed", "max", seed, "accuracy_shifted", "placement")
                rows.append((*keys, dx, dy, means[dx][seed] + offset, 10))
    # a condition no model row describes keeps its curve, without a region
    rows.append(("e", "d", "orphan", "max", 0, "accuracy_shifted", "placement", 0, 0, 50.0, 10))
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    models = pd.DataFrame(
        [
            {
                "dataset": "d",
                "condition": "placed",
                "operator": o,
                "seed": s,
                "placement_region": "left",
            }
            for o in ("max", "none")
            for s in range(3)
        ]
    )
    table = placement_curves(observations, models)
    assert list(zip(table["condition"], table["position"], strict=True)) == [
        ("orphan", 0),
        ("placed", -4),
        ("placed", 0),
        ("placed", 4),
    ]
    assert pd.isna(table["region"].iloc[0]) and (table["region"].iloc[1:] == "left").all()
    assert table["n"].tolist() == [1, 3, 3, 3]
    placed = table.iloc[1:]
    for (_, row), values in zip(placed.iterrows(), means.values(), strict=True):
        low, high = scipy_stats.t.interval(
            0.95, 2, loc=np.mean(values), scale=scipy_stats.sem(values)
        )
        assert row["mean"] == pytest.approx(np.mean(values))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


def test_sweep_columns_follow_the_condition():
    from poolstudy.analyze import with_sweep_columns

    table = pd.DataFrame(
        {
            "experiment": ["e", "e"],
            "dataset": ["d", "d"],
            "condition": ["s50", "s200"],
            "operator": ["max", "none"],
            "mean": [1.0, 2.0],
        }
    )
    points = {
        "s50": {"n_train": 50, "augment_shift": 0},
        "s200": {"n_train": 200, "augment_shift": 2},
    }
    extended = with_sweep_columns(table, points)
    assert (
        list(extended.columns)
        == ("experiment dataset condition n_train augment_shift operator mean").split()
    )
    assert extended["n_train"].tolist() == [50, 200]
    assert extended["augment_shift"].tolist() == [0, 2]
    assert list(table.columns) == ["experiment", "dataset", "condition", "operator", "mean"]


def test_empty_sweep_and_plot_tables_have_their_columns():
    from poolstudy.analyze import accuracy_plot, empty_sweep_tables, sweep_plot

    observed, cells = empty_sweep_tables()
    assert (
        observed.empty
        and list(observed.columns)
        == (
            "experiment dataset condition n_train augment_shift operator seed "
            "metric protocol dx dy value n"
        ).split()
    )
    assert (
        cells.empty
        and list(cells.columns)
        == (
            "experiment dataset condition n_train augment_shift operator metric "
            "protocol dx dy n mean std ci_low ci_high ci_clipped"
        ).split()
    )
    no_cells = pd.DataFrame(columns=["operator", "augment_shift", "n_train", "metric", "mean"])
    plot = sweep_plot(no_cells)
    assert (
        plot.empty
        and list(plot.columns) == "series operator augment_shift n_train accuracy_test gap".split()
    )
    no_summary = pd.DataFrame(columns=["dataset", "condition", "operator", "metric", "mean"])
    accuracy = accuracy_plot(no_summary)
    assert accuracy.empty and list(accuracy.columns) == ["operator", "accuracy_test"]


def test_accuracy_plot_keeps_the_first_rows_dataset_and_condition_together():
    from poolstudy.analyze import accuracy_plot

    rows = [
        ("d1", "c1", "max", "accuracy_test", 90.0),
        ("d1", "c1", "none", "accuracy_train", 99.0),
        ("d1", "c1", "none", "accuracy_test", 80.0),
        ("d1", "c2", "max", "accuracy_test", 70.0),  # same dataset, other condition
        ("d2", "c1", "max", "accuracy_test", 60.0),  # other dataset, same condition
    ]
    summary = pd.DataFrame(rows, columns=["dataset", "condition", "operator", "metric", "mean"])
    assert accuracy_plot(summary).to_dict("records") == [
        {"operator": "max", "accuracy_test": 90.0},
        {"operator": "none", "accuracy_test": 80.0},
    ]


def test_late_rise_counts_two_point_curves_and_skips_single_points_quietly():
    import warnings

    from poolstudy.analyze import late_rise

    rows = [{"seed": 0, "step": 100, "train_accuracy": 5.0}]  # one point: skipped
    rows += [{"seed": 1, "step": s, "train_accuracy": a} for s, a in ((90, 60.0), (100, 64.0))]
    rows += [{"seed": 2, "step": 10 * i, "train_accuracy": 60.0 + i} for i in range(1, 9)]
    rows += [{"seed": 2, "step": s, "train_accuracy": a} for s, a in ((90, 75.0), (100, 78.0))]
    curves = pd.DataFrame(rows)
    # seed 1: from step 90 (nearest to 80) to 100, 4; seed 2: from 68 at step 80 to 78, 10
    assert late_rise(curves) == pytest.approx((4.0 + 10.0) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(late_rise(curves[curves["seed"] == 0]))
        assert np.isnan(late_rise(curves.iloc[0:0]))


def test_budget_gain_pairs_the_half_budget_runs_by_seed_as_floats():
    from poolstudy.analyze import budget_gain

    rows = [
        ("g", "half", "max", 0, "accuracy_test", 94.0),
        ("g", "half", "max", 1, "accuracy_test", 92.5),
        ("g", "half", "max", 5, "accuracy_test", 10.0),  # no full-budget run
        ("g", "half", "max", 0, "accuracy_train", 0.0),
        ("g", "half", "none", 0, "accuracy_test", 0.0),
        ("x", "half", "max", 0, "accuracy_test", 0.0),
        ("g", "other", "max", 0, "accuracy_test", 0.0),
    ]
    observations = pd.DataFrame(
        rows, columns=["dataset", "condition", "operator", "seed", "metric", "value"]
    )
    test = pd.Series({0: 95.0, 1: 94.0, 2: 93.0})
    gain = budget_gain(observations, "g", "half", "max", test)
    assert gain.to_dict() == {0: 1.0, 1: 1.5} and gain.dtype == np.float64
    for half in (None, ""):
        none = budget_gain(observations, "g", half, "max", test)
        assert none.empty and none.dtype == np.float64


def test_regime_table_reads_each_networks_own_curves_and_decides_strictly_below():
    from scipy import stats as scipy_stats

    from poolstudy.analyze import regime_table

    # test and train accuracy per seed at the full budget, test accuracy at half
    networks = {
        "a": ([90.0, 90.5, 91.0], [91.0, 91.5, 92.0], {0: 89.0, 1: 89.5, 2: 90.0}),
        "b": ([90.0, 91.0, 92.0], [95.0, 96.0, 94.0], {0: 88.0, 1: 88.0, 2: 91.0}),
        "c": ([80.0, 81.0, 82.0], [80.0, 81.0, 82.0], {7: 70.0}),  # no common seed
    }
    rows = []
    for operator, (test, train, half) in networks.items():
        for seed in range(3):
            for metric, value in (("accuracy_train", train[seed]), ("accuracy_test", test[seed])):
                rows.append(("e", "g", "full", operator, seed, metric, "", NAN, NAN, value, 1000))
        for seed, value in half.items():
            rows.append(
                ("e", "g", "half", operator, seed, "accuracy_test", "", NAN, NAN, value, 1000)
            )
    observations = pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS])
    curve_points = {
        ("g", "full", "a"): ([50, 80, 100], [70.0, 80.0, 90.0]),  # rises 10
        ("g", "full", "b"): ([150, 240, 300], [60.0, 61.0, 62.0]),  # rises 1
        ("g", "half", "a"): ([10, 40, 50], [10.0, 20.0, 60.0]),
        ("g", "half", "c"): ([10, 40, 50], [10.0, 20.0, 30.0]),
        ("x", "full", "a"): ([50, 80, 100], [0.0, 5.0, 7.0]),
    }
    curves = pd.DataFrame(
        [
            {
                "dataset": dataset,
                "condition": condition,
                "operator": operator,
                "seed": 0,
                "step": step,
                "train_accuracy": accuracy,
            }
            for (dataset, condition, operator), points in curve_points.items()
            for step, accuracy in zip(*points, strict=True)
        ]
    )
    regime = regime_table(
        observations, curves, "g", ["full"], 1.0, 1.0, 0.9, half_budget={"full": "half"}
    )
    columns = (
        "dataset condition operator n accuracy_train accuracy_test gap "
        "gap_ci_low gap_ci_high gap_sampling_se late_rise steps "
        "half_budget_condition half_budget_steps budget_n budget_gain "
        "budget_gain_ci_low budget_gain_ci_high plateau_points gap_threshold "
        "free_of_overfitting converged"
    ).split()
    assert list(regime.columns) == columns
    assert (regime["dataset"] == "g").all()
    regime = regime.set_index("operator")
    assert regime.loc["a", "late_rise"] == 10.0 and regime.loc["b", "late_rise"] == 1.0
    assert np.isnan(regime.loc["c", "late_rise"])
    assert (regime.loc["a", "steps"], regime.loc["b", "steps"]) == (100.0, 300.0)
    assert np.isnan(regime.loc["c", "steps"])
    assert regime.loc["a", "half_budget_steps"] == 50.0
    # "c" has half-budget runs and curves, but no seed to pair: nothing is checked
    assert regime.loc["c", "budget_n"] == 0 and regime.loc["c", "half_budget_condition"] == ""
    assert np.isnan(regime.loc["c", "half_budget_steps"]) and pd.isna(regime.loc["c", "converged"])
    # a mean exactly at the threshold is not below it
    assert regime.loc["a", "gap"] == 1.0 and regime.loc["a", "free_of_overfitting"] == False  # noqa: E712
    assert regime.loc["a", "budget_gain"] == 1.0 and regime.loc["a", "converged"] == False  # noqa: E712
    # the intervals are at the confidence asked for
    gap = scipy_stats.t.interval(0.9, 2, loc=4.0, scale=scipy_stats.sem([5.0, 5.0, 2.0]))
    assert tuple(regime.loc["b", ["gap_ci_low", "gap_ci_high"]]) == pytest.approx(gap)
    gain = scipy_stats.t.interval(0.9, 2, loc=2.0, scale=scipy_stats.sem([2.0, 3.0, 1.0]))
    assert tuple(regime.loc["b", ["budget_gain_ci_low", "budget_gain_ci_high"]]) == pytest.approx(
        gain
    )
    empty = regime_table(observations, curves, "g", ["none-such"], 1.0, 1.0)
    assert empty.empty and list(empty.columns) == columns
    # each row names the thresholds it was judged by
    other = regime_table(
        observations, curves, "g", ["full"], 4.5, 1.5, half_budget={"full": "half"}
    )
    assert (other["gap_threshold"] == 4.5).all() and (other["plateau_points"] == 1.5).all()
    assert other.set_index("operator").loc["b", "free_of_overfitting"]  # a gap of 4.0 < 4.5


# --- analyze(): every table from its own inputs, with the options given ------------------------

WIRED_SEEDS = (0, 1, 2, 3)
# test accuracy per seed; training accuracy is test + gap
WIRED_RUNS = {
    ("primary", "max"): ([80.0, 82.0, 81.0, 83.5], 1.5),
    ("primary", "none_rf"): ([79.0, 82.5, 80.0, 82.0], 1.125),
    ("primary", "none"): ([60.0, 61.0, 63.0, 62.5], 0.2),
    ("primary_half", "max"): ([79.5, 81.7, 80.0, 83.0], 2.0),
    ("primary_half", "none_rf"): ([78.0, 82.0, 79.0, 81.5], 0.5),
    ("placed", "max"): ([90.0, 91.0, 92.0, 89.0], 1.0),
    ("sweep-n50-aug0", "max"): ([70.0, 71.0, 72.0, 69.0], 20.0),
}


def write_wired_run(folder, condition, operator, seed, test, gap):
    """One model's evaluation file (clean, shifted and, for ``placed``, placement rows), its
    metadata, its per-image record (200 images) and its learning curve."""
    stem = folder / f"{condition}-{operator}-{seed}"
    keys = ("e", "glyphs", condition, operator, seed)
    rows = [
        (*keys, "accuracy_train", "", NAN, NAN, test + gap, 8000),
        (*keys, "accuracy_test", "", NAN, NAN, test, 200),
    ]
    for dx, dy, loss in ((1, 0, 1.5), (0, 1, 2.5), (-1, -1, 4.0 + seed)):
        rows.append((*keys, "accuracy_shifted", "circular", dx, dy, test - loss, 20000))
    placement = None
    if condition == "placed":
        placement = {"canvas": 24, "region": "left"}
        for dx, dy, value in ((0, 0, test), (0, 4, test - 2), (4, 0, test - 30 - seed)):
            rows.append((*keys, "accuracy_shifted", "placement", dx, dy, value, 100))
        rows.append((*keys, "accuracy_placed_inside", "placement", NAN, NAN, test, 100))
        rows.append((*keys, "accuracy_placed_outside", "placement", NAN, NAN, test - 31, 100))
    pd.DataFrame(rows, columns=[*MODEL_KEYS, *COLUMNS]).to_csv(f"{stem}.csv", index=False)
    meta = {
        "dataset": "glyphs",
        "condition": condition,
        "operator": operator,
        "seed": seed,
        "parameters": 100 + seed,
        "flops": 2000,
        "receptive_field": 22,
        "feature_map_sizes": [16, 8, 4],
        "n_train": 256000,
        "device": "cpu",
        "wall_seconds": 3.0 + seed,
        "placement": placement,
    }
    Path(f"{stem}.json").write_text(json.dumps(meta))
    correct = np.random.default_rng(seed).random(200) < test / 100
    np.save(f"{stem}.npy", correct.astype(np.uint8))
    steps = [1000, 2000] if condition == "primary_half" else [1000, 2000, 3000, 4000]
    history = pd.DataFrame(
        {
            "step": steps,
            "train_loss": [2.0 / s for s in steps],
            "train_accuracy": [test + gap - 4000 / s for s in steps],
            "val_accuracy": [test - 4000 / s for s in steps],
            "seconds": [s / 100 for s in steps],
        }
    )
    history.to_csv(f"{stem}-history.csv", index=False)
    return Path(f"{stem}.csv"), Path(f"{stem}.json"), Path(f"{stem}.npy")


def wired_study(folder):
    runs = [
        write_wired_run(folder, condition, operator, seed, tests[seed], gap)
        for (condition, operator), (tests, gap) in WIRED_RUNS.items()
        for seed in WIRED_SEEDS
    ]
    evals, metas, records = (list(column) for column in zip(*runs, strict=True))
    histories = [path.with_name(path.stem + "-history.csv") for path in evals]
    return evals, metas, records, histories


WIRED_CONTRASTS = [
    {
        "name": name,
        "dataset": "glyphs",
        "metric": "accuracy_test",
        "protocol": "",
        "first": {"condition": "primary", "operator": first},
        "second": {"condition": "primary", "operator": second},
    }
    for name, first, second in (
        ("max - none_rf", "max", "none_rf"),
        ("none_rf - none", "none_rf", "none"),
    )
]


def test_analyze_builds_every_table_from_the_main_study_with_the_options_given(tmp_path):
    from poolstudy import stats
    from poolstudy.analyze import placement_curves, regime_table

    evals, metas, records, histories = wired_study(tmp_path)
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    regime = {
        "dataset": "glyphs",
        "conditions": ["primary"],
        "gap_threshold": 1.25,  # max's gap of 1.5 points is over it, none_rf's 1.125 under
        "plateau_points": 0.6,  # max gains 0.575 from the doubled budget, none_rf 0.75
        "half_budget": {"primary": "primary_half"},
    }
    out = tmp_path / "tables"
    tables = analyze(
        evals,
        metas,
        "e",
        out,
        tmp_path / "metrics.json",
        confidence=0.9,
        sweep_points=points,
        correct_paths=records,
        bootstrap_samples=300,
        contrasts=WIRED_CONTRASTS,
        margin=0.5,
        history_paths=histories,
        regime=regime,
    )
    main = [i for i, path in enumerate(evals) if "sweep" not in path.name]
    # the main study's observations: the files read back as written, in order, with a fresh
    # index, and each placement model's drop (inside - outside) after them
    read = pd.concat(
        [pd.read_csv(evals[i], keep_default_na=False, na_values=[""]) for i in main],
        ignore_index=True,
    )
    read["protocol"] = read["protocol"].fillna("")  # the clean rows have no protocol
    observations = tables["observations"]
    assert list(observations.columns) == [*MODEL_KEYS, *COLUMNS]
    assert list(observations.index) == list(range(len(read) + 4))
    pd.testing.assert_frame_equal(observations.iloc[: len(read)], read, check_dtype=False)
    drops = observations.iloc[len(read) :]
    assert set(drops["metric"]) == {"accuracy_placed_drop"} and (drops["value"] == 31.0).all()

    confidence, margin = 0.9, 0.5
    expected = {
        "summary": stats.summarize(observations, confidence),
        "paired": stats.paired_differences(observations, confidence=confidence),
        "shift_curves": stats.shift_curves(observations, confidence),
        "contrasts": stats.contrast_table(
            observations, WIRED_CONTRASTS, margin, confidence, {"primary": "primary_half"}
        ),
    }
    # the options reach each table: at another level or margin they differ
    assert not expected["summary"].equals(stats.summarize(observations, 0.95))
    assert not expected["contrasts"].equals(
        stats.contrast_table(observations, WIRED_CONTRASTS, 1.0, confidence)
    )
    models = tables["models"]
    assert len(models) == len(main) and (models["experiment"] == "e").all()
    assert "sweep-n50-aug0" not in set(models["condition"])
    assert list(models["wall_seconds"]) == [3.0 + s for _ in range(6) for s in WIRED_SEEDS]
    expected["placement"] = placement_curves(observations, models, confidence)
    assert len(expected["placement"]) == 2 and set(expected["placement"]["region"]) == {"left"}
    for name, table in expected.items():
        pd.testing.assert_frame_equal(tables[name], table, obj=name)
        assert len(table) > 0, name
    assert (
        tables["placement"]["ci_low"].iloc[1]
        != placement_curves(observations, models)["ci_low"].iloc[1]
    )

    # bootstrap: the main study's per-image records only, at the level and samples given
    bootstrap = tables["bootstrap"]
    assert "sweep-n50-aug0" not in set(bootstrap["condition"])
    pd.testing.assert_frame_equal(
        bootstrap,
        stats.bootstrap_table(
            read_correct([evals[i] for i in main], [records[i] for i in main]),
            confidence=confidence,
            samples=300,
        ),
    )

    # the sweep: its own runs, summarised at the level given
    sweep = tables["sweep"]
    assert set(sweep["condition"]) == {"sweep-n50-aug0"} and (sweep["n_train"] == 50).all()
    gap = sweep.set_index("metric").loc["gap"]
    assert gap["mean"] == pytest.approx(20.0) and gap["n"] == 4
    test = sweep.set_index("metric").loc["accuracy_test"]
    from scipy import stats as scipy_stats

    values = WIRED_RUNS[("sweep-n50-aug0", "max")][0]
    interval = scipy_stats.t.interval(0.9, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (test["ci_low"], test["ci_high"]) == pytest.approx(interval)

    # learning curves: every run's history with its keys, the experiment named
    curves = tables["learning_curves"]
    assert len(curves) == 20 * 4 + 8 * 2  # 28 runs, the 8 of primary_half with 2 points
    assert (curves["experiment"] == "e").all()
    assert set(curves["condition"]) == {c for c, _ in WIRED_RUNS}

    # the regime, at the thresholds, level and half budget given
    regime_rows = tables["regime"].set_index("operator")
    pd.testing.assert_frame_equal(
        tables["regime"],
        regime_table(
            observations, curves, "glyphs", ["primary"], 1.25, 0.6, 0.9, {"primary": "primary_half"}
        ),
    )
    assert regime_rows.loc["max", "free_of_overfitting"] == False  # noqa: E712
    assert regime_rows.loc["none_rf", "free_of_overfitting"] == True  # noqa: E712
    assert regime_rows.loc["max", "converged"] == True  # noqa: E712
    assert regime_rows.loc["none_rf", "converged"] == False  # noqa: E712
    assert (regime_rows["plateau_points"] == 0.6).all()

    # every table is written under its own name, as returned
    for name, table in tables.items():
        written = pd.read_csv(out / f"{name}.csv")
        assert list(written.columns) == list(table.columns), name
        assert len(written) == len(table), name
    assert sorted(p.stem for p in out.iterdir()) == sorted(tables)
    assert sorted(tables) == sorted(
        (
            "observations summary paired shift_curves models placement bootstrap "
            "sweep_observations sweep sweep_plot accuracy_plot contrasts "
            "learning_curves regime"
        ).split()
    )


def test_analyze_defaults_margin_samples_and_thresholds(tmp_path):
    from poolstudy import stats

    evals, metas, records, histories = wired_study(tmp_path)
    points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    # a regime that names only its dataset and conditions: thresholds of 1 point
    regime = {"dataset": "glyphs", "conditions": ["primary"]}
    tables = analyze(
        evals,
        metas,
        "e",
        tmp_path / "tables",
        tmp_path / "metrics.json",
        sweep_points=points,
        correct_paths=records,
        contrasts=WIRED_CONTRASTS,
        history_paths=histories,
        regime=regime,
    )
    observations = tables["observations"]
    pd.testing.assert_frame_equal(
        tables["contrasts"], stats.contrast_table(observations, WIRED_CONTRASTS, 1.0, 0.95)
    )
    main = [i for i, path in enumerate(evals) if "sweep" not in path.name]
    records = read_correct([evals[i] for i in main], [records[i] for i in main])
    bootstrap = stats.bootstrap_table(records, samples=2000)
    pd.testing.assert_frame_equal(tables["bootstrap"], bootstrap)
    assert not bootstrap.equals(stats.bootstrap_table(records, samples=2001))
    regime_rows = tables["regime"].set_index("operator")
    assert (regime_rows["plateau_points"] == 1.0).all() and regime_rows["converged"].isna().all()
    # max's gap of 1.5 points and none_rf's 1.125 are over the default 1-point threshold
    assert list(regime_rows["free_of_overfitting"]) == [False, False, True]
    # without histories, the learning curves are empty and the regime has no steps
    bare = analyze(evals, metas, "e", tmp_path / "bare", tmp_path / "m.json")
    assert bare["learning_curves"].empty and bare["regime"].empty
    assert bare["contrasts"].empty and bare["bootstrap"].empty
    assert list(bare["bootstrap"].columns) == list(tables["bootstrap"].columns)


def test_the_analyze_command_takes_the_configs_settings_and_needs_the_margin_of_contrasts(
    capsys,
):
    """The command declares no default of a config key: the rule passes the validated
    config's, and contrasts without their margin are refused in one line."""
    from poolstudy import cli

    command = ["analyze", "--evals", "e.csv", "--metas", "m.json", "--experiment", "x"]
    command += ["--out-dir", "out", "--metrics", "m.json"]
    settings = ["--bootstrap-samples", "100", "--confidence", "0.9"]
    contrasts = ["--contrasts", json.dumps([{"name": "max - none"}])]
    assert cli.main([*command, *settings, *contrasts]) == 2
    assert capsys.readouterr().err == (
        "poolstudy analyze: --contrasts needs --margin: the config's primary.margin\n"
    )
    for left_out in ("--bootstrap-samples", "--confidence"):
        given = settings[2:] if left_out == settings[0] else settings[:2]
        with pytest.raises(SystemExit):
            cli.main([*command, *given])
        assert f"the following arguments are required: {left_out}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (["--confidence", "1.5"],
         "argument --confidence: config key stats.confidence: 1.5 is greater than or equal to the "
         "maximum of 1"),
        (["--bootstrap-samples", "-5"],
         "argument --bootstrap-samples: config key stats.bootstrap_samples: -5 is less than the "
         "minimum of 100"),
        (["--margin", "-1"],
         "argument --margin: config key primary.margin: -1 is less than or equal to the minimum "
         "of 0"),
        (["--margin", "Infinity"],
         "argument --margin: config key primary.margin: must be a finite number, not inf"),
    ],
    ids=["confidence", "bootstrap samples", "margin", "infinite margin"],
)  # fmt: skip
def test_the_analyze_commands_settings_are_refused_where_the_config_would_refuse_them(
    capsys, setting, message
):
    from poolstudy import cli

    command = ["analyze", "--evals", "e.csv", "--metas", "m.json", "--experiment", "x"]
    command += ["--out-dir", "out", "--metrics", "m.json"]
    settings = {"--bootstrap-samples": "100", "--confidence": "0.9"} | dict([setting])
    with pytest.raises(SystemExit) as stopped:
        cli.main([*command, *(item for pair in settings.items() for item in pair)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"poolstudy analyze: error: {message}"


def test_evaluation_columns_are_what_evaluate_writes():
    from poolstudy.analyze import EVALUATION_COLUMNS

    assert EVALUATION_COLUMNS == [*MODEL_KEYS, *COLUMNS]


def _spoil_csv(path, problem):
    frame = pd.read_csv(path)
    if problem == "binary":
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
        return "not CSV"
    if problem == "empty":
        path.write_text("")
        return "not CSV"
    if problem == "header":  # a write cut short after the header
        path.write_text(path.read_text().splitlines()[0] + "\n")
        return "no rows"
    if problem == "text":
        frame.assign(value=["x", "90.0"]).to_csv(path, index=False)
        return "text in column value"
    frame.drop(columns=[problem]).to_csv(path, index=False)
    return f"no column {problem}"


@pytest.mark.parametrize("problem", ["binary", "empty", "value", "seed", "n", "header", "text"])
def test_an_evaluation_file_that_is_not_one_is_refused_naming_it(tmp_path, problem):
    from poolstudy.atomic import CorruptFile

    runs = [write_run(tmp_path, "c", "max", seed, 90.0, 95.0) for seed in (0, 1)]
    expected = _spoil_csv(runs[1][0], problem)
    with pytest.raises(CorruptFile) as info:
        analyze_runs(tmp_path, runs)
    message = str(info.value)
    assert message.startswith(f"{runs[1][0]}: not an evaluation file ({expected}")
    assert message.endswith("run the step that writes it again")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (b"\xff\xfe\x00".decode("latin-1"), "not JSON"),
        ("drop:flops", "no key flops"),
        ("drop:feature_map_sizes", "no key feature_map_sizes"),
        ("drop:dataset", "no key dataset"),
        ("set:seed:'x'", "seed is not a whole number: 'x'"),
        ("set:seed:True", "seed is not a whole number: True"),
        ("set:dataset:None", "dataset is not text: None"),
        ("set:feature_map_sizes:[]", "feature_map_sizes is not a non-empty list: []"),
        ("set:feature_map_sizes:5", "feature_map_sizes is not a non-empty list: 5"),
        ("set:flops:'many'", "flops is not a number: 'many'"),
        ("set:placement:'x'", "placement is not an object: 'x'"),
        ("set:steps:'x'", "steps is not a number: 'x'"),
    ],
)
def test_a_metadata_file_that_is_not_one_is_refused_naming_it(tmp_path, content, expected):
    from poolstudy.atomic import CorruptFile

    runs = [write_run(tmp_path, "c", "max", seed, 90.0, 95.0) for seed in (0, 1)]
    meta = runs[0][1]
    if content.startswith("drop:"):
        data = json.loads(meta.read_text())
        del data[content.removeprefix("drop:")]
        meta.write_text(json.dumps(data))
    elif content.startswith("set:"):
        _, key, value = content.split(":", 2)
        data = json.loads(meta.read_text())
        data[key] = eval(value)
        meta.write_text(json.dumps(data))
    else:
        meta.write_bytes(content.encode("latin-1"))
    with pytest.raises(CorruptFile) as info:
        analyze_runs(tmp_path, runs)
    assert str(info.value).startswith(f"{meta}: not a run's metadata ({expected}")


def test_learning_curves_and_records_that_are_not_ones_are_refused_naming_them(tmp_path):
    from poolstudy.atomic import CorruptFile

    evals, metas, records, histories = wired_study(tmp_path)
    options = {"correct_paths": records, "history_paths": histories}

    def run():
        return analyze(evals, metas, "e", tmp_path / "tables", tmp_path / "m.json", **options)

    run()  # the study as written is read
    pd.read_csv(histories[2]).drop(columns=["val_accuracy"]).to_csv(histories[2], index=False)
    with pytest.raises(CorruptFile) as info:
        run()
    assert str(info.value).startswith(
        f"{histories[2]}: not a learning curve (no column val_accuracy)"
    )
    options["history_paths"] = None
    good = np.load(records[1])
    spoilt = [
        (b"not an array", "not a NumPy .npy file"),
        (b"a,b\n1,2\n", "not a NumPy .npy file"),
        (good[:150], "150 entries for the 200 test images its evaluation counts"),
        (good.reshape(2, 100), "2-D uint8 array, not a 1-D array of 0 and 1"),
        (good * 2, "1-D uint8 array, not a 1-D array of 0 and 1"),
        (good * 0.7, "1-D float64 array, not a 1-D array of 0 and 1"),
        (good.astype(str), "1-D <U3 array, not a 1-D array of 0 and 1"),
    ]
    for content, problem in spoilt:
        if isinstance(content, bytes):
            records[1].write_bytes(content)
        else:
            np.save(records[1], content)
        with pytest.raises(CorruptFile) as info:
            run()
        assert str(info.value) == (
            f"{records[1]}: not a per-image record ({problem}); run the step that writes it again"
        )
    np.save(records[1], good.astype(bool))
    run()  # a record of truth values is one
    records[1].unlink()
    with pytest.raises(FileNotFoundError):  # missing, not corrupt: the command says so
        run()


def test_the_analyze_command_refuses_a_bad_input_in_one_line(tmp_path, capsys):
    from poolstudy import cli

    path, meta = write_run(tmp_path, "c", "max", 0, 90.0, 95.0)
    meta.write_text("{}")
    command = ["analyze", "--evals", str(path), "--metas", str(meta), "--experiment", "e"]
    command += ["--out-dir", str(tmp_path / "t"), "--metrics", str(tmp_path / "m.json")]
    command += ["--bootstrap-samples", "100", "--confidence", "0.95"]
    assert cli.main(command) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{meta}: not a run's metadata (no key dataset, condition" in err
    assert "Traceback" not in err


def test_a_mean_gain_on_the_threshold_up_to_float_noise_is_not_below_it():
    """Gains of 0.95, 1.00 and 1.05 points average to 0.9999999999999952 in floats: on the
    threshold of 1, so the network has not converged (and the paper prints +1.0)."""
    from poolstudy.analyze import shown_below

    full = [90.96, 91.04, 91.02]
    half = [90.01, 90.04, 89.97]
    gains = np.array(full) - np.array(half)
    assert gains.mean() < 1.0  # the float noise this is about
    regime = budget_regime({"max": full}, {"max": half}, 10000)
    assert bool(regime.loc["max", "converged"]) is False
    assert shown_below(0.999, 3, 1.0) is True and shown_below(1.0 - 1e-12, 3, 1.0) is False


def test_read_correct_refuses_an_evaluation_file_in_one_line_naming_it(tmp_path):
    """read_correct reads the evaluation files itself: one of a single accuracy_test row is
    one, one that is not CSV or has no accuracy_test row is refused naming the file."""
    from poolstudy.atomic import CorruptFile

    path, _ = write_run(tmp_path, "gap", "max", 4, 90.0, 99.0)
    record = tmp_path / "record.npy"
    np.save(record, np.ones(10, dtype=np.uint8))
    frame = pd.read_csv(path)
    frame[frame["metric"] == "accuracy_test"].to_csv(path, index=False)  # its only row
    (row,) = read_correct([path], [record]).to_dict("records")
    assert row["seed"] == 4 and row["correct"].tolist() == [1] * 10
    again = "; run the step that writes it again"
    frame[frame["metric"] == "accuracy_train"].to_csv(path, index=False)
    with pytest.raises(CorruptFile) as info:
        read_correct([path], [record])
    assert str(info.value) == f"{path}: not an evaluation file (no accuracy_test row){again}"
    path.write_text("")
    with pytest.raises(CorruptFile) as info:
        read_correct([path], [record])
    reason = library_error(pd.read_csv, path)  # pandas' words, whichever version
    assert str(info.value) == f"{path}: not an evaluation file (not CSV: {reason}){again}"


def test_read_input_table_words_the_parsers_error_and_every_missing_column(tmp_path):
    from poolstudy.analyze import EVALUATION_COLUMNS, read_input_table
    from poolstudy.atomic import CorruptFile

    path, _ = write_run(tmp_path, "gap", "max", 4, 90.0, 99.0)
    pd.read_csv(path).drop(columns=["value", "n"]).to_csv(path, index=False)
    with pytest.raises(CorruptFile) as info:
        read_input_table(path, EVALUATION_COLUMNS, "a table")
    assert str(info.value) == (
        f"{path}: not a table (no column value, n); run the step that writes it again"
    )
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(CorruptFile) as info:
        read_input_table(path, EVALUATION_COLUMNS, "a table")
    reason = library_error(pd.read_csv, path)
    assert "codec can't decode byte 0x89" in reason
    assert str(info.value) == (
        f"{path}: not a table (not CSV: {reason}); run the step that writes it again"
    )


def test_a_per_image_record_numpy_cannot_read_is_refused_with_numpys_reason(tmp_path):
    """A pickled (object) array is never unpickled: numpy refuses it, and so does the
    record's reader, with numpy's reason; so is a file cut short."""
    from poolstudy.analyze import read_image_record
    from poolstudy.atomic import CorruptFile

    path = tmp_path / "record.npy"
    np.save(path, np.array([1, None, 0], dtype=object), allow_pickle=True)
    with pytest.raises(CorruptFile) as info:
        read_image_record(path, 3)
    reason = library_error(np.load, path)  # numpy's words, whichever version
    assert "allow_pickle" in reason
    assert str(info.value) == (
        f"{path}: not a per-image record ({reason}); run the step that writes it again"
    )
    np.save(path, np.ones(10, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptFile) as info:
        read_image_record(path, 10)
    reason = library_error(np.load, path)
    assert str(info.value) == (
        f"{path}: not a per-image record ({reason}); run the step that writes it again"
    )


def library_error(read, path) -> str:
    """The words of the error that a library's ``read`` raises on ``path``: what a refusal that
    quotes the library's reason holds, worded as the installed version words it."""
    try:
        read(path)
    except Exception as error:  # noqa: BLE001 - any of the library's errors is what is asked
        return str(error)
    raise AssertionError(f"{read.__name__} read {path}")
