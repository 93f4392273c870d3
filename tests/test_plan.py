"""What the pipeline runs: the main grid and the data-size sweep."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from poolstudy.config import ConfigError, validate_config
from poolstudy.plan import (
    Run,
    all_conditions,
    condition_settings,
    conditions_summary,
    datasets_used,
    paper_settings,
    planned_runs,
    sweep_points,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text()) | {
    # A study of one dataset and two conditions over every operator, whatever the shipped
    # default holds (its conditions are tested through the config checks and the e2e run).
    "datasets": ["digits"],
    "conditions": {"gap": {}, "flatten": {"model": {"head": "flatten"}}},
    "primary": None,
}


def config_with_sweep(**sweep) -> dict:
    config = copy.deepcopy(DEFAULT)
    config["sweep"] = {
        "dataset": "glyphs",
        "operators": ["none", "max"],
        "seeds": [0],
        "n_train": [100, 400],
        "augment_shift": [0, 2],
        "base": "gap",
        **sweep,
    }
    return validate_config(config)


def test_main_grid_is_every_combination():
    config = validate_config(copy.deepcopy(DEFAULT) | {"sweep": None})
    runs = planned_runs(config)
    per_condition = [
        c.get("operators") or config["operators"] for c in config["conditions"].values()
    ]
    expected = (
        len(config["datasets"]) * sum(len(ops) for ops in per_condition) * len(config["seeds"])
    )
    assert len(runs) == len(set(runs)) == expected
    assert sweep_points(config) == {}


def test_sweep_adds_one_condition_per_size_and_augmentation():
    config = config_with_sweep()
    points = sweep_points(config)
    assert points == {
        "sweep-n100-aug0": {"n_train": 100, "augment_shift": 0},
        "sweep-n400-aug0": {"n_train": 400, "augment_shift": 0},
        "sweep-n100-aug2": {"n_train": 100, "augment_shift": 2},
        "sweep-n400-aug2": {"n_train": 400, "augment_shift": 2},
    }
    sweep_runs = [run for run in planned_runs(config) if run.condition in points]
    assert len(sweep_runs) == 4 * 2 * 1
    assert Run("glyphs", "sweep-n400-aug2", "max", 0) in sweep_runs
    assert datasets_used(config) == [*config["datasets"], "glyphs"]


def test_sweep_conditions_start_from_the_base_and_skip_shifted_tests():
    config = config_with_sweep(base="flatten")
    settings = condition_settings(config, "sweep-n400-aug2")
    assert settings["train"]["n_train"] == 400
    assert settings["train"]["augment_shift"] == 2
    assert settings["model"]["head"] == "flatten"
    assert settings["evaluate"]["protocols"] == []
    assert (
        condition_settings(config, "gap")["evaluate"]["protocols"]
        == (config["evaluate"]["protocols"])
    )
    assert set(all_conditions(config)) == {*config["conditions"], *sweep_points(config)}


def test_sweep_step_budget_goes_to_every_sweep_point_only():
    config = config_with_sweep(steps=300)
    for condition in sweep_points(config):
        assert condition_settings(config, condition)["train"]["steps"] == 300
    assert condition_settings(config, "gap")["train"]["steps"] is None
    without = config_with_sweep()
    assert condition_settings(without, "sweep-n100-aug0")["train"]["steps"] is None


def test_sweep_names_are_checked():
    with pytest.raises(ConfigError, match="sweep.base"):
        config_with_sweep(base="nope")
    with pytest.raises(ConfigError, match="sweep.operators"):
        config_with_sweep(operators=["maxx"])
    with pytest.raises(ConfigError, match="sweep.dataset"):
        config_with_sweep(dataset="glyph")


def test_a_condition_may_train_a_subset_of_the_operators():
    config = copy.deepcopy(DEFAULT) | {"sweep": None}
    config["conditions"] = {"gap": {}, "few": {"operators": ["none", "max"]}}
    config = validate_config(config)
    runs = planned_runs(config)
    few = {run.operator for run in runs if run.condition == "few"}
    assert few == {"none", "max"}
    assert {run.operator for run in runs if run.condition == "gap"} == set(config["operators"])
    assert len(runs) == (len(config["operators"]) + 2) * len(config["seeds"])


def test_the_conditions_summary_gives_each_condition_its_own_resolved_settings():
    config = copy.deepcopy(DEFAULT) | {"sweep": None}
    config["conditions"] = {
        "gap": {},
        "short": {
            "operators": ["max"],
            "model": {"head": "flatten", "widths": [4, 8]},
            "train": {"steps": 50, "lr": 0.3, "augment_shift": 2},
            "evaluate": {"protocols": [], "shift_images": 100},
        },
    }
    config = validate_config(config)
    gap, short = conditions_summary(config)
    assert gap["name"] == "gap" and short["name"] == "short"
    assert gap["operators"] == config["operators"] and short["operators"] == ["max"]
    assert gap["datasets"] == short["datasets"] == ["digits"]
    # the base settings where a condition does not override them, its own where it does
    assert (gap["head"], gap["steps"], gap["lr"]) == ("gap", None, config["train"]["lr"])
    assert gap["protocols"] == config["evaluate"]["protocols"]
    assert (short["head"], short["widths"], short["steps"]) == ("flatten", [4, 8], 50)
    assert (short["lr"], short["augment_shift"], short["protocols"]) == (0.3, 2, [])
    assert short["shift_images"] == 100 and gap["shift_images"] is None
    assert short["epochs"] == gap["epochs"] == config["train"]["epochs"]


def test_the_paper_quotes_the_training_and_evaluation_of_the_primary_condition():
    config = copy.deepcopy(DEFAULT) | {"sweep": None}
    config["conditions"] = {
        "first": {
            "train": {"lr": 0.7, "steps": 30, "batch_size": 16},
            "evaluate": {"max_shift": 1, "consistency_shift": 2, "protocols": ["crop"]},
            "model": {"widths": [4, 8]},
        },
        "other": {"train": {"lr": 0.01}, "evaluate": {"max_shift": 3}},
    }
    settings = paper_settings(validate_config(config))
    assert (settings["lr"], settings["batch_size"], settings["widths"]) == (0.7, 16, "4, 8")
    assert (settings["max_shift"], settings["consistency_shift"]) == (1, 2)
    assert settings["protocols"] == "crop"
    assert settings["epochs"] == config["train"]["epochs"]  # not overridden: the base's
    assert settings["conditions"] == "first, other" and settings["n_conditions"] == 2
    assert [entry["lr"] for entry in settings["conditions_table"]] == [0.7, 0.01]
    assert settings["data_options"] == {"digits": config["data"]["options"]["digits"]}


def test_the_flop_family_joins_conditions_that_differ_in_widths_alone():
    from poolstudy.plan import compute_conditions, primary_problems, primary_regime

    config = copy.deepcopy(DEFAULT)
    config["conditions"] = {
        "gap": {},
        "narrow": {"model": {"widths": [4, 8, 16]}},
        "flatten": {"model": {"head": "flatten"}},
    }
    config["primary"] = {"dataset": "digits", "condition": "gap", "contrasts": ["max - none"]}
    config = validate_config(config)
    assert compute_conditions(config) == ["gap"]  # none declared: the primary condition
    config["primary"]["compute"] = ["narrow", "gap"]
    assert primary_problems(config) == []
    assert compute_conditions(config) == ["narrow", "gap"]
    regime = primary_regime(config)
    assert regime["compute"] == ["narrow", "gap"] and regime["conditions"] == ["gap", "narrow"]
    config["primary"]["compute"] = ["narrow", "gap", "flatten"]
    (problem,) = primary_problems(config)
    assert "primary.compute[2]" in problem and "model.head" in problem


def test_the_half_budget_condition_differs_from_the_primary_one_in_steps_alone():
    from poolstudy.plan import half_budget, primary_problems, primary_regime

    config = copy.deepcopy(DEFAULT)
    config["conditions"] = {
        "gap": {"operators": ["none", "max"], "train": {"steps": 40}},
        "half": {"operators": ["max"], "train": {"steps": 20}},
    }
    config["primary"] = {"dataset": "digits", "condition": "gap", "contrasts": ["max - none"]}
    config = validate_config(config)
    assert half_budget(config) == {} and primary_regime(config)["half_budget"] == {}
    config["primary"]["half_budget"] = "half"
    assert primary_problems(config) == []
    assert primary_regime(config)["half_budget"] == {"gap": "half"}
    assert primary_regime(config)["conditions"] == ["gap"]  # checks it, is not part of it

    def problems(**half) -> str:
        broken = copy.deepcopy(config)
        broken["conditions"]["half"] = {"operators": ["max"], **half}
        return " ".join(primary_problems(broken))

    assert "not half of 'gap''s 40" in problems(train={"steps": 10})
    assert "must set train.steps" in problems(train={"epochs": 2})
    assert "model.head" in problems(train={"steps": 20}, model={"head": "flatten"})
    assert "train.lr" in problems(train={"steps": 20, "lr": 0.5})
    assert problems(train={"steps": 20}, evaluate={"protocols": ["circular"]}) == ""
    assert "operators that 'gap' does not (stride)" in problems(
        operators=["max", "stride"], train={"steps": 20}
    )
    config["primary"]["half_budget"] = "nowhere"
    assert "unknown condition 'nowhere'" in " ".join(primary_problems(config))
    config["primary"]["half_budget"] = "gap"
    assert "the condition it checks itself" in " ".join(primary_problems(config))


def test_a_mapping_checks_each_condition_of_the_contrasts_against_its_own_half_budget():
    from poolstudy.plan import primary_problems, primary_regime

    config = copy.deepcopy(DEFAULT)
    config["conditions"] = {
        "gap": {"operators": ["none", "max"], "train": {"steps": 40}},
        "half": {"operators": ["max"], "train": {"steps": 20}},
        "flat": {"operators": ["max"], "model": {"head": "flatten"}, "train": {"steps": 40}},
        "flat_half": {"operators": ["max"], "model": {"head": "flatten"}, "train": {"steps": 20}},
    }
    config["primary"] = {
        "dataset": "digits",
        "condition": "gap",
        "contrasts": ["max - none", "flat:max - max"],
        "half_budget": {"gap": "half", "flat": "flat_half"},
    }
    config = validate_config(config)
    assert primary_problems(config) == []
    regime = primary_regime(config)
    assert regime["half_budget"] == {"gap": "half", "flat": "flat_half"}
    assert regime["conditions"] == ["gap", "flat"]
    # each half-budget condition is held to its own checked condition's settings
    config["primary"]["half_budget"] = {"gap": "half", "flat": "half"}
    (problem,) = primary_problems(config)
    assert problem.startswith("config key primary.half_budget.flat: condition 'half' differs")
    assert "model.head" in problem
    config["primary"]["half_budget"] = {"gap": "half", "flat_half": "half"}
    (problem,) = primary_problems(config)
    assert "primary.half_budget.flat_half: condition 'flat_half' is on no side" in problem
