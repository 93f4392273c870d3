"""What the pipeline runs: every (dataset, condition, operator, seed), read from the config.

The main study is the full grid ``datasets x conditions x operators x seeds``, where a
condition may name a subset of the operators (its ``operators`` list). The optional
data-size ``sweep`` adds, on one dataset, a condition per (training-set size, augmentation)
pair, named ``sweep-n<size>-aug<shift>`` and built on a base condition, for the sweep's own
operators and seeds. Sweep runs are evaluated on clean images only: the sweep asks how
accuracy and the overfitting gap change with the amount of data.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

SECTIONS = ("model", "train", "evaluate", "placement")
SWEEP_PREFIX = "sweep-"


@dataclass(frozen=True)
class Run:
    dataset: str
    condition: str
    operator: str
    seed: int


def deep_merge(base: dict, overrides: dict) -> dict:
    """A copy of ``base`` with ``overrides`` applied, nested dictionaries merged key by key."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def sweep_points(config: dict) -> dict[str, dict]:
    """Sweep condition name -> {"n_train": size, "augment_shift": shift}."""
    sweep = config.get("sweep")
    if not sweep:
        return {}
    return {
        f"{SWEEP_PREFIX}n{size}-aug{shift}": {"n_train": size, "augment_shift": shift}
        for shift in sweep["augment_shift"]
        for size in sweep["n_train"]
    }


def sweep_train_overrides(sweep: dict, point: dict) -> dict:
    """The ``train`` overrides of one sweep point: its size and augmentation, and the sweep's
    fixed step budget when it has one."""
    overrides = dict(point)
    if sweep.get("steps"):
        overrides["steps"] = sweep["steps"]
    return overrides


def all_conditions(config: dict) -> dict[str, dict]:
    """Every condition's overrides: the main ones, then the sweep's."""
    conditions = dict(config["conditions"])
    sweep = config.get("sweep")
    for name, point in sweep_points(config).items():
        base = config["conditions"].get(sweep["base"], {})
        train = sweep_train_overrides(sweep, point)
        conditions[name] = deep_merge(base, {"train": train, "evaluate": {"protocols": []}})
    return conditions


def condition_settings(config: dict, condition: str) -> dict[str, dict]:
    """The ``model``, ``train`` and ``evaluate`` sections as one condition sees them."""
    overrides = all_conditions(config)[condition]
    return {
        section: deep_merge(config[section], overrides.get(section, {})) for section in SECTIONS
    }


def condition_operators(config: dict, condition: str) -> list[str]:
    """The operators a main condition trains: its own ``operators`` list, else all of them."""
    return config["conditions"][condition].get("operators") or config["operators"]


def planned_runs(config: dict) -> list[Run]:
    """Every training run of the study, main grid first, then the sweep."""
    runs = [
        Run(dataset, condition, operator, seed)
        for dataset in config["datasets"]
        for condition in config["conditions"]
        for operator in condition_operators(config, condition)
        for seed in config["seeds"]
    ]
    sweep = config.get("sweep")
    if sweep:
        runs += [
            Run(sweep["dataset"], condition, operator, seed)
            for condition in sweep_points(config)
            for operator in sweep["operators"]
            for seed in sweep["seeds"]
        ]
    return runs


def datasets_used(config: dict) -> list[str]:
    return list(dict.fromkeys(run.dataset for run in planned_runs(config)))


def seed_groups(config: dict) -> dict[str, tuple[list[str], list[int]]]:
    """The cells' seed lists: ``main`` -> (main condition names, ``seeds``) and, with a sweep,
    ``sweep`` -> (sweep condition names, the sweep's ``seeds``). A cell (dataset, condition,
    operator) trains, and is evaluated, with all the seeds of its group in one job."""
    groups = {"main": (list(config["conditions"]), list(config["seeds"]))}
    if config.get("sweep"):
        groups["sweep"] = (list(sweep_points(config)), list(config["sweep"]["seeds"]))
    return groups
