"""Cross-key checks: settings that pass the schema one key at a time but cannot run together.

``config.validate_config`` runs these after the schema and the registry names, so a config
that would fail in some job is refused before any job starts (by ``check-config``, by the
Snakefile, and so by ``dvc repro``). Each check asks the code that would fail instead of
keeping a second list of rules: the dataset registry's ``shape(options)`` and
``prepare.prepared_shape`` give every split's size and every image's side without any data;
``prepare.canvas_problem``, ``prepare.empty_splits`` and ``PlacementConfig.reach`` are called
as preparing and training would call them; the network of every (dataset, condition,
operator) cell is built as training builds it (one channel per stage: the widths do not change
a map's size) and run on a zero image; an operator's options are matched against its
constructor's signature. Every problem names the config key, its value and what would be valid.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

from poolstudy.plan import condition_settings, planned_runs, primary_problems, sweep_points


@dataclass
class Problems:
    """Problems found, one per (key, text); the conditions where each occurs are listed once."""

    found: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, key: str, text: str, condition: str | None = None) -> None:
        conditions = self.found.setdefault((key, text), [])
        if condition is not None and condition not in conditions:
            conditions.append(condition)

    def lines(self) -> list[str]:
        lines = []
        for (key, text), conditions in self.found.items():
            where = ""
            if conditions:
                label = "condition" if len(conditions) == 1 else "conditions"
                where = f" (in {label} {', '.join(conditions)})"
            lines.append(f"config key {key}: {text}{where}")
        return lines


@dataclass
class Study:
    """What the checks look at: each condition's settings, the (dataset, condition, operator)
    cells the plan trains, and each dataset's raw and prepared shapes (None where the
    dataset's options are themselves invalid)."""

    config: dict
    settings: dict[str, dict]
    cells: list[tuple[str, str, str]]
    raw: dict
    prepared: dict
    option_errors: dict[str, str]

    @classmethod
    def of(cls, config: dict) -> Study:
        from poolstudy.data import DATASETS
        from poolstudy.data.prepare import prepared_shape

        cells = list(
            dict.fromkeys((r.dataset, r.condition, r.operator) for r in planned_runs(config))
        )
        conditions = dict.fromkeys(condition for _, condition, _ in cells)
        settings = {name: condition_settings(config, name) for name in conditions}
        split = config["data"]["split"]
        raw, prepared, errors = {}, {}, {}
        named = [*dict.fromkeys(d for d, _, _ in cells), *config["data"]["options"]]
        for name in dict.fromkeys(named):
            options = config["data"]["options"].get(name, {})
            try:
                raw[name] = DATASETS[name].shape(options)
            except (ValueError, TypeError) as error:
                errors[name] = f"{error}; given {options}"
                continue
            prepared[name] = prepared_shape(
                raw[name], split["val_fraction"], split["test_fraction"], options.get("canvas")
            )
        return cls(config, settings, cells, raw, prepared, errors)

    def pairs(self):
        """(dataset, condition) pairs the plan trains, with valid dataset shapes."""
        seen = dict.fromkeys((d, c) for d, c, _ in self.cells if d in self.prepared)
        return list(seen)

    def field_size(self, dataset: str, condition: str) -> int:
        """Side of the images a condition's networks see: its placement canvas, else the
        prepared image."""
        canvas = self.settings[condition]["placement"].get("canvas")
        return canvas if canvas is not None else self.prepared[dataset].image_size


def origin(config: dict, condition: str, section: str, *keys: str) -> str:
    """The config key that gives ``condition`` its ``section.keys``: the sweep's own setting
    (``n_train`` or ``augment_shift``, with its index in the sweep's list), a condition's
    override (for a sweep point, that of the sweep's base condition), or the section's."""
    point = sweep_points(config).get(condition)
    if point is not None:
        if keys[0] in point:  # a sweep point's own training setting
            return f"sweep.{keys[0]}[{config['sweep'][keys[0]].index(point[keys[0]])}]"
        condition = config["sweep"]["base"]
    node = config["conditions"][condition].get(section)
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return ".".join((section, *keys))
        node = node[key]
    return ".".join(("conditions", condition, section, *keys))


# --- data -------------------------------------------------------------------------------------


def mirror_problems(study: Study, problems: Problems) -> None:
    """``data.mirror`` must be a folder where a dataset the plan trains on downloads:
    preparing it copies the raw archives from there. A study that downloads nothing never
    reads the mirror (``jobs.raw_data_args``), so a shared config's mirror that this machine
    lacks does not stop it."""
    from poolstudy.data import DATASETS

    mirror = study.config["data"].get("mirror")
    downloading = [d for d in dict.fromkeys(d for d, _, _ in study.cells) if DATASETS[d].downloads]
    if mirror and downloading and not Path(mirror).is_dir():
        problems.add(
            "data.mirror",
            f"the folder {mirror!r} does not exist; give an existing folder holding the raw "
            "archives, or null to download them",
        )


def dataset_option_problems(study: Study, problems: Problems) -> None:
    """A dataset's options must be ones its ``shape`` (and so its ``load``) accepts."""
    for name, error in study.option_errors.items():
        problems.add(f"data.options.{name}", error)


def canvas_problems(study: Study, problems: Problems) -> None:
    """A dataset canvas must hold its images (``prepare.canvas_problem``, as preparing it
    checks)."""
    from poolstudy.data.prepare import canvas_problem

    for name, raw in study.raw.items():
        canvas = study.config["data"]["options"].get(name, {}).get("canvas")
        if problem := canvas_problem(name, raw, canvas):
            problems.add(f"data.options.{name}.canvas", problem)


def split_problems(study: Study, problems: Problems) -> None:
    """Every split of every dataset trained on must hold images: training needs a training
    split, validation a validation split, evaluation a test split."""
    from poolstudy.data.prepare import empty_splits

    split = study.config["data"]["split"]
    for name in dict.fromkeys(d for d, _, _ in study.cells):
        if name not in study.prepared:
            continue
        sizes = study.prepared[name].splits
        empty, by_options = empty_splits(study.raw[name], sizes)
        if not empty:
            continue
        counts = ", ".join(f"{part} {count}" for part, count in sizes.items())
        if by_options:
            problems.add(
                f"data.options.{name}",
                f"{name} has no {' or '.join(empty)} images ({counts}); give it a "
                f"{' and '.join(empty)} split",
            )
            continue
        problems.add(
            "data.split",
            f"val_fraction {split['val_fraction']} and test_fraction {split['test_fraction']} "
            f"leave the {' and '.join(empty)} split of {name} empty ({counts}); choose "
            "fractions that leave every split at least one image",
        )


def n_train_problems(study: Study, problems: Problems) -> None:
    """A training subset cannot be larger than the training split (it would silently be the
    whole split, and two sweep sizes the same run)."""
    config = study.config
    for dataset, condition in study.pairs():
        n_train = study.settings[condition]["train"].get("n_train")
        available = study.prepared[dataset].splits["train"]
        if n_train is None or n_train <= available or available == 0:
            continue  # an empty split is split_problems' to report
        key = origin(config, condition, "train", "n_train")
        problems.add(
            key,
            f"{n_train} training images, but the training split of {dataset} holds "
            f"{available}; choose at most {available}"
            + ("" if key.startswith("sweep") else ", or null for all of them"),
            condition,
        )


def placement_canvas_problems(study: Study, problems: Problems) -> None:
    """A placement canvas must hold the image with an even margin (``PlacementConfig.reach``
    refuses it when training or evaluation starts)."""
    from poolstudy.placement import PlacementConfig

    for dataset, condition in study.pairs():
        placement = PlacementConfig.from_dict(study.settings[condition]["placement"])
        if not placement.active:
            continue
        size = study.prepared[dataset].image_size
        try:
            placement.reach(size)
        except ValueError:
            problems.add(
                origin(study.config, condition, "placement", "canvas"),
                f"{placement.canvas} must exceed the {size}-pixel images of {dataset} by an "
                f"even margin, so that they have a centre position; choose {size + 2}, "
                f"{size + 4}, ...",
                condition,
            )


def shift_problems(study: Study, problems: Problems) -> None:
    """A shift must leave part of the object on its canvas: one of half the canvas plus half
    the object or more moves every object pixel off it under the zero-fill protocols, and is
    more context than the crop protocol's scenes have (``shifts.context_scenes``)."""
    for dataset, condition in study.pairs():
        settings = study.settings[condition]
        canvas = study.field_size(dataset, condition)
        size = study.raw[dataset].size
        limit = (canvas + size - 1) // 2
        keys = [("train", "augment_shift")]
        if settings["evaluate"].get("protocols"):
            keys += [("evaluate", "max_shift"), ("evaluate", "consistency_shift")]
        for section, key in keys:
            value = settings[section].get(key) or 0
            if value > limit:
                problems.add(
                    origin(study.config, condition, section, key),
                    f"a shift of {value} pixels moves the {size}-pixel images of {dataset} "
                    f"wholly off their {canvas}-pixel canvas; choose at most {limit}",
                    condition,
                )


def subpixel_step_problems(study: Study, problems: Problems) -> None:
    """The fractional protocols shift from 0 to 1 pixel in steps of ``subpixel_step``
    (``evaluate.subpixel_grid``: 1 / step of them, rounded): a step that does not divide a pixel
    would end the grid short of a pixel (0.4: 0.4, 0.8) or past it (0.6: 1.2)."""
    from poolstudy.shifts import FRACTIONAL

    for condition, settings in study.settings.items():
        evaluate = settings["evaluate"]
        step = evaluate.get("subpixel_step")
        if step is None or not FRACTIONAL & set(evaluate.get("protocols") or ()):
            continue
        steps = round(1 / step)  # at least 1: the schema keeps the step in (0, 1]
        if abs(steps * step - 1) > 1e-3:  # thirds written as 0.3333 pass
            problems.add(
                origin(study.config, condition, "evaluate", "subpixel_step"),
                f"a step of {step} pixels does not divide a pixel: the sub-pixel shifts would "
                f"end at {steps * step:g} pixels, not 1; choose 1/n (0.5, 0.25, 0.2, ...)",
                condition,
            )


# --- networks ---------------------------------------------------------------------------------


def operator_keywords(operator: type) -> list[str] | None:
    """The options an operator class takes: its constructor's keyword parameters less those
    the network passes itself (the named parameters of ``pooling.build_operator``); None when
    it takes any keyword."""
    from poolstudy.pooling import build_operator

    supplied = set(inspect.signature(build_operator).parameters)
    taken = []
    for name, parameter in inspect.signature(operator.__init__).parameters.items():
        if parameter.kind is parameter.VAR_KEYWORD:
            return None
        if parameter.kind is not parameter.VAR_POSITIONAL and name not in supplied | {"self"}:
            taken.append(name)
    return taken


def option_sources(config: dict):
    """(config key, ``operator_options`` mapping): the model section's and each condition's."""
    yield "model.operator_options", config["model"]["operator_options"]
    for name, overrides in config["conditions"].items():
        options = overrides.get("model", {}).get("operator_options", {})
        yield f"conditions.{name}.model.operator_options", options


def operator_option_problems(study: Study, problems: Problems) -> set[str]:
    """Every option must be a parameter of its operator's class; returns the operators with
    an unknown option (their networks cannot be built to check further)."""
    from poolstudy.pooling import OPERATORS

    refused = set()
    for where, options in option_sources(study.config):
        for operator, values in options.items():
            if operator not in OPERATORS or not isinstance(values, dict):
                continue  # config.check_names reports unknown operators
            taken = operator_keywords(OPERATORS[operator])
            for key in values:
                if taken is not None and key not in taken:
                    refused.add(operator)
                    problems.add(
                        f"{where}.{operator}.{key}",
                        f"{operator!r} takes no option {key!r}; it takes: "
                        f"{', '.join(taken) or 'no options'}",
                    )
    return refused


def stage_sizes(spec) -> list[int] | None:
    """Side of the map after each stage of the network ``spec`` builds (one channel per
    stage), or None when building or running it fails."""
    from poolstudy.models import build_model, feature_map_sizes_of

    narrow = dataclasses.replace(spec, widths=(1,) * len(spec.widths))
    try:
        return feature_map_sizes_of(build_model(narrow).stages, narrow)
    except Exception:  # whatever fails here would fail in the job: build_error says what
        return None


def halving_stages(spec, operator: type) -> int:
    """How many of ``spec``'s stages run: those before a build or forward pass fails, and
    for an operator that shrinks the map (``rf_stride`` > 1) those whose input it can still
    shrink."""
    for count in range(len(spec.widths), 0, -1):
        prefix = dataclasses.replace(spec, widths=spec.widths[:count])
        sizes = stage_sizes(prefix)
        if sizes is None:
            continue
        inputs = [spec.image_size, *sizes[:-1]]
        if all(side >= operator.rf_stride for side in inputs):
            return count
    return 0


def network_problems(study: Study, problems: Problems, refused: set[str]) -> None:
    """Every cell's network must build and run on its images: an option value its operator
    refuses, or more stages than the image can be halved for, is found by building it."""
    import torch

    threads = torch.get_num_threads()
    # One thread: these maps are tiny, and on a busy machine a thread pool's barriers made
    # the same checks 30 times slower. Building draws initial weights: the generator is kept.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            built: dict[str, tuple[object, int]] = {}
            for cell in study.cells:
                if cell[2] not in refused and cell[0] in study.prepared:
                    cell_problems(study, problems, cell, built)
    finally:
        torch.set_num_threads(threads)


def network_spec(operator: str, shape, settings: dict):
    """The ``ModelSpec`` a cell's runs train (``train.build_network`` of ``spec_options_for``,
    which tests/test_bad_configs.py holds it to; ``estimate`` sizes a study with it): here
    without importing the modules that need pandas, which would double the time of the
    checks."""
    from poolstudy.models import ModelSpec

    model = settings["model"]
    canvas = settings["placement"].get("canvas")
    return ModelSpec(
        operator=operator,
        in_channels=shape.in_channels,
        num_classes=shape.num_classes,
        image_size=shape.image_size if canvas is None else canvas,
        **{key: value for key, value in model.items() if key != "operator_options"},
        operator_options=model["operator_options"].get(operator, {}),
    )


def cell_problems(study: Study, problems: Problems, cell, built: dict) -> None:
    """``network_problems`` of one (dataset, condition, operator) cell; ``built`` caches the
    stages that run per distinct network."""
    from poolstudy.pooling import OPERATORS

    dataset, condition, operator = cell
    # config.check_names and the schema have refused unknown operators and heads
    spec = network_spec(operator, study.prepared[dataset], study.settings[condition])
    key = json.dumps({**spec.to_dict(), "widths": len(spec.widths)}, sort_keys=True)
    if key not in built:
        built[key] = (spec, halving_stages(spec, OPERATORS[operator]))
    spec, stages = built[key]
    if stages == len(spec.widths):
        return
    if stages == 0:
        problems.add(
            origin(study.config, condition, "model", "operator_options", operator),
            f"{operator!r} cannot be built with the options {spec.operator_options}: "
            f"{build_error(spec)}",
            condition,
        )
        return
    problems.add(
        origin(study.config, condition, "model", "widths"),
        f"{len(spec.widths)} stages, but {operator!r} can halve the {spec.image_size}-pixel "
        f"images of {dataset} only {stages} times; give at most {stages} widths",
        condition,
    )


def build_error(spec) -> str:
    """Why the network of ``spec`` cannot be built (its first stage alone)."""
    from poolstudy.models import build_model

    first = dataclasses.replace(spec, widths=(1,))
    try:
        build_model(first)
    except Exception as error:  # the message is what the user needs
        return str(error) or type(error).__name__
    return "it fails on its images"


def config_problems(config: dict) -> list[str]:
    """Every cross-key problem of a config that passed the schema and the name checks."""
    study = Study.of(config)
    problems = Problems()
    mirror_problems(study, problems)
    dataset_option_problems(study, problems)
    canvas_problems(study, problems)
    split_problems(study, problems)
    n_train_problems(study, problems)
    placement_canvas_problems(study, problems)
    shift_problems(study, problems)
    subpixel_step_problems(study, problems)
    refused = operator_option_problems(study, problems)
    network_problems(study, problems, refused)
    return problems.lines() + primary_problems(config)
