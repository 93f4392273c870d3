"""Evaluation files and run metadata become the tidy tables; the sweep is kept apart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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


def test_without_a_sweep_the_sweep_tables_are_empty_with_their_columns(tmp_path):
    paths = [write_run(tmp_path, "gap", "max", s, 90.0, 99.0) for s in (0, 1)]
    tables = analyze_runs(tmp_path, paths)
    assert tables["sweep"].empty and "n_train" in tables["sweep"].columns
    reread = pd.read_csv(tmp_path / "tables" / "sweep.csv")
    assert reread.empty and "augment_shift" in reread.columns


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
