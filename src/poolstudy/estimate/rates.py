"""How fast a machine runs a study's jobs (:class:`Rates`), the stored GPU table, and the
study's wall time at those rates."""

from __future__ import annotations

from dataclasses import dataclass, field

from poolstudy.estimate.cost import SINGLE_JOBS, CellCost, StudyCost, spec_key
from poolstudy.models import ModelSpec


@dataclass(frozen=True)
class GpuRates:
    """Achieved throughput of these networks on one GPU (not its peak)."""

    train: float  # training FLOP/s (counted as TRAIN_FACTOR x one forward pass's FLOPs)
    evaluate: float  # evaluation (forward) FLOP/s
    step_seconds: float  # host-side cost of one optimiser step, on top of its FLOPs
    job_seconds: float  # per job: process start, imports, CUDA context, data to the device
    peak: float  # dense bf16 peak, for reference only


GPU_RATES: dict[str, GpuRates] = {
    # Assumptions, not measurements: `estimate --gpu-check FILE` predicts from the figures
    # that `python -m poolstudy bench --device cuda --out FILE` measures on a GPU instead.
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
    # (training, evaluation) FLOP/s of the networks measured one by one (``spec_key``), else
    # of a network with the same operator; the others run at ``train`` and ``evaluate``
    per_network: dict[str, tuple[float, float]] = field(default_factory=dict)
    per_operator: dict[str, tuple[float, float]] = field(default_factory=dict)

    def for_network(self, spec: ModelSpec) -> tuple[float, float]:
        if (rates := self.per_network.get(spec_key(spec))) is not None:
            return rates
        return self.per_operator.get(spec.operator, (self.train, self.evaluate))


def si(value: float) -> str:
    """``value`` with an SI prefix and a trailing space: 1.2e15 -> '1.2 P'; rounded to three
    digits before the prefix is chosen, so 9.996e11 is '1 T', not '1e+03 G'."""
    value = float(f"{value:.3g}")
    for exponent, prefix in ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k")):
        if abs(value) >= 10**exponent:
            return f"{value / 10**exponent:.3g} {prefix}"
    return f"{value:.3g} "


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
