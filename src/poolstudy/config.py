"""The configuration: JSON-schema validation with defaults, the registry-name check and the
cross-key constraints.

The schema (``workflow/schemas/config.schema.yaml``) fixes the structure and the defaults;
names of operators, datasets and shift protocols are checked against the registries here, so a
new registry entry is accepted without editing the schema; settings that cannot run together
are found by ``poolstudy.checks``. Every error names the key, the value and what is valid.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import math
import os
from pathlib import Path

import yaml

from poolstudy.plan import SWEEP_PREFIX, all_conditions, condition_settings

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
def strict_validator():
    """Draft 2020-12 validation in which an integer is a whole number written as one: JSON
    Schema counts 2000.0 (and 1.0e+20) as integers, which would reach ``range()`` and the
    seeds as floats. jsonschema is imported here, not with the module: code that only reads
    defaults (``section_defaults``: the GPU check on a machine with PyTorch alone) runs
    without it."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return validators.extend(Draft202012Validator, type_checker=checker)


@functools.cache
def default_filling_validator():
    """``strict_validator`` that also fills in each missing key's schema default."""
    return _with_defaults(strict_validator())


@functools.cache
def _parsed_schema(path: str) -> dict:
    return yaml.safe_load(Path(path).read_text())


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    """The config's schema (a copy of it, read once per process: each command-line option
    that is a part of the config is checked against it)."""
    return copy.deepcopy(_parsed_schema(str(path)))


def key_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def describe_error(error, prefix=()) -> str:
    """One schema error as a message naming its key (below ``prefix``, the part of the config
    that was validated)."""
    where = key_path([*prefix, *error.absolute_path])
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema["properties"])
        return f"config key {where}: {error.message}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return (
            f"config key {where}: {error.instance!r} is not allowed; "
            f"choose one of: {', '.join(map(str, error.validator_value))}"
        )
    if error.validator == "not" and "description" in error.validator_value:
        reason = error.validator_value["description"]  # why the value must not match
        return f"config key {where}: {error.instance!r} is not allowed: {reason}"
    if (
        error.validator == "type"
        and {"number", "integer"} & set(as_list(error.validator_value))
        and looks_like_a_number(error.instance)
    ):
        return f"config key {where}: {error.message} ({number_as_text_hint(error.instance)})"
    return f"config key {where}: {error.message}"


def as_list(value) -> list:
    """A schema's ``type`` as a list (it may be one name)."""
    return value if isinstance(value, list) else [value]


def number_as_text_hint(text: str) -> str:
    """Why a number was read as text: YAML reads an exponent as a number only after a decimal
    point and with a sign (``1.0e-3``; ``1e-3`` and ``1.0e3`` are text); otherwise it was
    quoted."""
    if "e" in text.lower():
        return (
            "text, not a number: write the exponent after a decimal point and with a sign, as "
            "1.0e-3, or the number in full, as 0.001"
        )
    return "text, not a number: write it without quotes"


def looks_like_a_number(value) -> bool:
    """Text that Python would read as a finite number: YAML 1.1 reads ``1e-3`` (no decimal
    point) as a string."""
    if not isinstance(value, str):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def validate_structure(config: dict, schema: dict | None = None) -> dict:
    """Validate against the schema, filling in defaults in place; raise ConfigError."""
    validator = default_filling_validator()(schema or load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(map(describe_error, errors)))
    return config


INT64 = 2**63
"""Whole numbers in a config must lie in [-INT64, INT64): seeds and counts become 64-bit
integers (``torch.manual_seed`` refuses larger ones)."""


def number_problems(value, path=()) -> list[str]:
    """Numbers that the schema's ranges cannot judge: NaN and the infinities (every comparison
    with NaN is false, so ``minimum`` lets it through, and an infinite rate or margin would
    run) and whole numbers too large for 64 bits."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in number_problems(item, (*path, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in number_problems(item, (*path, i))]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"config key {key_path(path)}: must be a finite number, not {value}"]
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        return [f"config key {key_path(path)}: {value} does not fit in a 64-bit integer"]
    return []


def check_numbers(config: dict) -> dict:
    """Raise ConfigError listing ``number_problems``."""
    if problems := number_problems(config):
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def section_schema(section: tuple[str, ...], schema: dict | None = None) -> dict:
    """The schema of one part of the config: ``("train",)``, ``("data", "split")``; a part
    that is not a named property (a dataset's options) has the schema of any such key."""
    schema = schema or load_schema()
    for part in section:
        properties = schema.get("properties", {})
        schema = properties[part] if part in properties else schema["additionalProperties"]
    return schema


def section_problems(value, section: tuple[str, ...]) -> list[str]:
    """What the config's schema finds wrong with ``value`` as the part ``section`` of a
    config (``number_problems`` first), each message naming its key: for options given on
    the command line, which no config validated."""
    if problems := number_problems(value, section):
        return problems
    validator = strict_validator()(section_schema(section))
    errors = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    return [describe_error(error, section) for error in errors]


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
    for name in config["conditions"]:
        if name.startswith(SWEEP_PREFIX):
            problems.append(
                f"config key conditions.{name}: names that begin with {SWEEP_PREFIX!r} are the "
                f"data-size sweep's own conditions ({SWEEP_PREFIX}n<size>-aug<shift>); choose "
                "another name"
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
    schema = schema or load_schema()
    problems = []
    for name in all_conditions(config):
        for section, merged in condition_settings(config, name).items():
            validator = strict_validator()(schema["properties"][section])
            for error in validator.iter_errors(merged):
                problems.append(describe_error(error, ["conditions", name, section]))
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
    """Its numbers (finite, 64-bit), the schema (structure, defaults), each condition's
    sections, the registry names, then the cross-key constraints: a config that passes can
    run. Each stage assumes the ones
    before it passed, so the first that fails raises ConfigError with all its problems."""
    schema = load_schema()
    config = validate_structure(check_numbers(config), schema)
    config = check_names(validate_conditions(config, schema))
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


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives one key twice (PyYAML would keep the
    last silently: a second ``seeds:`` line would replace the first)."""


def _unique_mapping(loader: UniqueKeyLoader, node, deep: bool = False):
    lines = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in lines:
            line = key_node.start_mark.line + 1
            raise ConfigError(
                f"{loader.name}: key {key!r} given twice (lines {lines[key]} and {line})"
            )
        lines[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def unique_pairs(path, pairs: list) -> dict:
    """A JSON object's pairs as a dict; ConfigError where a key comes twice."""
    settings = {}
    for key, value in pairs:
        if key in settings:
            raise ConfigError(f"{path}: key {key!r} given twice")
        settings[key] = value
    return settings


def read_config_file(path: str | os.PathLike) -> dict:
    """A config file's settings, unvalidated; ConfigError where it cannot be read, is not
    YAML (or JSON), is empty or gives a key twice."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{path}: cannot read the config ({reason})") from None
    try:  # JSON first, as Snakemake reads a config file (JSON may be indented with tabs)
        settings = json.loads(text, object_pairs_hook=lambda pairs: unique_pairs(path, pairs))
    except json.JSONDecodeError:
        stream = io.StringIO(text)
        stream.name = str(path)  # what YAML's error marks name
        try:
            settings = yaml.load(stream, Loader=UniqueKeyLoader)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if settings is None:
        raise ConfigError(f"{path}: the config file holds no settings")
    return settings


def check_config_files(paths) -> None:
    """Each config file the workflow read can be read again without a fault that its loader
    passes over (a key given twice); ConfigError otherwise."""
    for path in paths:
        read_config_file(path)


def load_config(path: str | os.PathLike) -> dict:
    return validate_config(read_config_file(path))
