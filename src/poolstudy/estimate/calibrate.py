"""This machine's CPU, measured: the FLOP rates of a study's networks on one thread and a
job's start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from poolstudy.device import eval_batch_size
from poolstudy.estimate.cost import (
    TRAIN_FACTOR,
    CellCost,
    StudyCost,
    forward_flops,
    spec_key,
    training_by_network,
    training_pass_flops,
)
from poolstudy.estimate.rates import Rates, si
from poolstudy.models import ModelSpec, build_model
from poolstudy.plan import condition_settings
from poolstudy.train import TrainConfig, make_optimizer

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
IMPORT_PROBE = "import poolstudy.evaluate, jsonschema"
"""What every train and evaluate job imports (torch, pandas, the library, and jsonschema,
which checks the config's sections it is given on the command line): its time is the measured
part of the per-job cost on the CPU."""


def networks_by_weight(study: StudyCost) -> list[CellCost]:
    """The first cell of each network of the study, the network that does most of the study's
    training FLOPs (summed over the cells that train it) first."""
    by_spec = training_by_network(study)
    first: dict[str, CellCost] = {}
    for cost in study.cells:
        first.setdefault(spec_key(cost.spec), cost)
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
    change a step's cost) at ``batch``, forward passes at ``eval_batch`` (every test-time
    draw, as the evaluation runs them)."""
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
    train = timed_rate(train_step, TRAIN_FACTOR * training_pass_flops(spec) * batch, seconds)
    model.eval()
    return train, timed_rate(eval_step, flops * eval_batch, seconds)


def calibration_batch(configured: int, flops_per_image: float) -> int:
    """The configured batch, cut so that one step stays under CPU_STEP_FLOPS."""
    return max(1, min(configured, int(CPU_STEP_FLOPS // flops_per_image)))


def start_up_seconds(probe: str = IMPORT_PROBE) -> float:
    """Wall time of ``python -c probe`` (by default ``IMPORT_PROBE``) in a new process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", probe], check=True)
    return time.perf_counter() - start


def calibration_batches(cost: CellCost, config: dict) -> tuple[int, int]:
    """The (training, evaluation) batch at which a cell's network is timed: its condition's,
    cut to fit CPU_STEP_FLOPS."""
    settings = condition_settings(config, cost.cell.condition)
    flops = forward_flops(cost.spec)
    pass_flops = training_pass_flops(cost.spec)
    batch = calibration_batch(settings["train"]["batch_size"], TRAIN_FACTOR * pass_flops)
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
            f"image at test time, the network with most training FLOPs) at batch {batch} "
            "(training) and "
            f"{eval_batch} (evaluation); per job: `python -c "
            f'"{IMPORT_PROBE}"` measured ({start_up:.1f} s) + {CPU_JOB_EXTRA_SECONDS:.0f} s '
            "assumed"
        ),
        per_network=per_network,
    )
