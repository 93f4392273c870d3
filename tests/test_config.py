from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from poolstudy import config as config_module
from poolstudy.config import ConfigError, load_config, validate_config
from poolstudy.data import DATASETS
from poolstudy.pooling import OPERATORS
from poolstudy.shifts import PROTOCOLS

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def config_with(**changes) -> dict:
    """The default config with ``changes`` (``a__b=v`` sets config[a][b]); replacing the
    conditions drops the primary contrasts, which name the default's conditions."""
    config = copy.deepcopy(DEFAULT)
    if "conditions" in changes:
        config["primary"] = None
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = config
        for parent in parents:
            node = node[parent]
        node[key] = value
    return config


def error_of(config) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


def file_refusal(path: Path, text: str) -> str:
    """Why a config file holding ``text`` is refused as it is read."""
    from poolstudy.config import read_config_file

    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    return str(info.value)


@pytest.mark.parametrize(
    "path",
    [
        "config/config.yaml",
        "config/paper.yaml",
        "config/bench_previous.yaml",
        "config/convergence.yaml",
        "tests/data/tiny.yaml",
    ],
)
def test_shipped_configs_are_valid(path):
    config = load_config(REPO / path)
    assert config["train"]["epochs"] >= 1


def test_defaults_are_filled_in():
    config = validate_config(config_with(train={}, stats={}))
    assert config["train"]["batch_size"] == 64
    assert config["train"]["device"] == "auto"
    assert config["stats"]["confidence"] == 0.95


def test_unknown_key_is_named_with_the_allowed_ones():
    message = error_of(config_with(train__epoch=3))
    assert "train" in message and "'epoch'" in message
    assert "epochs" in message and "batch_size" in message


def test_wrong_type_names_the_key():
    message = error_of(config_with(train__epochs="ten"))
    assert "train.epochs" in message and "integer" in message


def test_out_of_range_value_names_the_key():
    assert "evaluate.max_shift" in error_of(config_with(evaluate__max_shift=-1))


@pytest.mark.parametrize("value", ["big", 0, 1.5])
def test_eval_batch_size_is_a_positive_integer_or_auto(value):
    assert "evaluate.batch_size" in error_of(config_with(evaluate__batch_size=value))


def test_eval_batch_size_auto_depends_on_the_device():
    from poolstudy.device import eval_batch_size

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert validate_config(config_with(evaluate__batch_size="auto"))
    assert eval_batch_size(cpu, "auto") < eval_batch_size(cuda, "auto")
    assert eval_batch_size(cpu, 64) == eval_batch_size(cuda, 64) == 64


def test_unknown_operator_lists_the_registered_ones():
    message = error_of(config_with(operators=["max", "maxx"]))
    assert "operators[1]" in message and "'maxx'" in message
    assert ", ".join(OPERATORS) in message


def test_unknown_dataset_and_protocol_are_reported_together():
    message = error_of(config_with(datasets=["digitz"], evaluate__protocols=["circular", "roll"]))
    assert "datasets[0]" in message and ", ".join(DATASETS) in message
    assert "evaluate.protocols[1]" in message and ", ".join(PROTOCOLS) in message


def test_operator_options_must_name_a_registered_operator():
    message = error_of(config_with(model__operator_options={"lpp": {"p": 3}}))
    assert "model.operator_options.lpp" in message


def test_enum_value_lists_the_choices():
    message = error_of(config_with(model__head="dense"))
    assert "model.head" in message and "gap" in message and "flatten" in message


def test_missing_section_is_reported():
    config = config_with()
    del config["stats"]
    assert "stats" in error_of(config)


def test_check_config_command(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config_with(seeds=[0, 0])))
    result = subprocess.run(
        [sys.executable, "-m", "poolstudy", "check-config", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "seeds" in result.stderr and "Traceback" not in result.stderr
    good = subprocess.run(
        [sys.executable, "-m", "poolstudy", "check-config", str(REPO / "config" / "config.yaml")],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr


SCHEMA_KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "additionalProperties",
    "required",
    "default",
    "items",
    "minItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "pattern",
    "minProperties",
    "propertyNames",
    "oneOf",
    "not",
    "multipleOf",
    "const",
}


def test_schema_uses_only_json_schema_keywords():
    from jsonschema import Draft202012Validator

    from poolstudy.config import load_schema

    schema = load_schema()
    Draft202012Validator.check_schema(schema)

    def walk(node, where):
        assert set(node) <= SCHEMA_KEYWORDS, f"{where}: stray keys {set(node) - SCHEMA_KEYWORDS}"
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}")
        for key in ("items", "additionalProperties", "propertyNames", "not"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{where}.{key}")
        for index, option in enumerate(node.get("oneOf", [])):
            walk(option, f"{where}.oneOf[{index}]")

    walk(schema, "schema")


def test_snakemake_stops_on_a_bad_key_with_one_clear_message():
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "--dry-run",
            "--config",
            "train={'epochs': 'ten'}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "config key train.epochs: 'ten' is not of type 'integer'" in output
    assert "Failed validating" not in output


def test_conditions_merge_overrides_into_the_sections():
    from poolstudy.config import condition_settings

    config = validate_config(
        config_with(conditions={"gap": {}, "wide": {"model": {"widths": [8]}, "train": {}}})
    )
    assert condition_settings(config, "gap")["model"] == config["model"]
    wide = condition_settings(config, "wide")
    assert wide["model"]["widths"] == [8]
    assert wide["model"]["head"] == config["model"]["head"]
    assert wide["train"] == config["train"]


def test_condition_overrides_are_checked_against_the_section_schema():
    message = error_of(config_with(conditions={"bad": {"model": {"head": "dense"}}}))
    assert "conditions.bad.model.head" in message
    message = error_of(config_with(conditions={"bad": {"train": {"epochz": 3}}}))
    assert "conditions.bad.train" in message and "epochz" in message
    message = error_of(config_with(conditions={"bad name": {}}))
    assert "conditions" in message


def test_placement_protocol_needs_a_canvas_in_its_condition():
    config = config_with(
        conditions={"gap": {}, "placed": {"evaluate": {"protocols": ["placement"]}}}
    )
    message = error_of(config)
    assert "conditions.placed.evaluate.protocols" in message and "placement.canvas" in message
    config["conditions"]["placed"]["placement"] = {"canvas": 48}
    assert validate_config(config)["conditions"]["placed"]["placement"]["canvas"] == 48


def test_placement_and_augmentation_are_refused_together():
    placed = {"placement": {"canvas": 48}, "train": {"augment_shift": 2}}
    message = error_of(config_with(conditions={"placed": placed}))
    assert "conditions.placed.train.augment_shift" in message


def test_placement_region_and_condition_operators_are_checked():
    bad_region = {"placed": {"placement": {"canvas": 48, "region": "right"}}}
    assert "conditions.placed.placement.region" in error_of(config_with(conditions=bad_region))
    bad_operator = {"gap": {}, "few": {"operators": ["max", "maxx"]}}
    message = error_of(config_with(conditions=bad_operator))
    assert "conditions.few.operators[1]" in message and "'maxx'" in message


def test_defaults_fill_missing_keys_only_and_each_config_gets_its_own_copy():
    from poolstudy.config import section_defaults, validate_structure

    given = config_with(train={"batch_size": 16}, evaluate={})
    first = validate_structure(given)
    assert first is given and first["train"]["batch_size"] == 16  # given: kept
    defaults = section_defaults("train")
    assert first["train"]["epochs"] == defaults["epochs"] != 16  # missing: filled
    assert first["evaluate"]["protocols"] == section_defaults("evaluate")["protocols"] != []
    first["evaluate"]["protocols"].append("mine")
    second = validate_structure(config_with(evaluate={}))
    assert "mine" not in second["evaluate"]["protocols"]


@pytest.mark.parametrize("section", ["data", "model", "train", "evaluate", "placement", "stats"])
def test_a_sections_defaults_are_what_validation_fills_in(section):
    """``section_defaults`` reads the schema without jsonschema; validation of an empty
    section fills in the same values, nested objects (``data.split``) included."""
    from poolstudy.config import default_filling_validator, load_schema, section_defaults

    filled: dict = {}
    default_filling_validator()(load_schema()["properties"][section]).validate(filled)
    assert filled and section_defaults(section) == filled


def test_filling_defaults_leaves_the_schema_as_it_was():
    from poolstudy.config import filled_defaults, load_schema

    schema = load_schema()["properties"]["data"]
    before = copy.deepcopy(schema)
    filled = filled_defaults(schema, {"raw_dir": "elsewhere"})
    assert filled["raw_dir"] == "elsewhere" and filled["split"]["seed"] == 0  # given: kept
    filled["split"]["seed"] = 7
    assert schema == before  # the nested default {} was copied before it was filled


@pytest.mark.child
def test_reading_defaults_needs_no_jsonschema():
    """A training job and the GPU check (on a machine with PyTorch alone) read the schema's
    defaults; only validating a config imports jsonschema."""
    code = (
        "import sys; sys.modules['jsonschema'] = None\n"
        "from poolstudy.config import section_defaults\n"
        "from poolstudy.train import TrainConfig\n"
        "assert TrainConfig.from_dict({}).epochs == section_defaults('train')['epochs']\n"
        "assert section_defaults('data')['split']['val_fraction'] > 0\n"
        "from poolstudy.config import load_config\n"
        "try:\n"
        "    load_config('config/config.yaml')\n"
        "except ImportError:\n"
        "    print('validation needs jsonschema')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "validation needs jsonschema\n"


@pytest.mark.parametrize("section", ["train", "evaluate", "placement"])
def test_the_sections_dataclasses_declare_no_default_of_their_own(section):
    """The schema is the one home of every default: a dataclass made from an empty section
    holds the schema's values (a default typed into a field would differ once the schema's
    changes)."""
    import dataclasses

    from poolstudy.config import section_defaults
    from poolstudy.evaluate import EvalConfig
    from poolstudy.placement import PlacementConfig
    from poolstudy.train import TrainConfig

    made = {"train": TrainConfig, "evaluate": EvalConfig, "placement": PlacementConfig}[section]
    defaults = section_defaults(section)
    values = dataclasses.asdict(made.from_dict({}))
    assert values and set(values) <= set(defaults)
    for key, value in values.items():
        expected = defaults[key]
        assert (list(value) if isinstance(value, tuple) else value) == expected, key


def test_every_unregistered_name_is_named_in_full():
    conditions = {
        "other": {},
        "gap": {
            "operators": ["maxx"],
            "datasets": ["mnist"],
            "model": {"operator_options": {"lpp": {}}},
            "evaluate": {"protocols": ["roll"]},
        },
    }
    config = config_with(
        datasets=["digitz"],
        operators=["max", "maxy"],
        conditions=conditions,
        evaluate__protocols=["rot"],
        model__operator_options={"avgg": {}},
        sweep={
            "dataset": "glyph",
            "operators": ["none", "mx"],
            "seeds": [0],
            "n_train": [100],
            "augment_shift": [0],
            "base": "g",
        },
    )
    config["data"]["options"] = {"digits": {}, "mnistt": {}}
    operators, datasets, protocols = (
        ", ".join(names) for names in (OPERATORS, DATASETS, PROTOCOLS)
    )
    assert error_of(config) == "\n  ".join(
        [
            "invalid configuration:",
            f"config key datasets[0]: unknown dataset 'digitz'; choose one of: {datasets}",
            f"config key operators[1]: unknown operator 'maxy'; choose one of: {operators}",
            f"config key sweep.dataset: unknown dataset 'glyph'; choose one of: {datasets}",
            f"config key sweep.operators[1]: unknown operator 'mx'; choose one of: {operators}",
            "config key sweep.base: unknown condition 'g'; choose one of: other, gap",
            f"config key evaluate.protocols[0]: unknown protocol 'rot'; choose one of: {protocols}",
            "config key model.operator_options.avgg: unknown operator 'avgg'; choose one of: "
            f"{operators}",
            f"config key data.options.mnistt: unknown dataset 'mnistt'; choose one of: {datasets}",
            "config key conditions.gap.model.operator_options.lpp: unknown operator 'lpp'; "
            f"choose one of: {operators}",
            "config key conditions.gap.operators[0]: unknown operator 'maxx'; choose one of: "
            f"{operators}",
            "config key conditions.gap.datasets[0]: 'mnist' is not studied; choose from "
            "datasets: digitz",
            "config key conditions.gap.evaluate.protocols[0]: unknown protocol 'roll'; choose "
            f"one of: {protocols}",
        ]
    )


def test_schema_errors_are_listed_one_per_line_in_key_order():
    config = config_with(train__epochs="ten", evaluate__max_shift=-1)
    assert error_of(config) == (
        "invalid configuration:\n"
        "  config key evaluate.max_shift: -1 is less than the minimum of 0\n"
        "  config key train.epochs: 'ten' is not of type 'integer'"
    )


def test_the_config_digest_is_the_sha256_of_its_settings_in_any_key_order():
    from poolstudy.config import config_digest

    digest = config_digest({"a": 1, "b": {"c": [1, 2], "d": Path("x")}})
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert config_digest({"b": {"d": Path("x"), "c": [1, 2]}, "a": 1}) == digest
    assert config_digest({"a": 1, "b": {"c": [1, 2], "d": "x"}}) == digest  # paths as text
    assert config_digest({"a": 2, "b": {"c": [1, 2], "d": Path("x")}}) != digest


def test_unknown_keys_enums_and_missing_sections_are_named_in_full():
    from poolstudy.config import load_schema

    config = config_with(train__epoch=3, model__head="dense")
    del config["stats"]
    allowed = ", ".join(sorted(load_schema()["properties"]["train"]["properties"]))
    assert error_of(config) == "\n  ".join(
        [
            "invalid configuration:",
            "config key (top level): 'stats' is a required property",
            "config key model.head: 'dense' is not allowed; choose one of: gap, flatten",
            "config key train: Additional properties are not allowed ('epoch' was unexpected); "
            f"allowed keys: {allowed}",
        ]
    )


def test_a_config_file_that_is_not_yaml_is_named(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match=f"^{path} is not valid YAML: "):
        load_config(path)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: None, "No such file or directory"),
        (lambda path: path.mkdir(), "Is a directory"),
        (lambda path: path.write_bytes(b"\xd0\x00\xff"), "'utf-8' codec can't decode byte"),
    ],
    ids=["missing", "a folder", "not text"],
)
def test_a_config_file_that_cannot_be_read_is_named_with_the_reason(tmp_path, make, reason):
    path = tmp_path / "study.yaml"
    make(path)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value).startswith(f"{path}: cannot read the config ({reason}")


def test_a_list_items_error_names_its_index():
    assert error_of(config_with(seeds=[0, "a"])) == (
        "invalid configuration:\n  config key seeds[1]: 'a' is not of type 'integer'"
    )


@pytest.mark.parametrize(
    ("section", "name"),
    [("sweep", "gap_threshold"), ("sweep", "fit_floor"), ("primary", "plateau_points")],
)
def test_a_settings_schema_default_is_the_value_a_config_without_it_gets(section, name):
    """Code that runs without a validated config (a paper built from settings that omit the
    sweep's criterion) falls back on ``schema_default``: the value validation fills in."""
    from poolstudy.config import schema_default, validate_structure

    sweep = {
        "dataset": DEFAULT["datasets"][0],
        "operators": ["none"],
        "seeds": [0],
        "n_train": [50],
        "augment_shift": [0],
        "base": next(iter(DEFAULT["conditions"])),
    }
    given = {k: v for k, v in {**DEFAULT, "sweep": sweep}[section].items() if k != name}
    filled = validate_structure(config_with(**{section: given}))[section][name]
    assert schema_default(section, name) == filled


def test_numbers_the_schemas_ranges_cannot_judge_are_refused_with_their_keys():
    """NaN passes every ``minimum`` (its comparisons are false); an infinity or a seed past 64
    bits would pass the schema and fail, or run wrongly, later."""
    assert error_of(
        config_with(train__lr=float("nan"), train__weight_decay=float("inf"), seeds=[0, 2**70])
    ) == (
        "invalid configuration:\n"
        "  config key seeds[1]: 1180591620717411303424 does not fit in a 64-bit integer\n"
        "  config key train.lr: must be a finite number, not nan\n"
        "  config key train.weight_decay: must be a finite number, not inf"
    )
    assert error_of(config_with(stats__confidence=float("-inf"), seeds=[-(2**63) - 1])) == (
        "invalid configuration:\n"
        "  config key seeds[0]: -9223372036854775809 does not fit in a 64-bit integer\n"
        "  config key stats.confidence: must be a finite number, not -inf"
    )
    # the bounds themselves, and a bool (an int to Python), pass this check
    validate_config(config_with(seeds=[0, 2**63 - 1], train__deterministic=True))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seeds: [0]\ntrain: {}\nseeds: [5]\n", "key 'seeds' given twice (lines 1 and 3)"),
        ("train:\n  lr: 0.1\n  steps: 3\n  lr: 0.2\n", "key 'lr' given twice (lines 2 and 4)"),
    ],
    ids=["top level", "nested"],
)
def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path, text, message):
    path = tmp_path / "study.yaml"
    assert file_refusal(path, text) == f"{path}: {message}"


def test_a_merge_key_may_be_overridden_and_yaml_errors_name_the_file(tmp_path):
    from poolstudy.config import read_config_file

    path = tmp_path / "study.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n")
    assert read_config_file(path) == {"base": {"x": 1, "y": 2}, "d": {"x": 3, "y": 2}}
    assert f'in "{path}", line' in file_refusal(path, "train: [1, 2\n")
    for empty in ("", "# nothing yet\n", "---\n"):
        assert file_refusal(path, empty) == f"{path}: the config file holds no settings"


def test_snakemake_stops_on_a_key_given_twice_in_its_config_file(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text((REPO / "tests" / "data" / "tiny.yaml").read_text() + "seeds: [5]\n")
    lines = config.read_text().splitlines()
    first = 1 + next(i for i, line in enumerate(lines) if line.startswith("seeds:"))
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "snakemake"),
            "--dry-run",
            "--configfile",
            str(config),
            "--replace-workflow-config",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    message = f"{config}: key 'seeds' given twice (lines {first} and {len(lines)})"
    assert message in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--train", '{"stepz": 1}'],
         "argument --train: config key train: Additional properties are not allowed ('stepz' was "
         "unexpected); allowed keys: augment_shift, batch_size, deterministic, device, epochs, "
         "label_smoothing, lr, momentum, n_train, steps, val_points, warmup_epochs, weight_decay"),
        (["--train", '{"steps": -1}'],
         "argument --train: config key train.steps: -1 is less than the minimum of 1"),
        (["--train", '{"lr": NaN, "steps": 0}'],
         "argument --train: config key train.lr: must be a finite number, not nan"),
        (["--model", '{"widths": []}'],
         "argument --model: config key model.widths: [] should be non-empty"),
        (["--placement", '{"canvas": "big"}'],
         "argument --placement: config key placement.canvas: 'big' is not of type 'integer', "
         "'null'"),
        (["--seeds", "-1"], "argument --seeds/--seed: must be from 0 to 2**63 - 1, not -1"),
        (["--seeds", "x"], "argument --seeds/--seed: not a whole number: 'x'"),
    ],
    ids=["misspelt key", "out of range", "NaN", "empty list", "wrong type", "negative seed",
         "not a seed"],
)  # fmt: skip
def test_a_training_command_by_hand_refuses_what_the_config_would(capsys, arguments, message):
    from poolstudy import cli

    command = ["train", "--data", "d.pt", "--operator", "max", "--out-dir", "o", "--seeds", "0"]
    with pytest.raises(SystemExit) as stopped:
        cli.main(command + arguments)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"poolstudy train: error: {message}"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["evaluate", "--n-train", "-5"],
         "argument --n-train: config key train.n_train: -5 is less than the minimum of 1"),
        (["evaluate", "--evaluate", '{"protocols": "circular"}'],
         "argument --evaluate: config key evaluate.protocols: 'circular' is not of type 'array'"),
        (["prepare", "--split", '{"val_fraction": 2}'],
         "argument --split: config key data.split.val_fraction: 2 is greater than or equal to the "
         "maximum of 1"),
        (["prepare", "--options", '{"size": -3}'],
         "argument --options: config key data.options.(dataset).size: -3 is less than the "
         "minimum of 4"),
    ],
    ids=["n_train", "evaluate", "split", "dataset options"],
)  # fmt: skip
def test_the_other_commands_by_hand_refuse_what_the_config_would(capsys, command, message):
    from poolstudy import cli

    required = {
        "evaluate": ["--data", "d.pt", "--model", "m.pt", "--experiment", "e", "--dataset",
                     "digits", "--operator", "max", "--seeds", "0", "--out", "o.csv"],
        "prepare": ["--dataset", "digits", "--out", "o.pt", "--raw-dir", "raw"],
    }[command[0]]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        cli.main([command[0], *required, *command[1:]])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"poolstudy {command[0]}: error: {message}"


SHIPPED = [*sorted((REPO / "config").glob("*.yaml")), REPO / "tests" / "data" / "tiny.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda path: path.name)
def test_the_options_the_rules_pass_are_accepted(path):
    """Each command line the rules build (as ``workflow/rules/*.smk`` quote them: one JSON
    argument per section) for every condition of a shipped config parses."""
    import json
    import shlex

    from poolstudy import cli
    from poolstudy.jobs import job_placement, training_settings
    from poolstudy.plan import (
        condition_settings,
        datasets_used,
        primary_contrasts,
        primary_regime,
        seed_groups,
        sweep_points,
    )

    def as_arg(value) -> str:
        return shlex.quote(json.dumps(value, sort_keys=True))

    config = load_config(path)
    parser = cli.build_parser()
    commands = []
    for conditions, seeds in seed_groups(config).values():
        for condition in conditions:
            settings = condition_settings(config, condition)
            seed_list = " ".join(map(str, seeds))
            for operator in config["operators"]:
                training = training_settings(config, condition, operator)
                commands.append(
                    f"train --data d --operator {operator} --seeds {seed_list} "
                    f"--condition {condition} --model {as_arg(training['model'])} "
                    f"--train {as_arg(training['train'])} "
                    f"--placement {as_arg(training['placement'])} --out-dir o"
                )
            commands.append(
                f"evaluate --data d --model m --evaluate {as_arg(settings['evaluate'])} "
                f"--placement {as_arg(job_placement(settings['placement']))} "
                f"--n-train {as_arg(settings['train']['n_train'])} --experiment e "
                f"--dataset digits --condition {condition} --operator max --seeds {seed_list} "
                "--out x"
            )
    for dataset in datasets_used(config):
        options = config["data"]["options"].get(dataset, {})
        commands.append(
            f"prepare --dataset {dataset} --out o --raw-dir r "
            f"--split {as_arg(config['data']['split'])} --options {as_arg(options)}"
        )
    margin = f"--margin {config['primary']['margin']}" if config.get("primary") else ""
    commands.append(
        f"analyze --evals a --metas c --experiment e --out-dir o --metrics m "
        f"--bootstrap-samples {config['stats']['bootstrap_samples']} "
        f"--confidence {config['stats']['confidence']} --sweep {as_arg(sweep_points(config))} "
        f"--contrasts {as_arg(primary_contrasts(config))} {margin} "
        f"--regime {as_arg(primary_regime(config))}"
    )
    for command in commands:
        parser.parse_args(shlex.split(command))  # SystemExit where refused
    assert len(commands) > 3


def test_a_missing_input_file_is_one_line_naming_it(tmp_path, capsys):
    from poolstudy import cli

    missing = tmp_path / "tables"
    assert cli.main(["figures", "--tables", str(missing), "--out-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"poolstudy figures: [Errno 2] No such file or directory: '{missing}/summary.csv'\n"
    )
    assert not cli.expected_failure(OSError("no file named"))  # an OSError without a path
    # one naming a path, but not a path missing or of the wrong kind: a traceback
    assert not cli.expected_failure(OSError(18, "Invalid cross-device link", "a", None, "b"))
    assert cli.expected_failure(IsADirectoryError(21, "Is a directory", "out"))
    assert cli.expected_failure(PermissionError(13, "Permission denied", "data.pt"))


def test_an_evaluation_by_hand_refuses_models_of_another_cell(tmp_path, capsys):
    import json

    from poolstudy import cli

    paths = []
    for seed, meta in enumerate([{"dataset": "digits", "operator": "max", "seed": 0},
                                 {"dataset": "glyphs", "operator": "max", "seed": 4}]):  # fmt: skip
        folder = tmp_path / str(seed)
        folder.mkdir()
        (folder / "meta.json").write_text(json.dumps(meta))
        paths.append(str(folder / "model.pt"))
    (tmp_path / "2").mkdir()  # no meta.json: nothing to compare
    paths.append(str(tmp_path / "2" / "model.pt"))
    keys = {"dataset": "digits", "operator": "max"}
    assert cli.model_mismatches(paths, [0, 1, 2], keys) == [
        f"{paths[1]} was trained with dataset 'glyphs', not 'digits', seed 4, not 1"
    ]
    assert cli.model_mismatches(paths[:1], [0], keys | {"operator": "none"}) == [
        f"{paths[0]} was trained with operator 'max', not 'none'"
    ]
    assert cli.model_mismatches(paths, [0, 1], keys) == [
        "3 models for 2 seeds: give one model per seed"
    ]
    (tmp_path / "2" / "meta.json").write_text("[not a run's record")
    assert cli.model_mismatches(paths[2:], [5], keys) == []  # unreadable: nothing to compare
    (tmp_path / "2" / "meta.json").write_text("[1, 2]")
    assert cli.model_mismatches(paths[2:], [5], keys) == []
    command = ["evaluate", "--data", "d.pt", "--model", *paths, "--experiment", "e",
               "--dataset", "digits", "--operator", "max", "--seeds", "0", "1", "2",
               "--out", "a.csv", "b.csv", "c.csv"]  # fmt: skip
    assert cli.main(command) == 2
    assert capsys.readouterr().err == (
        "poolstudy evaluate: the models are not the cell named:\n"
        f"  {paths[1]} was trained with dataset 'glyphs', not 'digits', seed 4, not 1\n"
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["train", "--data", "d.pt", "--operator", "maxx", "--seeds", "0", "--out-dir", "o"],
         "poolstudy train: unknown operator 'maxx'; registered: " + ", ".join(OPERATORS)),
        (["prepare", "--dataset", "mnistt", "--out", "o.pt", "--raw-dir", "raw"],
         "poolstudy prepare: unknown dataset 'mnistt'; registered: " + ", ".join(DATASETS)),
        (["evaluate", "--data", "d.pt", "--model", "m.pt", "--experiment", "e", "--dataset",
          "digits", "--operator", "maxx", "--seeds", "0", "--out", "o.csv"],
         "poolstudy evaluate: unknown operator 'maxx'; registered: " + ", ".join(OPERATORS)),
    ],
    ids=["train", "prepare", "evaluate operator"],
)  # fmt: skip
def test_a_command_by_hand_naming_an_unregistered_name_lists_the_registered_ones(
    capsys, command, message
):
    from poolstudy import cli

    assert cli.main(command) == 2
    assert capsys.readouterr().err == message + "\n"


EXPONENT_HINT = (
    "text, not a number: write the exponent after a decimal point and with a sign, as 1.0e-3, "
    "or the number in full, as 0.001"
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train__lr": "1e-3"}, f"train.lr: '1e-3' is not of type 'number' ({EXPONENT_HINT})"),
        ({"train__lr": "1.0E3"}, f"train.lr: '1.0E3' is not of type 'number' ({EXPONENT_HINT})"),
        ({"train__lr": "0.05"},
         "train.lr: '0.05' is not of type 'number' (text, not a number: write it without "
         "quotes)"),
        ({"train__epochs": "100"},
         "train.epochs: '100' is not of type 'integer' (text, not a number: write it without "
         "quotes)"),
        ({"train__lr": "fast"}, "train.lr: 'fast' is not of type 'number'"),
        ({"train__lr": "nan"}, "train.lr: 'nan' is not of type 'number'"),
        ({"train__lr": "inf"}, "train.lr: 'inf' is not of type 'number'"),
        ({"train__deterministic": "1"}, "train.deterministic: '1' is not of type 'boolean'"),
    ],
    ids=["exponent", "unsigned exponent", "quoted", "quoted whole", "word", "nan", "inf",
         "a boolean"],
)  # fmt: skip
def test_a_number_read_as_text_is_explained_where_a_number_was_meant(changes, message):
    assert error_of(config_with(**changes)) == f"invalid configuration:\n  config key {message}"


def test_whole_numbers_written_as_decimals_are_not_integers():
    """JSON Schema counts 2000.0 as an integer; the code would get a float."""
    assert error_of(config_with(stats__bootstrap_samples=2000.0, seeds=[0, 1.0e20])) == (
        "invalid configuration:\n"
        "  config key seeds[1]: 1e+20 is not of type 'integer'\n"
        "  config key stats.bootstrap_samples: 2000.0 is not of type 'integer'"
    )
    assert config_module.section_problems({"steps": 300.0}, ("train",)) == [
        "config key train.steps: 300.0 is not of type 'integer', 'null'"
    ]
    assert config_module.section_problems({"lr": 1}, ("train",)) == []  # a number may be whole


def test_a_json_config_file_is_read_as_json_with_tabs_and_refused_with_a_key_twice(tmp_path):
    from poolstudy.config import read_config_file

    path = tmp_path / "study.json"
    path.write_text('{\n\t"seeds": [0, 1],\n\t"train": {"lr": 0.1}\n}\n')
    assert read_config_file(path) == {"seeds": [0, 1], "train": {"lr": 0.1}}
    twice = '{"seeds": [0], "train": {"lr": 0.1, "lr": 0.2}}'
    assert file_refusal(path, twice) == f"{path}: key 'lr' given twice"


def test_keys_after_a_merge_key_are_still_checked_and_every_file_is_read(tmp_path):
    from poolstudy.config import check_config_files

    path = tmp_path / "study.yaml"
    merged = "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n  y: 3\n"
    assert file_refusal(path, merged) == f"{path}: key 'y' given twice (lines 4 and 5)"
    good = tmp_path / "good.yaml"
    good.write_text("seeds: [0]\n")
    check_config_files([good])  # nothing to say
    with pytest.raises(ConfigError) as refused:
        check_config_files([good, path])
    assert str(refused.value) == f"{path}: key 'y' given twice (lines 4 and 5)"


def test_whole_numbers_fit_in_64_bits_up_to_the_bounds():
    from poolstudy.config import INT64, number_problems

    assert INT64 == 2**63
    assert number_problems([-(2**63), 2**63 - 1, True, 1.5]) == []
    assert number_problems({"a": [2**63]}) == [
        "config key a[0]: 9223372036854775808 does not fit in a 64-bit integer"
    ]


def test_a_sections_problems_are_listed_in_key_order():
    """The schema checks ``batch_size`` before ``augment_shift``; the messages come by key."""
    from poolstudy.config import section_problems

    assert section_problems({"batch_size": 0, "augment_shift": -1}, ("train",)) == [
        "config key train.augment_shift: -1 is less than the minimum of 0",
        "config key train.batch_size: 0 is less than the minimum of 1",
    ]


def test_the_schema_read_once_is_handed_out_as_a_copy():
    from poolstudy.config import load_schema

    schema = load_schema()
    schema["properties"]["train"]["properties"].clear()
    assert load_schema()["properties"]["train"]["properties"]  # the next reader's is whole


def test_every_key_dvc_names_is_required_and_primary_stays_optional():
    """A config without `placement` (a param of the models and evaluations stages of dvc.yaml)
    is refused, naming the key, as a missing `sweep` or `stats` is; one without `primary` runs
    (the stages that read it track the whole config)."""
    without_placement = copy.deepcopy(DEFAULT)
    del without_placement["placement"]
    assert error_of(without_placement) == (
        "invalid configuration:\n  config key (top level): 'placement' is a required property"
    )
    without_primary = copy.deepcopy(DEFAULT)
    del without_primary["primary"]
    assert validate_config(without_primary)["primary"] is None
