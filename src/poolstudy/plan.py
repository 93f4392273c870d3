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


def condition_datasets(config: dict, condition: str) -> list[str]:
    """The datasets a main condition trains on: its own ``datasets`` list, else all of them
    (in the order of ``datasets``)."""
    own = config["conditions"][condition].get("datasets")
    return [d for d in config["datasets"] if own is None or d in own]


def conditions_summary(config: dict) -> list[dict]:
    """What each main condition runs, as the paper's table of conditions states it: its
    datasets and operators, and the settings of its network, training and evaluation as the
    condition resolves them (``condition_settings``), in the study's order."""
    summary = []
    for name in config["conditions"]:
        settings = condition_settings(config, name)
        model, train, evaluate = settings["model"], settings["train"], settings["evaluate"]
        summary.append(
            {
                "name": name,
                "datasets": condition_datasets(config, name),
                "operators": list(condition_operators(config, name)),
                "head": model["head"],
                "widths": list(model["widths"]),
                "placement_canvas": settings["placement"].get("canvas"),
                "steps": train.get("steps"),
                "epochs": train["epochs"],
                "batch_size": train["batch_size"],
                "lr": train["lr"],
                "augment_shift": train["augment_shift"],
                "protocols": list(evaluate["protocols"]),
                "max_shift": evaluate["max_shift"],
                "consistency_shift": evaluate["consistency_shift"],
                "shift_images": evaluate.get("shift_images"),
            }
        )
    return summary


def confidence_percent(level: float) -> str:
    """A confidence level as the paper prints it: 0.95 -> "95", 0.975 -> "97.5", never
    rounded."""
    return f"{100 * level:g}"


def paper_settings(config: dict) -> dict:
    """Settings the paper's text quotes, taken from the config (never typed into the text):
    training and evaluation as the primary condition (``primary_condition``) resolves them,
    and every condition's own in ``conditions_table``."""
    conditions = list(config["conditions"])
    primary = condition_settings(config, primary_condition(config))
    train, evaluate, model = primary["train"], primary["evaluate"], primary["model"]
    stats, contrasts = config["stats"], config.get("primary") or {}
    return {
        "experiment": config["experiment"],
        "seeds": len(config["seeds"]),
        "epochs": train["epochs"],
        "batch_size": train["batch_size"],
        "lr": train["lr"],
        "augment_shift": train["augment_shift"],
        "max_shift": evaluate["max_shift"],
        "consistency_shift": evaluate["consistency_shift"],
        "subpixel_step": evaluate["subpixel_step"],
        "protocols": ", ".join(evaluate["protocols"]),
        "confidence": round(100 * stats["confidence"]),
        "confidence_text": confidence_percent(stats["confidence"]),
        "bootstrap_samples": stats["bootstrap_samples"],
        "widths": ", ".join(str(w) for w in model["widths"]),
        "head": model["head"],
        "conditions": ", ".join(conditions),
        "conditions_table": conditions_summary(config),
        "data_options": {d: config["data"]["options"].get(d) or {} for d in config["datasets"]},
        "n_conditions": len(conditions),
        "padding_mode": model["padding_mode"],
        **sweep_settings(config),
        "answer": contrasts.get("answer", []),
        # pairs, not a mapping: the settings travel as JSON with sorted keys
        "mechanisms": list(contrasts.get("mechanisms", {}).items()),
    }


def sweep_settings(config: dict) -> dict:
    """The sweep's criterion and step budget, for the paper's sweep sentences."""
    sweep = config.get("sweep") or {}
    if not sweep:
        return {}
    return {
        "sweep_gap_threshold": sweep["gap_threshold"],
        "sweep_fit_floor": sweep["fit_floor"],
        "sweep_steps": sweep["steps"] or "none",
        "sweep_batch_size": condition_settings(config, sweep["base"])["train"]["batch_size"],
    }


def planned_runs(config: dict) -> list[Run]:
    """Every training run of the study, main grid first, then the sweep."""
    runs = [
        Run(dataset, condition, operator, seed)
        for dataset in config["datasets"]
        for condition in config["conditions"]
        if dataset in condition_datasets(config, condition)
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


def contrast_side(text: str, condition: str) -> dict:
    """``operator`` or ``condition:operator`` -> {"condition", "operator"}."""
    named, _, operator = text.strip().rpartition(":")
    return {"condition": named or condition, "operator": operator}


def primary_condition(config: dict) -> str:
    """The condition of a contrast's side that names none: ``primary.condition``, or the
    study's first condition."""
    return (config.get("primary") or {}).get("condition") or next(iter(config["conditions"]))


def primary_contrasts(config: dict) -> list[dict]:
    """The declared primary contrasts, resolved: name, dataset, metric, protocol, and each
    side's condition and operator (``stats.contrast_table`` takes this list)."""
    primary = config.get("primary")
    if not primary:
        return []
    dataset = primary.get("dataset") or config["datasets"][0]
    condition = primary_condition(config)
    contrasts = []
    for text in primary["contrasts"]:
        first, second = text.split(" - ")
        contrasts.append(
            {
                "name": text,
                "dataset": dataset,
                "metric": primary["metric"],
                "protocol": primary["protocol"],
                "first": contrast_side(first, condition),
                "second": contrast_side(second, condition),
            }
        )
    return contrasts


def answer_problems(config: dict) -> list[str]:
    """``primary.answer`` and ``primary.mechanisms`` must name declared contrasts."""
    primary = config.get("primary")
    if not primary:
        return []
    declared = primary["contrasts"]
    named = [("primary.answer", name) for name in primary["answer"]]
    named += [
        (f"primary.mechanisms.{mechanism}", name)
        for mechanism, name in primary["mechanisms"].items()
    ]
    return [
        f"config key {key}: {name!r} is not one of primary.contrasts: {', '.join(declared)}"
        for key, name in named
        if name not in declared
    ]


def compute_conditions(config: dict) -> list[str]:
    """The conditions of the accuracy-against-FLOPs comparison (``primary.compute``), or the
    primary condition alone."""
    primary = config.get("primary") or {}
    return list(primary.get("compute") or [primary_condition(config)])


def without_widths(settings: dict) -> dict:
    return {**settings, "model": {k: v for k, v in settings["model"].items() if k != "widths"}}


def compute_problems(config: dict) -> list[str]:
    """``primary.compute`` must name conditions trained on the primary dataset that differ
    from one another in ``model.widths`` alone (so that FLOPs are all that moves)."""
    names = (config.get("primary") or {}).get("compute")
    if not names:
        return []
    dataset = primary_contrasts(config)[0]["dataset"]
    problems, reference = [], None
    for index, name in enumerate(names):
        where = f"config key primary.compute[{index}]"
        if name not in config["conditions"]:
            problems.append(
                f"{where}: unknown condition {name!r}; choose one of: "
                f"{', '.join(config['conditions'])}"
            )
            continue
        if dataset not in condition_datasets(config, name):
            problems.append(f"{where}: condition {name!r} is not trained on {dataset!r}")
        settings = without_widths(condition_settings(config, name))
        if reference is None:
            reference = (name, settings)
        elif settings != reference[1]:
            differing = sorted(
                f"{section}.{key}"
                for section in settings
                for key in {*settings[section], *reference[1][section]}
                if settings[section].get(key) != reference[1][section].get(key)
            )
            problems.append(
                f"{where}: condition {name!r} differs from {reference[0]!r} in more than "
                f"model.widths ({', '.join(differing)}); the FLOP comparison needs widths alone"
            )
    return problems


BUDGET_KEYS = {"epochs", "steps"}
"""The train keys in which a half-budget condition may differ from the condition it checks."""


def half_budget(config: dict) -> dict[str, str]:
    """{a condition of the primary regime: the condition that trains its networks with half
    the budget}: ``primary.half_budget`` names the primary condition's, or maps conditions
    to theirs; nothing without it."""
    checks = (config.get("primary") or {}).get("half_budget")
    if not checks:
        return {}
    if isinstance(checks, dict):
        return dict(checks)
    return {primary_condition(config): checks}


def half_budget_problems(config: dict) -> list[str]:
    """Each half-budget condition of ``primary.half_budget`` must be a condition on the
    primary dataset that trains some of its checked condition's operators with settings that
    differ in the budget alone (``train.steps``, set, or ``train.epochs``), and each checked
    condition (where they are mapped) one of the contrasts'. Its ``evaluate`` section may
    differ: the check compares clean test accuracy, which no evaluation setting changes."""
    checks = half_budget(config)
    mapped = isinstance((config.get("primary") or {}).get("half_budget"), dict)
    sides = {
        side["condition"]
        for contrast in primary_contrasts(config)
        for side in (contrast["first"], contrast["second"])
    }
    problems = []
    for condition, half in checks.items():
        where = "config key primary.half_budget" + (f".{condition}" if mapped else "")
        if mapped and condition not in sides:
            problems.append(
                f"{where}: condition {condition!r} is on no side of the primary contrasts "
                f"({', '.join(sorted(sides))})"
            )
            continue
        problems += half_budget_condition_problems(config, condition, half, where)
    return problems


def half_budget_condition_problems(config: dict, condition: str, half: str, where: str):
    """Why ``half`` cannot check ``condition`` by halving its budget (empty when it can)."""
    if half not in config["conditions"]:
        return [
            f"{where}: unknown condition {half!r}; choose one of: {', '.join(config['conditions'])}"
        ]
    if half == condition:
        return [f"{where}: {half!r} is the condition it checks itself"]
    problems = []
    dataset = primary_contrasts(config)[0]["dataset"]
    if dataset not in condition_datasets(config, half):
        problems.append(f"{where}: condition {half!r} is not trained on {dataset!r}")
    extra = sorted(
        set(condition_operators(config, half)) - set(condition_operators(config, condition))
    )
    if extra:
        problems.append(
            f"{where}: condition {half!r} trains operators that {condition!r} does not "
            f"({', '.join(extra)})"
        )
    full, short = condition_settings(config, condition), condition_settings(config, half)
    differing = sorted(
        f"{section}.{key}"
        for section in full
        if section != "evaluate"
        for key in {*full[section], *short[section]}
        if full[section].get(key) != short[section].get(key)
        and not (section == "train" and key in BUDGET_KEYS)
    )
    if differing:
        problems.append(
            f"{where}: condition {half!r} differs from {condition!r} in more than the "
            f"training budget ({', '.join(differing)})"
        )
    if short["train"].get("steps") is None:
        problems.append(f"{where}: condition {half!r} must set train.steps (half the budget)")
    elif full["train"].get("steps") and 2 * short["train"]["steps"] != full["train"]["steps"]:
        problems.append(
            f"{where}: condition {half!r} trains {short['train']['steps']} steps, not half of "
            f"{condition!r}'s {full['train']['steps']}"
        )
    return problems


def primary_problems(config: dict) -> list[str]:
    """Contrasts that cannot be computed: a side that is not trained (unknown condition, an
    operator the condition does not train, a dataset not studied), or two sides whose
    conditions differ in canvas (their accuracies are not of the same images)."""
    problems = []
    datasets = config["datasets"]
    for index, contrast in enumerate(primary_contrasts(config)):
        where = f"config key primary.contrasts[{index}] ({contrast['name']!r})"
        if contrast["dataset"] not in datasets:
            problems.append(
                f"config key primary.dataset: {contrast['dataset']!r} is not studied; "
                f"choose one of: {', '.join(datasets)}"
            )
            break
        canvases = []
        for side in (contrast["first"], contrast["second"]):
            condition, operator = side["condition"], side["operator"]
            if condition not in config["conditions"]:
                problems.append(
                    f"{where}: unknown condition {condition!r}; choose one of: "
                    f"{', '.join(config['conditions'])}"
                )
                break
            if contrast["dataset"] not in condition_datasets(config, condition):
                problems.append(
                    f"{where}: condition {condition!r} is not trained on {contrast['dataset']!r}"
                )
            trained = condition_operators(config, condition)
            if operator not in trained:
                problems.append(
                    f"{where}: condition {condition!r} does not train {operator!r}; it trains: "
                    f"{', '.join(trained)}"
                )
            canvases.append(condition_settings(config, condition)["placement"].get("canvas"))
        if len(canvases) == 2 and canvases[0] != canvases[1]:
            problems.append(
                f"{where}: its sides' conditions place the images on different canvases "
                f"({canvases[0]} and {canvases[1]}): their accuracies are not comparable"
            )
    return (
        problems + answer_problems(config) + compute_problems(config) + half_budget_problems(config)
    )


def primary_regime(config: dict) -> dict:
    """The primary regime that ``analyze`` checks for overfitting and convergence: the
    contrasts' dataset and the conditions their sides use, with the thresholds."""
    contrasts = primary_contrasts(config)
    if not contrasts:
        return {}
    conditions = []
    for contrast in contrasts:
        for side in (contrast["first"], contrast["second"]):
            if side["condition"] not in conditions:
                conditions.append(side["condition"])
    compute = compute_conditions(config)
    conditions += [name for name in compute if name not in conditions]
    primary = config["primary"]
    return {
        "dataset": contrasts[0]["dataset"],
        "conditions": conditions,
        "compute": compute,
        "gap_threshold": primary["gap_threshold"],
        "plateau_points": primary["plateau_points"],
        "half_budget": half_budget(config),
    }
