"""How big a study is before it runs: Snakemake jobs, training and evaluation FLOPs per block,
and the predicted wall time on this machine's CPU (calibrated here) and on a named GPU (from a
stored table).

Jobs. One ``train`` and one ``evaluate`` job per cell, a cell being (dataset, condition,
operator) with all its seeds (``config['seeds']``, the sweep's ``sweep.seeds``); one
``prepare`` job per dataset used; and the single jobs :data:`SINGLE_JOBS`.

Blocks. ``main``: the main conditions without placement; ``placement``: the main conditions
whose ``placement.canvas`` is set; ``sweep``: the conditions of the data-size sweep
(``plan.SWEEP_PREFIX``). Each block's work is counted in forward FLOPs per image
(``models.count_flops``: 2 per multiply-add; pooling, BN and activations not counted), from
the dataset shapes that the registry knows without loading any data (``DatasetEntry.shape``):

- training a run: ``3 x forward x images`` (forward plus a backward of twice its cost), with
  ``images = steps x min(batch_size, n)``; ``steps`` is ``train.steps``, else
  ``ceil(n / batch_size) x epochs``, and ``n`` the training split, or ``train.n_train`` when
  that is smaller; plus ``train.val_points`` forward passes over the validation split (at
  most one per step);
- evaluating a run: one forward pass over each split (the training subset, validation, test;
  with placement the test images once more, centred), and per shift protocol the test images
  (at most ``evaluate.shift_images`` of them) under every shift of its grid
  (``evaluate.grid_for``, ``placement.position_grid``) plus the views of the stability
  metrics (``stability_views``).

With placement every forward pass sees the placement canvas. Wall time per job is
``FLOPs / rate + steps x step_seconds + job_seconds``: on the CPU the rates are measured here
for each network of the study (:func:`calibrate_cpu`: one thread, as each job runs with
``threads: 1``, and ``os.cpu_count()`` jobs at once; a pooled network reaches a third of the
FLOP rate of a full-resolution one), on a GPU they come from :data:`GPU_RATES` and jobs run
one at a time (``resources: gpu=1``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache

import torch
import torch.nn.functional as F

from poolstudy.data import DATASETS
from poolstudy.data.prepare import PreparedShape, prepared_shape
from poolstudy.device import eval_batch_size
from poolstudy.evaluate import EvalConfig, diagonal_positions, grid_for
from poolstudy.models import ModelSpec, build_model, count_flops
from poolstudy.placement import PlacementConfig, position_grid
from poolstudy.plan import SWEEP_PREFIX, condition_settings, datasets_used, planned_runs
from poolstudy.train import TrainConfig, make_optimizer

BLOCKS = ("main", "placement", "sweep")
SINGLE_JOBS = ("analyze", "figures", "paper_inputs", "paper")
TRAIN_FACTOR = 3
"""Training FLOPs per forward FLOP: the backward pass costs about twice the forward."""


@dataclass(frozen=True)
class GpuRates:
    """Achieved throughput of these networks on one GPU (not its peak)."""

    train: float  # training FLOP/s (counted as TRAIN_FACTOR x forward FLOPs)
    evaluate: float  # evaluation (forward) FLOP/s
    step_seconds: float  # host-side cost of one optimiser step, on top of its FLOPs
    job_seconds: float  # per job: process start, imports, CUDA context, data to the device
    peak: float  # dense bf16 peak, for reference only


GPU_RATES: dict[str, GpuRates] = {
    # Assumptions, not measurements: replace them with the figures that
    # `python -m poolstudy bench --device cuda` measures on each GPU.
    "H100": GpuRates(
        train=120e12, evaluate=200e12, step_seconds=2.5e-3, job_seconds=10.0, peak=989e12
    ),
    "H200": GpuRates(
        train=120e12, evaluate=200e12, step_seconds=2.5e-3, job_seconds=10.0, peak=989e12
    ),
    "A100": GpuRates(
        train=37e12, evaluate=62e12, step_seconds=2.5e-3, job_seconds=10.0, peak=312e12
    ),
}
"""Stored GPU throughput for bf16 autocast, channels_last, training batches of 256 and large
evaluation batches, for the VGG-style networks of ``config/paper.yaml`` (widths 64-256, two
convolutions per stage, 32-64 pixel inputs). No GPU has been measured yet, so these are
conservative assumptions: about 12% of the dense bf16 peak for training and 20% for
evaluation (convolutions of 64-256 channels on small maps, and BN and activations, which are
memory-bound, keep these networks far from the peak that large layers reach). The H200 gets
the H100's figures (the same compute; no credit for its faster memory), the A100 the same
fractions of its peak. ``step_seconds`` is the host's Python and kernel-launch time per
optimiser step of an eager PyTorch loop (about a hundred kernels), counted as not overlapping
with the GPU's work; ``job_seconds`` covers Python and torch imports, the CUDA context,
cuDNN's autotuning and loading the prepared data."""

CALIBRATED_NETWORKS = 12
"""On the CPU at most this many networks are timed, those with most training FLOPs; each other
one is counted at the rates of the heaviest timed network with its operator (the operator
decides whether a network keeps full resolution, which sets its FLOP rate), else of the
heaviest."""

CPU_JOB_EXTRA_SECONDS = 1.0
"""Per job on top of the measured import time: Snakemake's scheduling, loading the prepared
data and writing the outputs (an assumption)."""
CPU_STEP_FLOPS = 1e10
"""Training FLOPs of one calibration step at most (the batch is cut to fit): a step of a large
network at batch 256 would take minutes on one thread."""
IMPORT_PROBE = "import poolstudy.evaluate"
"""What every train and evaluate job imports (torch, pandas, the library): its time is the
measured part of the per-job cost on the CPU."""


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


@dataclass(frozen=True)
class Rates:
    """How fast jobs run on one machine; see :func:`job_seconds`."""

    name: str
    train: float
    evaluate: float
    step_seconds: float
    job_seconds: float
    parallel: int  # jobs at once
    source: str
    # (training, evaluation) FLOP/s of the networks measured one by one (``spec_key``); the
    # others run at ``train`` and ``evaluate``
    per_network: dict[str, tuple[float, float]] = field(default_factory=dict)

    def for_network(self, spec: ModelSpec) -> tuple[float, float]:
        return self.per_network.get(spec_key(spec), (self.train, self.evaluate))


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


def model_spec(operator: str, shape: PreparedShape, settings: dict) -> ModelSpec:
    """The network a run trains, as ``train.run_training`` builds it."""
    model = settings["model"]
    canvas = settings["placement"]["canvas"]
    return ModelSpec(
        operator=operator,
        in_channels=shape.in_channels,
        num_classes=shape.num_classes,
        image_size=shape.image_size if canvas is None else canvas,
        **{key: value for key, value in model.items() if key != "operator_options"},
        operator_options=model["operator_options"].get(operator, {}),
    )


# --- FLOPs -----------------------------------------------------------------------------------


def spec_key(spec: ModelSpec) -> str:
    """A hashable text that names the network (a spec holds a dict, so it is not hashable)."""
    return json.dumps(spec.to_dict(), sort_keys=True)


def forward_flops(spec: ModelSpec) -> int:
    """Forward FLOPs per image of the network ``spec`` builds (cached by spec)."""
    return _flops_of(spec_key(spec))


@cache
def _flops_of(key: str) -> int:
    spec = ModelSpec.from_dict(json.loads(key))
    try:  # on the meta device: shapes only, no arithmetic
        with torch.device("meta"):
            return count_flops(build_model(spec))
    except (NotImplementedError, RuntimeError):  # an operator the meta device cannot run
        return count_flops(build_model(spec))


def training_size(train: dict, shape: PreparedShape) -> int:
    """Images a run trains on: the split, or ``n_train`` of them when that is smaller
    (``train.select_training_subset``)."""
    n, subset = shape.splits["train"], train["n_train"]
    return n if subset is None or subset >= n else subset


def optimiser_steps(train: dict, n: int) -> int:
    """``steps``, else ``epochs`` passes over ``n`` images in batches of ``batch_size``."""
    return train["steps"] or max(1, math.ceil(n / train["batch_size"])) * train["epochs"]


def train_cost(train: dict, shape: PreparedShape, flops: int) -> tuple[int, int, float]:
    """(images trained on, steps, training FLOPs) of one run: forward and backward over every
    batch (counted full: a pass's last batch may be smaller), and ``val_points`` forward passes
    over the validation split (one per step when the run has fewer steps, as in
    ``train.validation_steps``)."""
    n = training_size(train, shape)
    steps = optimiser_steps(train, n)
    images = steps * min(train["batch_size"], n)
    validation = min(train["val_points"], steps) * shape.splits["val"]
    return images, steps, float(flops) * (TRAIN_FACTOR * images + validation)


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
    images, steps, train_flops = train_cost(settings["train"], shape, flops)
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
        spec = model_spec(cell.operator, shape, these)
        block = block_of(cell.condition, these)
        costs.append(CellCost(cell, block, spec, run_cost(these, shape, spec)))
    return StudyCost(costs, datasets_used(config))


# --- time ------------------------------------------------------------------------------------


def job_seconds(cost: CellCost, rates: Rates) -> tuple[float, float]:
    """Seconds of the cell's training job and of its evaluation job."""
    train_rate, evaluate_rate = rates.for_network(cost.spec)
    train = cost.train_flops / train_rate + cost.steps * rates.step_seconds
    evaluate = cost.eval_flops / evaluate_rate
    return train + rates.job_seconds, evaluate + rates.job_seconds


def block_seconds(costs: list[CellCost], rates: Rates) -> float:
    """Job-seconds of a block (all its jobs, one after the other)."""
    return sum(sum(job_seconds(cost, rates)) for cost in costs)


def critical_path_seconds(study: StudyCost, rates: Rates) -> float:
    """The longest chain of jobs: a prepare job, the longest cell's training and evaluation
    jobs, then the single jobs one after the other."""
    longest = max((sum(job_seconds(cost, rates)) for cost in study.cells), default=0.0)
    return longest + (1 + len(SINGLE_JOBS)) * rates.job_seconds


def wall_seconds(study: StudyCost, rates: Rates) -> float:
    """The study's wall time: all job-seconds shared by ``parallel`` slots, and never less
    than its critical path."""
    total = block_seconds(study.cells, rates) + study.other_jobs * rates.job_seconds
    return max(total / rates.parallel, critical_path_seconds(study, rates))


def gpu_rates(name: str) -> Rates:
    if name not in GPU_RATES:
        raise ValueError(f"no stored rates for GPU {name!r}; choose one of: {', '.join(GPU_RATES)}")
    gpu = GPU_RATES[name]
    return Rates(
        name=name,
        train=gpu.train,
        evaluate=gpu.evaluate,
        step_seconds=gpu.step_seconds,
        job_seconds=gpu.job_seconds,
        parallel=1,
        source=(
            f"an estimate from the stored table poolstudy.estimate.GPU_RATES (assumed, not "
            f"measured: {gpu.train / gpu.peak:.0%} of the {si(gpu.peak)}FLOP/s bf16 peak for "
            f"training, {gpu.evaluate / gpu.peak:.0%} for evaluation); jobs run one at a time"
        ),
    )


# --- CPU calibration -------------------------------------------------------------------------


def networks_by_weight(study: StudyCost) -> list[CellCost]:
    """The first cell of each network of the study, the network that does most of the study's
    training FLOPs (summed over the cells that train it) first."""
    by_spec: dict[str, float] = {}
    first: dict[str, CellCost] = {}
    for cost in study.cells:
        key = spec_key(cost.spec)
        by_spec[key] = by_spec.get(key, 0.0) + cost.train_flops
        first.setdefault(key, cost)
    return [first[key] for key in sorted(by_spec, key=by_spec.get, reverse=True)]


def timed_rate(step: Callable[[], None], flops_per_step: float, seconds: float) -> float:
    """FLOP/s of repeated ``step`` calls for about ``seconds`` (after one warm-up call)."""
    step()
    count, start = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - start < seconds:
        step()
        count += 1
    return flops_per_step * count / (time.perf_counter() - start)


def measure_cpu(spec: ModelSpec, batch: int, eval_batch: int, seconds: float):
    """(training, evaluation) FLOP/s of ``spec`` on one CPU thread, channels_last as in the
    jobs: steps of the jobs' optimiser (its settings, the schema's defaults here, do not
    change a step's cost) at ``batch``, forward passes at ``eval_batch``."""
    flops = forward_flops(spec)
    model = build_model(spec).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, TrainConfig.from_dict({}))
    shape = (spec.in_channels, spec.image_size, spec.image_size)
    x = torch.rand(max(batch, eval_batch), *shape).contiguous(memory_format=torch.channels_last)
    y = torch.randint(spec.num_classes, (batch,))

    def train_step() -> None:
        loss = F.cross_entropy(model(x[:batch]), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def eval_step() -> None:
        model(x[:eval_batch])

    model.train()
    train = timed_rate(train_step, TRAIN_FACTOR * flops * batch, seconds)
    model.eval()
    return train, timed_rate(eval_step, flops * eval_batch, seconds)


def calibration_batch(configured: int, flops_per_image: float) -> int:
    """The configured batch, cut so that one step stays under CPU_STEP_FLOPS."""
    return max(1, min(configured, int(CPU_STEP_FLOPS // flops_per_image)))


def start_up_seconds() -> float:
    """Wall time of ``python -c IMPORT_PROBE`` in a new process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_PROBE], check=True)
    return time.perf_counter() - start


def calibration_batches(cost: CellCost, config: dict) -> tuple[int, int]:
    """The (training, evaluation) batch at which a cell's network is timed: its condition's,
    cut to fit CPU_STEP_FLOPS."""
    settings = condition_settings(config, cost.cell.condition)
    flops = forward_flops(cost.spec)
    batch = calibration_batch(settings["train"]["batch_size"], TRAIN_FACTOR * flops)
    configured_eval = eval_batch_size(
        torch.device("cpu"), settings["evaluate"]["batch_size"], build_model(cost.spec)
    )
    return batch, calibration_batch(configured_eval, flops)


def calibrate_cpu(study: StudyCost, config: dict, cores: int | None, seconds: float) -> Rates:
    """Measure this machine: training and evaluation FLOP/s of each of the study's networks
    (at most CALIBRATED_NETWORKS of them, the heaviest first; see there for the others) on one
    thread, at its condition's batches, ``seconds`` in all for each kind of measurement; and a
    job's start-up (``python -c IMPORT_PROBE``); ``cores`` jobs at once (None:
    ``os.cpu_count()``). The headline rates are the heaviest network's."""
    every = networks_by_weight(study)
    networks = every[:CALIBRATED_NETWORKS]
    each = seconds / len(networks)
    start_up = start_up_seconds()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    per_network, batches = {}, {}
    try:
        for cost in networks:
            key = spec_key(cost.spec)
            batches[key] = calibration_batches(cost, config)
            per_network[key] = measure_cpu(cost.spec, *batches[key], each)
    finally:
        torch.set_num_threads(threads)
    for cost in every[len(networks) :]:
        alike = next((c for c in networks if c.spec.operator == cost.spec.operator), networks[0])
        per_network[spec_key(cost.spec)] = per_network[spec_key(alike.spec)]
    parallel = cores or os.cpu_count() or 1
    heaviest = networks[0]
    spec = heaviest.spec
    batch, eval_batch = batches[spec_key(spec)]
    train, evaluate = per_network[spec_key(spec)]
    others = len(every) - len(networks)
    return Rates(
        name="CPU",
        train=train,
        evaluate=evaluate,
        step_seconds=0.0,
        job_seconds=start_up + CPU_JOB_EXTRA_SECONDS,
        parallel=parallel,
        source=(
            f"this machine, {parallel} jobs at once, 1 thread each; "
            + (
                f"the study's {len(networks)} heaviest networks timed at their conditions' "
                f"batches, {others} more counted at the rates of a timed network with their "
                "operator"
                if others
                else f"each of the study's {len(networks)} networks timed at its condition's "
                "batches"
            )
            + f"; the rates shown are {spec.operator}'s ({heaviest.cell.dataset}/"
            f"{heaviest.cell.condition}, {spec.image_size}px, {si(forward_flops(spec))}FLOP per "
            f"image, the network with most training FLOPs) at batch {batch} (training) and "
            f"{eval_batch} (evaluation); per job: `python -c "
            f'"{IMPORT_PROBE}"` measured ({start_up:.1f} s) + {CPU_JOB_EXTRA_SECONDS:.0f} s '
            "assumed"
        ),
        per_network=per_network,
    )


# --- report ----------------------------------------------------------------------------------


def si(value: float) -> str:
    """``value`` with an SI prefix and a trailing space: 1.2e15 -> '1.2 P'."""
    for exponent, prefix in ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if abs(value) >= 10**exponent:
            return f"{value / 10**exponent:.3g} {prefix}"
    return f"{value:.3g} "


@dataclass
class Report:
    """Everything the command prints, as plain data (``--json`` prints it as it is)."""

    config: str
    jobs: int
    cells: int
    runs: int
    blocks: dict[str, dict]
    total: dict
    machines: dict[str, dict] = field(default_factory=dict)


def block_row(costs: list[CellCost], machines: list[Rates]) -> dict:
    row = {
        "cells": len(costs),
        "runs": sum(cost.runs for cost in costs),
        "jobs": 2 * len(costs),
        "train_flops": sum(cost.train_flops for cost in costs),
        "eval_flops": sum(cost.eval_flops for cost in costs),
    }
    for rates in machines:
        row[f"{rates.name}_hours"] = block_seconds(costs, rates) / rates.parallel / 3600
    return row


def build_report(config_path: str, study: StudyCost, machines: list[Rates]) -> Report:
    blocks = {name: block_row(study.block(name), machines) for name in BLOCKS}
    other = {"cells": 0, "runs": 0, "jobs": study.other_jobs, "train_flops": 0, "eval_flops": 0}
    for rates in machines:
        other[f"{rates.name}_hours"] = study.other_jobs * rates.job_seconds / rates.parallel / 3600
    blocks["other"] = other
    total = {key: sum(row[key] for row in blocks.values()) for key in other}
    for rates in machines:
        total[f"{rates.name}_hours"] = wall_seconds(study, rates) / 3600
    return Report(
        config=config_path,
        jobs=study.jobs,
        cells=len(study.cells),
        runs=sum(cost.runs for cost in study.cells),
        blocks=blocks,
        total=total,
        machines={rates.name: asdict(rates) for rates in machines},
    )


def report_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2)


def format_report(report: Report) -> str:
    """The report as a table per block with totals, and where each rate comes from."""
    names = list(report.machines)
    header = ["block", "cells", "runs", "jobs", "train FLOP", "eval FLOP"]
    header += [f"{name} h" for name in names]
    lines = [
        f"{report.config}: {report.jobs} Snakemake jobs ({report.cells} cells x train + "
        f"evaluate, {report.blocks['other']['jobs']} prepare and single jobs), "
        f"{report.runs} runs",
        "",
    ]
    rows = [header]
    for name, row in [*report.blocks.items(), ("total", report.total)]:
        rows.append(
            [name, str(row["cells"]), str(row["runs"]), str(row["jobs"])]
            + [si(row["train_flops"]) + "FLOP", si(row["eval_flops"]) + "FLOP"]
            + [f"{row[f'{n}_hours']:.2f}" for n in names]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells_text = [row[0].ljust(widths[0])]
        cells_text += [text.rjust(width) for text, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells_text))
    lines.append("")
    for name, rates in report.machines.items():
        lines.append(
            f"{name}: training {si(rates['train'])}FLOP/s, evaluation {si(rates['evaluate'])}"
            f"FLOP/s per job, {rates['job_seconds']:.1f} s per job"
            + (f", {rates['step_seconds'] * 1e3:.1f} ms per step" if rates["step_seconds"] else "")
            + f"; {rates['source']}."
        )
    lines.append(
        "Block hours are job-seconds shared by the jobs running at once; the total is never less "
        "than the longest chain (prepare, the longest cell's train and evaluate, the single jobs)."
    )
    return "\n".join(lines)
