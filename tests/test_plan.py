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


def test_the_paper_quotes_the_configured_primary_condition_where_it_is_not_the_first():
    config = copy.deepcopy(DEFAULT) | {"sweep": None}
    config["conditions"] = {
        "first": {"evaluate": {"max_shift": 1}},
        "main": {"train": {"lr": 0.3}, "evaluate": {"max_shift": 3, "protocols": ["crop"]}},
    }
    config["primary"] = {"condition": "main", "contrasts": ["max - none"]}
    settings = paper_settings(validate_config(config))
    assert (settings["lr"], settings["max_shift"], settings["protocols"]) == (0.3, 3, "crop")
    assert settings["conditions"] == "first, main"


def known_study(sweep_steps: int | None) -> dict:
    """A study whose every setting the paper quotes has its own value, none the default's."""
    config = copy.deepcopy(DEFAULT)
    config |= {"experiment": "known", "seeds": [3, 4, 5], "datasets": ["digits"]}
    config["stats"] |= {"confidence": 0.95, "bootstrap_samples": 123}
    config["train"] |= {"epochs": 7, "batch_size": 24, "lr": 0.25, "augment_shift": 1}
    config["evaluate"] |= {"max_shift": 4, "consistency_shift": 3, "subpixel_step": 0.5}
    config["evaluate"]["protocols"] = ["circular", "crop"]
    config["model"] |= {"widths": [6, 10], "head": "gap", "padding_mode": "circular"}
    config["data"]["options"]["digits"] = {"size": 20, "canvas": 24}
    config["conditions"] = {
        "gap": {},
        "short": {
            "operators": ["max"],
            "model": {"head": "flatten"},
            "train": {"steps": 50, "batch_size": 12, "augment_shift": 0},
            "evaluate": {"shift_images": 60},
            "placement": {"canvas": 40},
        },
    }
    config["sweep"] = {
        "dataset": "digits",
        "operators": ["none", "max"],
        "seeds": [0],
        "n_train": [100],
        "augment_shift": [0],
        "base": "short",
        "gap_threshold": 2.5,
        "fit_floor": 90.0,
        "steps": sweep_steps,
    }
    config["primary"] = {
        "dataset": "digits",
        "condition": "gap",
        "contrasts": ["max - none", "maxdil - none"],
        "answer": ["max - none"],
        "mechanisms": {"what it computes": "maxdil - none", "pooling": "max - none"},
    }
    return validate_config(config)


def test_the_paper_quotes_every_setting_as_the_config_states_it():
    operators = ["none", "max", "stride", "none_rf", "maxdil", "convpool"]
    assert DEFAULT["operators"] == operators
    condition = {
        "datasets": ["digits"],
        "widths": [6, 10],
        "epochs": 7,
        "lr": 0.25,
        "protocols": ["circular", "crop"],
        "max_shift": 4,
        "consistency_shift": 3,
    }
    assert paper_settings(known_study(sweep_steps=None)) == {
        "experiment": "known",
        "seeds": 3,
        "epochs": 7,
        "batch_size": 24,
        "lr": 0.25,
        "augment_shift": 1,
        "max_shift": 4,
        "consistency_shift": 3,
        "subpixel_step": 0.5,
        "protocols": "circular, crop",
        "confidence": 95,
        "confidence_text": "95",
        "bootstrap_samples": 123,
        "widths": "6, 10",
        "head": "gap",
        "conditions": "gap, short",
        "conditions_table": [
            {
                "name": "gap",
                "operators": operators,
                "head": "gap",
                "placement_canvas": None,
                "steps": None,
                "batch_size": 24,
                "augment_shift": 1,
                "shift_images": None,
                **condition,
            },
            {
                "name": "short",
                "operators": ["max"],
                "head": "flatten",
                "placement_canvas": 40,
                "steps": 50,
                "batch_size": 12,
                "augment_shift": 0,  # placement draws the positions
                "shift_images": 60,
                **condition,
            },
        ],
        "data_options": {"digits": {"size": 20, "canvas": 24}},
        "n_conditions": 2,
        "padding_mode": "circular",
        "sweep_gap_threshold": 2.5,
        "sweep_fit_floor": 90.0,
        "sweep_steps": "none",
        "sweep_batch_size": 12,  # its base condition's
        "answer": ["max - none"],
        "mechanisms": [("what it computes", "maxdil - none"), ("pooling", "max - none")],
    }
    config = known_study(sweep_steps=300)
    assert paper_settings(config)["sweep_steps"] == 300
    config["stats"]["confidence"] = 0.975
    settings = paper_settings(config)
    assert (settings["confidence"], settings["confidence_text"]) == (98, "97.5")


def test_a_study_without_a_sweep_or_primary_contrasts_quotes_neither():
    config = copy.deepcopy(known_study(sweep_steps=None)) | {"sweep": None, "primary": None}
    settings = paper_settings(validate_config(config))
    assert not [key for key in settings if key.startswith("sweep")]
    assert (settings["answer"], settings["mechanisms"]) == ([], [])


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


def with_primary(**primary) -> dict:
    """DEFAULT (conditions gap and flatten, every operator, on digits) declaring ``primary``,
    validated: the schema fills what it leaves out."""
    return validate_config(copy.deepcopy(DEFAULT) | {"primary": primary})


def test_primary_contrasts_and_regime_resolve_every_setting_and_its_default():
    from poolstudy.plan import primary_contrasts, primary_regime

    config = with_primary(contrasts=["max - none", "flatten:max - max"])
    assert primary_contrasts(config) == [
        {
            "name": "max - none",
            "dataset": "digits",  # the first studied
            "metric": "accuracy_test",
            "protocol": "",
            "first": {"condition": "gap", "operator": "max"},  # the first condition
            "second": {"condition": "gap", "operator": "none"},
        },
        {
            "name": "flatten:max - max",
            "dataset": "digits",
            "metric": "accuracy_test",
            "protocol": "",
            "first": {"condition": "flatten", "operator": "max"},
            "second": {"condition": "gap", "operator": "max"},
        },
    ]
    assert primary_regime(config) == {
        "dataset": "digits",
        "conditions": ["gap", "flatten"],
        "compute": ["gap"],
        "gap_threshold": 1.0,
        "plateau_points": 1.0,
        "half_budget": {},
    }
    config = validate_config(
        copy.deepcopy(DEFAULT)
        | {
            "datasets": ["digits", "glyphs"],
            "conditions": {"gap": {}, "flatten": {"model": {"head": "flatten"}}, "half": {}},
            "primary": {
                "contrasts": ["max - gap:none"],
                "dataset": "glyphs",
                "condition": "flatten",
                "metric": "consistency",
                "protocol": "crop",
                "gap_threshold": 2.5,
                "plateau_points": 0.5,
            },
        }
    )
    (contrast,) = primary_contrasts(config)
    assert (contrast["dataset"], contrast["metric"], contrast["protocol"]) == (
        "glyphs",
        "consistency",
        "crop",
    )
    assert contrast["first"] == {"condition": "flatten", "operator": "max"}
    regime = primary_regime(config)
    assert (regime["gap_threshold"], regime["plateau_points"]) == (2.5, 0.5)
    assert regime["conditions"] == ["flatten", "gap"] and regime["compute"] == ["flatten"]


def test_a_single_half_budget_checks_the_declared_primary_condition():
    from poolstudy.plan import half_budget

    config = copy.deepcopy(DEFAULT)
    config["conditions"] = {
        "gap": {"train": {"steps": 40}},
        "flatten": {"model": {"head": "flatten"}, "train": {"steps": 40}},
        "flatten_half": {"model": {"head": "flatten"}, "train": {"steps": 20}},
    }
    config["primary"] = {
        "condition": "flatten",  # not the first condition
        "contrasts": ["max - none"],
        "half_budget": "flatten_half",
    }
    assert half_budget(validate_config(config)) == {"flatten": "flatten_half"}


def primary_problem_list(conditions: dict, **primary) -> list[str]:
    """The problems of a study of digits and glyphs with these conditions and ``primary``."""
    from poolstudy.plan import primary_problems

    config = copy.deepcopy(DEFAULT) | {"conditions": conditions, "datasets": ["digits", "glyphs"]}
    config = validate_config(config | {"primary": None})
    config["primary"] = with_primary(contrasts=["max - none"])["primary"] | primary
    return primary_problems(config)


GAP_40 = {"gap": {"train": {"steps": 40}}}


@pytest.mark.parametrize(
    ("conditions", "primary", "problems"),
    [
        (
            {"gap": {}, "flatten": {"model": {"head": "flatten"}}},
            {"dataset": "mnist"},
            [
                "config key primary.dataset: 'mnist' is not studied; choose one of: digits, glyphs",
            ],
        ),
        (
            {"gap": {}, "flatten": {"model": {"head": "flatten"}}},
            {"contrasts": ["nowhere:max - max", "flatten:convpool - flatten:maxx"]},
            [
                "config key primary.contrasts[0] ('nowhere:max - max'): unknown condition "
                "'nowhere'; choose one of: gap, flatten",
                "config key primary.contrasts[1] ('flatten:convpool - flatten:maxx'): condition "
                "'flatten' does not train 'maxx'; it trains: none, max, stride, none_rf, "
                "maxdil, convpool",
            ],
        ),
        (
            {"gap": {}, "flatten": {"model": {"head": "flatten"}}},
            {"answer": ["max - stride"], "mechanisms": {"size": "max - none", "rf": "a - b"}},
            [
                "config key primary.answer: 'max - stride' is not one of primary.contrasts: "
                "max - none, flatten:max - max",
                "config key primary.mechanisms.rf: 'a - b' is not one of primary.contrasts: "
                "max - none, flatten:max - max",
            ],
        ),
        (
            {
                "gap": {},
                "flatten": {"model": {"head": "flatten"}},
                "w": {"train": {"lr": 1}},
                "wg": {"train": {"lr": 1}, "model": {"head": "flatten"}},
                "g": {"datasets": ["glyphs"]},
            },
            {"compute": ["nope", "gap", "other", "flatten", "w", "wg", "g"]},
            [
                "config key primary.compute[0]: unknown condition 'nope'; choose one of: gap, "
                "flatten, w, wg, g",
                "config key primary.compute[2]: unknown condition 'other'; choose one of: gap, "
                "flatten, w, wg, g",
                "config key primary.compute[3]: condition 'flatten' differs from 'gap' in more "
                "than model.widths (model.head); the FLOP comparison needs widths alone",
                "config key primary.compute[4]: condition 'w' differs from 'gap' in more "
                "than model.widths (train.lr); the FLOP comparison needs widths alone",
                "config key primary.compute[5]: condition 'wg' differs from 'gap' in more "
                "than model.widths (model.head, train.lr); the FLOP comparison needs widths "
                "alone",
                "config key primary.compute[6]: condition 'g' is not trained on 'digits'",
            ],
        ),
        (
            GAP_40 | {"half": {"train": {"steps": 20, "lr": 1, "batch_size": 8}}},
            {"half_budget": "half"},
            [
                "config key primary.half_budget: condition 'half' differs from 'gap' in more "
                "than the training budget (train.batch_size, train.lr)",
            ],
        ),
        (
            GAP_40 | {"half": {"datasets": ["glyphs"], "train": {"steps": 20}}},
            {"half_budget": "half"},
            ["config key primary.half_budget: condition 'half' is not trained on 'digits'"],
        ),
        (
            GAP_40 | {"half": {"train": {"steps": 20}}},
            {"half_budget": "nowhere"},
            [
                "config key primary.half_budget: unknown condition 'nowhere'; choose one of: "
                "gap, half"
            ],
        ),
        (
            {
                "gap": {"operators": ["none", "max"], "train": {"steps": 40}},
                "half": {"operators": ["max", "stride", "avg"], "train": {"steps": 20}},
            },
            {"half_budget": "half"},
            [
                "config key primary.half_budget: condition 'half' trains operators that 'gap' "
                "does not (avg, stride)",
            ],
        ),
        (
            GAP_40 | {"a": {"train": {"steps": 20}}, "b": {"train": {"steps": 20}}},
            {
                "contrasts": ["max - none", "a:max - gap:max"],
                "half_budget": {"b": "a", "x": "a", "a": "gap"},
            },
            [
                "config key primary.half_budget.b: condition 'b' is on no side of the primary "
                "contrasts (a, gap)",
                "config key primary.half_budget.x: condition 'x' is on no side of the primary "
                "contrasts (a, gap)",
                "config key primary.half_budget.a: condition 'gap' trains 40 steps, not half of "
                "'a''s 20",
            ],
        ),
    ],
)
def test_each_primary_problem_is_named_in_full(conditions, primary, problems):
    if "contrasts" not in primary and primary.get("answer"):
        primary["contrasts"] = ["max - none", "flatten:max - max"]
    assert primary_problem_list(conditions, **primary) == problems


def test_deep_merge_shares_nothing_with_its_inputs():
    from poolstudy.plan import deep_merge

    base = {"model": {"widths": [4, 8], "head": "gap"}, "seeds": [0]}
    overrides = {"model": {"head": "flatten"}, "train": {"steps": [10]}}
    merged = deep_merge(base, overrides)
    assert merged == {
        "model": {"widths": [4, 8], "head": "flatten"},
        "seeds": [0],
        "train": {"steps": [10]},
    }
    merged["model"]["widths"].append(16)
    merged["seeds"].append(1)
    merged["train"]["steps"].append(20)
    assert base == {"model": {"widths": [4, 8], "head": "gap"}, "seeds": [0]}
    assert overrides == {"model": {"head": "flatten"}, "train": {"steps": [10]}}
