"""The configuration: JSON-schema validation with defaults, the registry-name check and the
cross-key constraints.

The schema (``workflow/schemas/config.schema.yaml``) fixes the structure and the defaults;
names of operators, datasets and shift protocols are checked against the registries here, so a
new registry entry is accepted without editing the schema; settings that cannot run together
are found by ``poolstudy.checks``. Every error names the key, the value and what is valid.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import yaml

from poolstudy.plan import all_conditions, condition_settings

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration that the pipeline cannot run."""


def _with_defaults(validator_class):
    from jsonschema import validators

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = _copy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


@functools.cache
def default_filling_validator():
    """Draft 2020-12 validation that fills in each missing key's schema default. jsonschema is
    imported here, not with the module: code that only reads defaults (``section_defaults``:
    a training job, the GPU check on a machine with PyTorch alone) runs without it."""
    from jsonschema import Draft202012Validator

    return _with_defaults(Draft202012Validator)


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def key_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_error(error) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema["properties"])
        return f"config key {where}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return (
            f"config key {where}: {error.instance!r} is not allowed; "
            f"choose one of: {', '.join(map(str, error.validator_value))}"
        )
    return f"config key {where}: {error.message}"


def validate_structure(config: dict, schema: dict | None = None) -> dict:
    """Validate against the schema, filling in defaults in place; raise ConfigError."""
    validator = default_filling_validator()(schema or load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(map(describe_error, errors)))
    return config


def registries() -> dict[str, list[str]]:
    from poolstudy.data import DATASETS
    from poolstudy.pooling import OPERATORS
    from poolstudy.shifts import PROTOCOLS

    return {"operator": list(OPERATORS), "dataset": list(DATASETS), "protocol": list(PROTOCOLS)}


def check_names(config: dict) -> dict:
    """Every operator, dataset and protocol name must be registered (in a config the schema
    has validated and filled); raise ConfigError."""
    known = registries()
    problems = []

    def check(kind: str, where: str, names) -> None:
        """``names``: one name (``where`` names it), a list, or a mapping's keys."""
        one = isinstance(names, str)
        for index, name in enumerate([names] if one else names):
            if name not in known[kind]:
                if one:
                    label = where
                elif isinstance(names, list):
                    label = f"{where}[{index}]"
                else:
                    label = f"{where}.{name}"
                problems.append(
                    f"config key {label}: unknown {kind} {name!r}; "
                    f"choose one of: {', '.join(known[kind])}"
                )

    check("dataset", "datasets", config["datasets"])
    check("operator", "operators", config["operators"])
    sweep = config.get("sweep") or {}
    if sweep:
        check("dataset", "sweep.dataset", sweep["dataset"])
        check("operator", "sweep.operators", sweep["operators"])
        if sweep["base"] not in config["conditions"]:
            problems.append(
                f"config key sweep.base: unknown condition {sweep['base']!r}; "
                f"choose one of: {', '.join(config['conditions'])}"
            )
    check("protocol", "evaluate.protocols", config["evaluate"]["protocols"])
    check(
        "operator",
        "model.operator_options",
        dict(config["model"]["operator_options"]),
    )
    check("dataset", "data.options", dict(config["data"]["options"]))
    for name, overrides in config["conditions"].items():
        check(
            "operator",
            f"conditions.{name}.model.operator_options",
            dict(overrides.get("model", {}).get("operator_options", {})),
        )
        check("operator", f"conditions.{name}.operators", overrides.get("operators", []))
        for index, dataset in enumerate(overrides.get("datasets", [])):
            if dataset not in config["datasets"]:
                problems.append(
                    f"config key conditions.{name}.datasets[{index}]: {dataset!r} is not "
                    f"studied; choose from datasets: {', '.join(config['datasets'])}"
                )
        check(
            "protocol",
            f"conditions.{name}.evaluate.protocols",
            overrides.get("evaluate", {}).get("protocols", []),
        )
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def placement_problems(name: str, settings: dict) -> list[str]:
    """A placement protocol needs a canvas; placement draws positions, so no augmentation."""
    canvas = (settings.get("placement") or {}).get("canvas")
    problems = []
    if "placement" in settings["evaluate"]["protocols"] and canvas is None:
        problems.append(
            f"config key conditions.{name}.evaluate.protocols: the placement protocol needs "
            f"placement.canvas in condition {name!r}"
        )
    if canvas is not None and settings["train"].get("augment_shift"):
        problems.append(
            f"config key conditions.{name}.train.augment_shift: must be 0 where placement is on "
            "(placement draws the training positions itself)"
        )
    return problems


def validate_conditions(config: dict, schema: dict | None = None) -> dict:
    """Each condition's merged sections must satisfy the schema of those sections."""
    from jsonschema import Draft202012Validator

    schema = schema or load_schema()
    problems = []
    for name in all_conditions(config):
        for section, merged in condition_settings(config, name).items():
            validator = Draft202012Validator(schema["properties"][section])
            for error in validator.iter_errors(merged):
                where = key_path(["conditions", name, section, *error.absolute_path])
                problems.append(f"config key {where}: {error.message}")
        problems += placement_problems(name, condition_settings(config, name))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def check_constraints(config: dict) -> dict:
    """Settings that cannot run together (``poolstudy.checks``: split sizes, canvases,
    stages, shifts, operator options, the data mirror); raise ConfigError listing them."""
    from poolstudy.checks import config_problems

    problems = config_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def validate_config(config: dict) -> dict:
    """The schema (structure, defaults), each condition's sections, the registry names, then
    the cross-key constraints: a config that passes can run. Each stage assumes the ones
    before it passed, so the first that fails raises ConfigError with all its problems."""
    schema = load_schema()
    config = check_names(validate_conditions(validate_structure(config, schema), schema))
    return check_constraints(config)


def filled_defaults(schema: dict, instance: dict) -> dict:
    """``instance`` with each missing key's default from ``schema``, nested objects filled the
    same way: what validation fills in (``default_filling_validator``) for the sections, whose
    defaults sit in plain properties, read without jsonschema."""
    for name, subschema in schema.get("properties", {}).items():
        if "default" in subschema and name not in instance:
            instance[name] = _copy(subschema["default"])
        if isinstance(instance.get(name), dict):
            filled_defaults(subschema, instance[name])
    return instance


@functools.cache
def _section_defaults(section: str) -> str:
    return yaml.safe_dump(filled_defaults(load_schema()["properties"][section], {}))


def section_defaults(section: str) -> dict:
    """The schema's defaults of one top-level section (e.g. ``train``): the one home of every
    default, so the dataclasses that read a section declare none of their own."""
    return yaml.safe_load(_section_defaults(section))


def schema_default(section: str, name: str):
    """The schema's default of one setting (``sweep.gap_threshold``), for code that runs
    without a validated config, where the section as a whole has no default to read with
    ``section_defaults`` (``sweep`` and ``primary`` have required keys)."""
    return load_schema()["properties"][section]["properties"][name]["default"]


def config_digest(config: dict) -> str:
    """SHA-256 of a validated config (keys sorted): the hash in the paper's provenance footer
    and in a recorded run (``poolstudy.record``)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def load_config(path: str | os.PathLike) -> dict:
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{path}: cannot read the config ({reason})") from None
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    return validate_config(config)
