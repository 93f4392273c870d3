"""What a study computes, before it runs: its cells (one training and one evaluation job
each), the network each trains and the forward FLOPs of its training and evaluation, from
the dataset shapes the registry knows without loading any data (see ``poolstudy.estimate``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache

import torch

from poolstudy.checks import network_spec
from poolstudy.data import DATASETS
from poolstudy.data.prepare import PreparedShape, prepared_shape
from poolstudy.evaluate import EvalConfig, diagonal_positions, grid_for
from poolstudy.models import ModelSpec, build_model, flop_counts
from poolstudy.placement import PlacementConfig, position_grid
from poolstudy.plan import SWEEP_PREFIX, condition_settings, datasets_used, planned_runs

BLOCKS = ("main", "placement", "sweep")
SINGLE_JOBS = ("analyze", "figures", "paper_inputs", "paper")
TRAIN_FACTOR = 3
"""Training FLOPs per forward FLOP: the backward pass costs about twice the forward."""


@dataclass(frozen=True)
class Cell:
    """One training job and one evaluation job: a (dataset, condition, operator) and its seeds."""

    dataset: str
    condition: str
    operator: str
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class RunCost:
    """What one run of a cell costs (every seed of a cell costs the same)."""

    forward_flops: int  # per image
    train_images: int
    steps: int
    train_flops: float
    eval_images: int
    eval_flops: float


@dataclass
class CellCost:
    cell: Cell
    block: str
    spec: ModelSpec
    run: RunCost

    @property
    def runs(self) -> int:
        return len(self.cell.seeds)

    @property
    def train_flops(self) -> float:
        return self.run.train_flops * self.runs

    @property
    def eval_flops(self) -> float:
        return self.run.eval_flops * self.runs

    @property
    def steps(self) -> int:
        return self.run.steps * self.runs


@dataclass
class StudyCost:
    """Every cell's cost and the jobs that are not per cell (prepare and the single jobs)."""

    cells: list[CellCost]
    datasets: list[str]

    @property
    def other_jobs(self) -> int:
        return len(self.datasets) + len(SINGLE_JOBS)

    @property
    def jobs(self) -> int:
        return 2 * len(self.cells) + self.other_jobs

    def block(self, name: str) -> list[CellCost]:
        return [cost for cost in self.cells if cost.block == name]


# --- what runs -------------------------------------------------------------------------------


def cells(config: dict) -> list[Cell]:
    """The planned runs grouped by (dataset, condition, operator), in plan order."""
    seeds: dict[tuple[str, str, str], list[int]] = {}
    for run in planned_runs(config):
        seeds.setdefault((run.dataset, run.condition, run.operator), []).append(run.seed)
    return [Cell(*key, tuple(values)) for key, values in seeds.items()]


def job_count(config: dict) -> int:
    """Snakemake jobs of the study: train and evaluate per cell, prepare per dataset, and
    the single jobs."""
    return 2 * len(cells(config)) + len(datasets_used(config)) + len(SINGLE_JOBS)


def block_of(condition: str, settings: dict) -> str:
    if condition.startswith(SWEEP_PREFIX):
        return "sweep"
    return "placement" if settings["placement"]["canvas"] is not None else "main"


def data_shape(config: dict, dataset: str) -> PreparedShape:
    """The prepared file's shape for this config, without preparing (or downloading) it."""
    options = config["data"]["options"].get(dataset, {})
    split = config["data"]["split"]
    raw = DATASETS[dataset].shape(options)
    return prepared_shape(raw, split["val_fraction"], split["test_fraction"], options.get("canvas"))


# --- FLOPs -----------------------------------------------------------------------------------


def spec_key(spec: ModelSpec) -> str:
    """A hashable text that names the network (a spec holds a dict, so it is not hashable)."""
    return json.dumps(spec.to_dict(), sort_keys=True)


def training_by_network(study: StudyCost) -> dict[str, float]:
    """Training FLOPs of each of the study's networks (``spec_key``), summed over the cells that
    train it, in the order its cells first name them."""
    flops: dict[str, float] = {}
    for cost in study.cells:
        key = spec_key(cost.spec)
        flops[key] = flops.get(key, 0.0) + cost.train_flops
    return flops


def forward_flops(spec: ModelSpec) -> int:
    """Forward FLOPs per image of the network ``spec`` builds at test time, every test-time
    draw counted (``models.count_flops``; cached by spec)."""
    return _flops_of(spec_key(spec))[0]


def training_pass_flops(spec: ModelSpec) -> int:
    """Forward FLOPs per image of one training pass (``models.flop_counts``; cached by
    spec)."""
    return _flops_of(spec_key(spec))[1]


@cache
def _flops_of(key: str) -> tuple[int, int]:
    spec = ModelSpec.from_dict(json.loads(key))
    try:  # on the meta device: shapes only, no arithmetic
        with torch.device("meta"):
            return flop_counts(build_model(spec))
    except (NotImplementedError, RuntimeError):  # an operator the meta device cannot run
        return flop_counts(build_model(spec))


def training_size(train: dict, shape: PreparedShape) -> int:
    """Images a run trains on: the split, or ``n_train`` of them when that is smaller
    (``train.select_training_subset``)."""
    n, subset = shape.splits["train"], train["n_train"]
    return n if subset is None or subset >= n else subset


def optimiser_steps(train: dict, n: int) -> int:
    """``steps``, else ``epochs`` passes over ``n`` images in batches of ``batch_size``."""
    return train["steps"] or max(1, math.ceil(n / train["batch_size"])) * train["epochs"]


def train_cost(
    train: dict, shape: PreparedShape, flops: int, pass_flops: int | None = None
) -> tuple[int, int, float]:
    """(images trained on, steps, training FLOPs) of one run: forward and backward over every
    batch at ``pass_flops`` per image (one training pass; ``flops`` where not given; counted
    full: a pass's last batch may be smaller), and ``val_points`` evaluations of the validation
    split at ``flops`` per image (every test-time draw; one per step when the run has fewer
    steps, as in ``train.validation_steps``)."""
    pass_flops = flops if pass_flops is None else pass_flops
    n = training_size(train, shape)
    steps = optimiser_steps(train, n)
    images = steps * min(train["batch_size"], n)
    validation = min(train["val_points"], steps) * shape.splits["val"]
    return images, steps, float(pass_flops) * TRAIN_FACTOR * images + float(flops) * validation


def grid_size(protocol: str, settings: dict, shape: PreparedShape) -> int:
    """Shifts (or positions) a protocol classifies every test image at."""
    if protocol == "placement":
        placement = PlacementConfig.from_dict(settings["placement"])
        return len(position_grid(placement.reach(shape.image_size), placement.step))
    return len(grid_for(protocol, EvalConfig.from_dict(settings["evaluate"])))


def stability_views(protocol: str, settings: dict) -> int:
    """Extra forward passes over the test images per protocol (``evaluate.stability_metrics``):
    two views at random offsets (consistency) and one per diagonal position (top-1 change)."""
    return 2 + len(diagonal_positions(protocol, EvalConfig.from_dict(settings["evaluate"])))


def eval_images(settings: dict, shape: PreparedShape, n_train: int) -> int:
    """Forward passes (images) of one evaluation job per seed; training accuracy on at most
    ``evaluate.train_images`` of the ``n_train`` images trained on, the shift protocols on at
    most ``evaluate.shift_images`` of the test images."""
    test = shape.splits["test"]
    placed = settings["placement"]["canvas"] is not None
    train_images = settings["evaluate"].get("train_images")
    trained = n_train if train_images is None else min(n_train, train_images)
    shift_images = settings["evaluate"].get("shift_images")
    shifted_test = test if shift_images is None else min(test, shift_images)
    clean = trained + shape.splits["val"] + test + (test if placed else 0)
    shifted = sum(
        shifted_test * (grid_size(protocol, settings, shape) + stability_views(protocol, settings))
        for protocol in settings["evaluate"]["protocols"]
    )
    return clean + shifted


def run_cost(settings: dict, shape: PreparedShape, spec: ModelSpec) -> RunCost:
    flops = forward_flops(spec)
    images, steps, train_flops = train_cost(
        settings["train"], shape, flops, training_pass_flops(spec)
    )
    evaluated = eval_images(settings, shape, training_size(settings["train"], shape))
    return RunCost(flops, images, steps, train_flops, evaluated, float(flops) * evaluated)


def study_cost(config: dict) -> StudyCost:
    """Every cell's block, network and cost, for a validated config (``load_config``)."""
    settings = {}
    shapes = {}
    costs = []
    for cell in cells(config):
        if cell.condition not in settings:
            settings[cell.condition] = condition_settings(config, cell.condition)
        if cell.dataset not in shapes:
            shapes[cell.dataset] = data_shape(config, cell.dataset)
        these, shape = settings[cell.condition], shapes[cell.dataset]
        spec = network_spec(cell.operator, shape, these)  # the network its runs train
        block = block_of(cell.condition, these)
        costs.append(CellCost(cell, block, spec, run_cost(these, shape, spec)))
    return StudyCost(costs, datasets_used(config))
