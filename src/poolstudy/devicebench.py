"""The accelerator check (``python -m poolstudy bench --device cuda``): in a few minutes on one
GPU, a training step of every operator in the engine's settings (bf16 autocast and
channels_last on CUDA), solo against concurrent seeds, images per second, model FLOP
utilisation (MFU) and peak memory, and the engine's evaluation forward pass; the networks of
``config/paper.yaml`` that do most of its work, each at its own shape, widths and batches; the
engine's own training loop against that bare step, with the times it makes the host wait for
the GPU; a job's start-up; ``config/paper.yaml``'s wall time predicted from these figures;
then the tiny config end to end on that device, and what evaluating its networks under the
device's autocast does to their metrics against full precision (``tinyrun``).

It runs on the CPU too (``--device cpu``), which is how the tests keep it working on
machines without a GPU. The file it writes (``--out``) is what ``estimate --gpu-check`` reads
in place of the stored GPU assumptions (``poolstudy.estimate.gpu_check``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import statistics
import time
import traceback
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from poolstudy import device as devices
from poolstudy.atomic import atomic_path
from poolstudy.inference import fold_batchnorm
from poolstudy.models import ModelSpec, build_model, flop_counts
from poolstudy.optim import NesterovSGD
from poolstudy.pooling import OPERATORS
from poolstudy.precisioncheck import describe as describe_precision
from poolstudy.prepared import PreparedDataset
from poolstudy.tinyrun import MIN_TINY_S, PRECISION_RESERVE_S, run_tiny_pipeline, tiny_timeout
from poolstudy.torch_settings import evaluation_settings
from poolstudy.workspace import REPO

PEAK_BF16_FLOPS = {
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H200 NVL": 835e12,
    "H100": 989e12,
    "H200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
}
"""Dense bf16 tensor-core peaks (vendor data sheets), for MFU: the first key that a device's
name contains, so the PCIe and NVL parts come before the SXM parts that share their name."""


def peak_flops(device_name: str) -> float | None:
    """The bf16 peak of a device whose name contains a key of ``PEAK_BF16_FLOPS``."""
    for key, value in PEAK_BF16_FLOPS.items():
        if key in device_name:
            return value
    return None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainee:
    """One seed's network, optimiser and random batch, ready to take training steps."""

    def __init__(self, spec: ModelSpec, batch: int, seed: int, device: torch.device) -> None:
        torch.manual_seed(seed)
        fmt = devices.memory_format(device)
        self.device = device
        self.model = build_model(spec).to(device=device, memory_format=fmt).train()
        # the engine's optimiser: on a GPU its foreach path runs here first
        params = list(self.model.parameters())
        self.optimizer = NesterovSGD([{"params": params}], lr=0.01, momentum=0.9)
        shape = (batch, spec.in_channels, spec.image_size, spec.image_size)
        self.x = torch.rand(shape, device=device).contiguous(memory_format=fmt)
        self.y = torch.randint(0, spec.num_classes, (batch,), device=device)
        self.stream = torch.cuda.Stream(device) if device.type == "cuda" else None

    def step(self) -> None:
        with devices.autocast(self.device):
            loss = F.cross_entropy(self.model(self.x).float(), self.y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


def time_steps(trainees: list[Trainee], steps: int, concurrent: bool) -> float:
    """Seconds for ``steps`` steps of every trainee: one after another, or interleaved step
    by step with each trainee on its own CUDA stream."""
    device = trainees[0].device
    synchronize(device)
    start = time.perf_counter()
    if concurrent and device.type == "cuda":
        for _ in range(steps):
            for trainee in trainees:
                with torch.cuda.stream(trainee.stream):
                    trainee.step()
    else:
        for trainee in trainees:
            for _ in range(steps):
                trainee.step()
    synchronize(device)
    return time.perf_counter() - start


EVAL_SECONDS = 0.5
"""Seconds of evaluation passes timed per network (``eval_throughput``), after their warm-up:
at the batches the engine sizes, a pass takes tens of milliseconds on a GPU."""


def eval_throughput(
    spec: ModelSpec, seconds: float, device: torch.device, configured: int | str = "auto"
) -> tuple[int, float]:
    """(batch, images per second) of the engine's evaluation forward pass as an evaluation
    job runs it (``evaluation_settings``): batch norm folded into the convolutions, the
    device's precision and memory format, at the batch it sizes for this network from
    ``configured`` (``evaluate.batch_size``; ``device.eval_batch_size``: ``auto`` on a GPU
    from its free memory); passes repeated for about ``seconds`` (``calls_per_second``)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the training steps' cached blocks are free memory here
    fmt = devices.memory_format(device)
    with evaluation_settings(device):
        model = fold_batchnorm(build_model(spec).eval()).to(device=device, memory_format=fmt)
        batch = devices.eval_batch_size(device, configured, model)
        shape = (batch, spec.in_channels, spec.image_size, spec.image_size)
        x = torch.rand(shape, device=device).contiguous(memory_format=fmt)

        @torch.no_grad()
        def forward() -> None:
            with devices.autocast(device):
                model(x)

        passes_per_s = calls_per_second(forward, seconds, device)
    return batch, passes_per_s * batch


def bench_operator(spec: ModelSpec, batch: int, steps: int, seeds: int, device) -> dict:
    """Images per second, MFU and peak memory of one operator's network, solo and with
    ``seeds`` seeds trained concurrently; and its evaluation's images per second."""
    flops, training_flops = flop_counts(build_model(spec))  # test time, one pass
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    solo = Trainee(spec, batch, 0, device)
    time_steps([solo], 2, concurrent=False)  # warm-up: kernel choice, allocator
    solo_seconds = time_steps([solo], steps, concurrent=False)
    peak_memory = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    group = [Trainee(spec, batch, seed, device) for seed in range(seeds)]
    time_steps(group, 2, concurrent=True)  # warm-up of both ways, so neither pays for the other
    time_steps(group, 2, concurrent=False)
    sequential = time_steps(group, steps, concurrent=False)
    concurrent = time_steps(group, steps, concurrent=True)
    images_per_s = steps * batch / solo_seconds
    peak = peak_flops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    del solo, group
    eval_batch, eval_per_s = eval_throughput(spec, EVAL_SECONDS, device)
    return {
        "operator": spec.operator,
        "forward_flops": flops,
        "images_per_s": images_per_s,
        "train_tflops": 3 * training_flops * images_per_s / 1e12,
        "mfu": 3 * training_flops * images_per_s / peak if peak else None,
        "eval_batch": eval_batch,
        "eval_images_per_s": eval_per_s,
        "eval_tflops": flops * eval_per_s / 1e12,
        "peak_memory_gb": peak_memory / 1e9 if peak_memory is not None else None,
        "sequential_seeds_s": sequential,
        "concurrent_seeds_s": concurrent,
        "concurrency_speedup": sequential / concurrent,
    }


CHECK_FORMAT = 3
"""The version of the file the check writes (``format``), which ``estimate --gpu-check``
requires: 3 adds the predicted study's own networks (``networks``); 2 counts an operator's
training TFLOP/s at one forward pass per image (1 counted every test-time draw, twelve times
too many for ``fracmax`` as the configs set it)."""

SYNC_WARNING = "called a synchronizing CUDA operation"
"""What PyTorch's sync debug mode (``torch.cuda.set_sync_debug_mode``) warns at each wait."""


def host_waits(function, device: torch.device) -> int | None:
    """How many times ``function()`` makes the host wait for the GPU (copies from pageable
    memory, ``.item()``, ...), as PyTorch's sync debug mode counts them; None off CUDA,
    where there is no queue to wait for."""
    if device.type != "cuda":
        function()
        return None
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            function()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    return sum(SYNC_WARNING in str(warning.message) for warning in caught)


def random_dataset(n_train: int, spec: ModelSpec, n_val: int = 64) -> PreparedDataset:
    """Random images and labels of ``spec``'s shape: ``n_train`` to train on, ``n_val`` to
    validate."""
    generator = torch.Generator().manual_seed(0)
    n = n_train + n_val
    shape = (n, spec.in_channels, spec.image_size, spec.image_size)
    return PreparedDataset(
        name="random",
        images=torch.randint(0, 256, shape, generator=generator, dtype=torch.uint8),
        labels=torch.randint(0, spec.num_classes, (n,), generator=generator),
        split=(torch.arange(n) >= n_train).to(torch.uint8),
        classes=[str(k) for k in range(spec.num_classes)],
    )


def engine_loop(
    spec: ModelSpec, batch: int, steps: int, device: torch.device, augment_shift: int
) -> dict:
    """The engine's training loop (``train_model``: batches drawn from the training split,
    random shifts of up to ``augment_shift`` pixels, the schedule, the optimiser; without
    deterministic mode, as ``config/paper.yaml`` trains on a GPU) on ``device``: its time and
    host waits per step, from runs of ``steps`` and
    ``2 * steps`` steps that differ by nothing else (set-up and the one validation, at the
    last step, cancel out; the median of ``LOOP_PAIRS`` such pairs, so that one pair's set-up
    jitter does not decide it), against the bare step of ``Trainee`` on the same network."""
    from poolstudy.train import TrainConfig, train_model  # pandas: not for the steps above

    data = random_dataset(4 * batch, spec)
    options = {
        key: value
        for key, value in spec.to_dict().items()
        if key not in ("operator", "in_channels", "num_classes", "image_size")
    }

    def run(n_steps: int):
        config = TrainConfig.from_dict(
            {
                "epochs": 1_000_000,
                "steps": n_steps,
                "batch_size": batch,
                "augment_shift": augment_shift,
                "val_points": 1,
                "device": str(device),
                "deterministic": False,
            }
        )
        return lambda: train_model(data, options, spec.operator, 0, config, log=lambda _: None)

    run(2)()  # warm-up: kernel choice, allocator
    differences, waits = [], {}
    for _ in range(LOOP_PAIRS):
        seconds = {}
        for n_steps in (steps, 2 * steps):
            synchronize(device)
            start = time.perf_counter()
            waits[n_steps] = host_waits(run(n_steps), device)
            synchronize(device)
            seconds[n_steps] = time.perf_counter() - start
        differences.append(seconds[2 * steps] - seconds[steps])
    step_seconds = max(statistics.median(differences), 1e-9) / steps
    bare = Trainee(spec, batch, 0, device)
    time_steps([bare], 2, concurrent=False)
    bare_seconds = time_steps([bare], steps, concurrent=False) / steps
    return {
        "operator": spec.operator,
        "augment_shift": augment_shift,
        "images_per_s": batch / step_seconds,
        "step_seconds": step_seconds,
        "bare_step_seconds": bare_seconds,
        "over_bare_step": step_seconds / bare_seconds,
        "host_waits_per_step": (
            (waits[2 * steps] - waits[steps]) / steps if device.type == "cuda" else None
        ),
    }


PREDICTED_STUDY = REPO / "config" / "paper.yaml"
"""The study whose wall time the check predicts from its own figures (goal: 8 hours on one
H100)."""


def study_operator_options(config_path: Path = PREDICTED_STUDY) -> dict[str, dict]:
    """The options the predicted study gives its operators (``model.operator_options``; e.g.
    fractional max pooling's window and test-time draws), so that each is timed as it runs."""
    model = yaml.safe_load(config_path.read_text()).get("model") or {}
    return model.get("operator_options") or {}


def study_augment_shift(config_path: Path = PREDICTED_STUDY) -> int:
    """The shift augmentation the predicted study trains with (its ``train`` section): the
    engine loop measures the steps the study runs."""
    return int(yaml.safe_load(config_path.read_text())["train"]["augment_shift"])


NETWORK_SECONDS = 1.0
"""Seconds of training steps timed per network of the predicted study (``study_network``),
after their warm-up (its evaluation passes: ``EVAL_SECONDS``)."""


def calls_per_second(function, seconds: float, device: torch.device) -> float:
    """How often ``function()`` runs per second, repeated for about ``seconds`` (at least
    twice) after two warm-up calls (kernel choice, the allocator), the GPU's queue drained
    before the clock stops."""
    function()
    function()
    synchronize(device)
    count, start = 0, time.perf_counter()
    while count < 2 or time.perf_counter() - start < seconds:
        function()
        count += 1
    synchronize(device)
    return count / (time.perf_counter() - start)


def predicted_networks(count: int, config_path: Path | None = None) -> list[tuple]:
    """(cost, settings) of the ``count`` networks of ``config_path`` (None:
    ``PREDICTED_STUDY``) that do most of its training FLOPs
    (``estimate.calibrate.networks_by_weight``, whose count the CPU's calibration times too):
    each network's first cell and that cell's condition's settings."""
    from poolstudy.config import load_config  # jsonschema: not for the operators' steps
    from poolstudy.estimate.calibrate import networks_by_weight
    from poolstudy.estimate.cost import study_cost
    from poolstudy.plan import condition_settings

    config = load_config(config_path or PREDICTED_STUDY)
    chosen = networks_by_weight(study_cost(config))[:count]
    return [(cost, condition_settings(config, cost.cell.condition)) for cost in chosen]


def study_network(cost, settings: dict, device: torch.device, seconds: float) -> dict:
    """One of the predicted study's networks timed as its jobs run it: training steps at its
    condition's batch for ``seconds`` (bf16 autocast and channels_last on CUDA, as
    ``Trainee``), evaluation passes at the batch its condition sizes (``eval_throughput``);
    rates in the FLOPs that ``estimate`` counts for its jobs (``TRAIN_FACTOR`` training
    passes, every test-time draw)."""
    from poolstudy.estimate.cost import (
        TRAIN_FACTOR,
        forward_flops,
        spec_key,
        training_pass_flops,
    )

    spec, batch = cost.spec, settings["train"]["batch_size"]
    trainee = Trainee(spec, batch, 0, device)
    steps_per_s = calls_per_second(trainee.step, seconds, device)
    del trainee
    eval_batch, eval_per_s = eval_throughput(
        spec, EVAL_SECONDS, device, settings["evaluate"]["batch_size"]
    )
    return {
        "network": spec_key(spec),
        "operator": spec.operator,
        "dataset": cost.cell.dataset,
        "condition": cost.cell.condition,
        "batch": batch,
        "images_per_s": steps_per_s * batch,
        "train_tflops": TRAIN_FACTOR * training_pass_flops(spec) * steps_per_s * batch / 1e12,
        "eval_batch": eval_batch,
        "eval_images_per_s": eval_per_s,
        "eval_tflops": forward_flops(spec) * eval_per_s / 1e12,
    }


STUDY_MODULES = ("pandas", "jsonschema")
"""What the study's networks, the engine loop, the start-up probe and the prediction need
beyond PyTorch and PyYAML."""


def missing_modules(names=STUDY_MODULES) -> list[str]:
    """The modules of ``names`` this Python cannot import: found is not enough (a package
    whose compiled dependency does not load is found, and fails every job)."""
    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - any failure to import is what is asked
            missing.append(name)
    return missing


def job_start_seconds(device: torch.device) -> float:
    """Wall time of a new process that imports what every job imports (``estimate``'s
    ``IMPORT_PROBE``) and runs one operation on ``device`` (on a GPU: its CUDA context)."""
    from poolstudy.estimate.calibrate import IMPORT_PROBE, start_up_seconds

    on_device = f"import torch; torch.ones(1, device={str(device)!r}).sum().item()"
    return start_up_seconds(f"{IMPORT_PROBE}; {on_device}")


def predicted_hours(report: dict, config_path: Path = PREDICTED_STUDY) -> float:
    """``config_path``'s wall time at the rates of this check (``estimate.check_rates``)."""
    from poolstudy.config import load_config
    from poolstudy.estimate import check_rates, study_cost, wall_seconds

    study = study_cost(load_config(config_path))
    return wall_seconds(study, check_rates(report, study=study)) / 3600


def save(report: dict, out: str | None) -> None:
    """The figures so far, in place of the last ones (atomically: a check stopped while
    writing keeps the file it wrote before)."""
    if out:
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(report, indent=2))


def guarded(report: dict, key: str, function):
    """``function()``; where it raises, None, with the error's traceback in
    ``report["errors"][key]`` (and printed), so that one fault does not cost the GPU's minutes
    of the parts after it."""
    result = None
    try:
        result = function()
    except Exception as error:  # noqa: BLE001 - recorded and reported; the exit code says so
        text = "".join(traceback.format_exception(error))[-3000:]
        report.setdefault("errors", {})[key] = text
        print(f"{key}: FAILED\n{text}")
    # Out of the handler, whose traceback held a failed part's tensors: free what the part
    # cached, failed or not, so that the parts after it (the tiny run's jobs size their
    # evaluation batches by free memory) find the GPU's memory free.
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    return result


def run_stage(report: dict, key: str, function, describe) -> None:
    """``report[key] = function()``, printed by ``describe``, where it does not raise
    (``guarded``)."""
    value = guarded(report, key, function)
    if value is not None:
        report[key] = value
        print(describe(value))


def time_study_networks(
    report: dict, device: torch.device, count: int | None, out: str | None
) -> None:
    """``report["networks"]``: the predicted study's ``count`` heaviest networks, each timed as
    its jobs run it (``study_network``; None: ``estimate.calibrate.CALIBRATED_NETWORKS``), so
    that the prediction prices them at their own shapes, widths and batches rather than at
    the rates of the operators' networks above; each printed and saved as it is timed."""
    from poolstudy.estimate.calibrate import CALIBRATED_NETWORKS

    if count == 0:
        report["networks"] = []
        return
    chosen = guarded(
        report,
        "networks",
        lambda: predicted_networks(CALIBRATED_NETWORKS if count is None else count),
    )
    if chosen is None:
        return
    report["networks"] = rows = []
    print(
        f"the {len(chosen)} networks of {PREDICTED_STUDY.relative_to(REPO)} with most training "
        "FLOPs, each at its condition's batches:"
    )
    for cost, settings in chosen:
        spec = cost.spec
        label = (
            f"{spec.operator} ({cost.cell.dataset}/{cost.cell.condition}, {spec.image_size}px, "
            f"widths {'/'.join(map(str, spec.widths))})"
        )
        row = guarded(
            report,
            f"network {label}",
            lambda cost=cost, settings=settings: study_network(
                cost, settings, device, NETWORK_SECONDS
            ),
        )
        if row is None:
            continue
        rows.append(row)
        save(report, out)
        print(
            f"  {label}: training {row['images_per_s']:.0f} img/s at batch {row['batch']}, "
            f"{row['train_tflops']:.2f} TFLOP/s; evaluation {row['eval_tflops']:.2f} TFLOP/s at "
            f"batch {row['eval_batch']}"
        )


LOOP_PAIRS = 3
"""Pairs of engine-loop runs timed; their median difference is the loop's time."""
LOOP_STEPS = 10
"""The engine loop's runs take this many times the check's timed steps: each run repeats its
set-up (the network, its FLOP count, a validation; on a GPU the evaluation batch's probe),
which the difference of two runs cancels only up to its jitter, and on a GPU twenty steps
take about as long as that jitter."""


def run_device_check(
    device_name: str,
    operators: list[str] | None = None,
    widths: tuple[int, ...] = (64, 128, 256),
    image_size: int = 32,
    batch: int = 256,
    steps: int = 20,
    seeds: int = 3,
    pipeline: bool = True,
    out: str | None = None,
    time_limit: float | None = None,
    networks: int | None = None,
) -> dict:
    """Every check in order; prints a table and returns (and optionally writes) the figures.
    With ``time_limit``, the tiny run gets what is left of it (``tiny_timeout``). ``networks``:
    how many of the predicted study's networks are timed (``time_study_networks``; None: as
    many as ``estimate`` times on the CPU)."""
    start = time.perf_counter()
    # cuBLAS reads this once, at the process's first matrix product: set after the first
    # operator's steps, the evaluation settings' deterministic products would not hold
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    device = devices.resolve_device(device_name)
    devices.configure(device, None, deterministic=False)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, batch {batch}, {steps} steps")
    header = (
        f"{'operator':<14}{'img/s':>9}{'TFLOP/s':>9}{'MFU':>7}{'peak GB':>9}{'seeds x':>9}"
        f"{'eval img/s':>12}{'eval TFLOP/s':>14}{'eval batch':>12}"
    )
    print(header)
    operators = operators or list(OPERATORS)
    options = study_operator_options()

    def spec_of(operator: str) -> ModelSpec:
        return ModelSpec(
            operator=operator,
            in_channels=3,
            num_classes=10,
            image_size=image_size,
            widths=widths,
            convs_per_stage=2,
            operator_options=dict(options.get(operator, {})),
        )

    report = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "format": CHECK_FORMAT,
    }
    report["operators"] = rows = []
    for operator in operators:
        row = guarded(
            report,
            f"operator {operator}",
            lambda operator=operator: bench_operator(
                spec_of(operator), batch, steps, seeds, device
            ),
        )
        if row is None:
            continue
        rows.append(row)
        save(report, out)  # each operator's figures are kept whatever fails after them
        mfu = f"{100 * row['mfu']:.1f}%" if row["mfu"] is not None else "-"
        memory = f"{row['peak_memory_gb']:.2f}" if row["peak_memory_gb"] is not None else "-"
        print(
            f"{operator:<14}{row['images_per_s']:>9.0f}{row['train_tflops']:>9.2f}{mfu:>7}"
            f"{memory:>9}{row['concurrency_speedup']:>8.2f}x{row['eval_images_per_s']:>12.0f}"
            f"{row['eval_tflops']:>14.2f}{row['eval_batch']:>12}"
        )
    print(
        f"training: batch {batch}; 'seeds x': {seeds} seeds interleaved on their own streams "
        "against one after another; eval: the engine's forward pass (batch norm folded) at the "
        "batch it sizes for the device, in the evaluation jobs' deterministic settings"
    )
    save(report, out)
    if missing := missing_modules():
        skipped = f"needs {', '.join(missing)}: install them (README.md)"
        report["networks"] = report["engine_loop"] = {"skipped": skipped}
        print(
            f"the study's networks, the engine's training loop, a job's start-up, the "
            f"prediction: skipped ({skipped})"
        )
    else:
        time_study_networks(report, device, networks, out)
        loop_operator = "max" if "max" in operators else operators[0]
        augment_shift = study_augment_shift()
        run_stage(
            report,
            "engine_loop",
            lambda: engine_loop(
                spec_of(loop_operator), batch, LOOP_STEPS * steps, device, augment_shift
            ),
            lambda loop: (
                f"the engine's training loop ({loop_operator}, batches shifted by up to "
                f"{augment_shift} pixels, as {PREDICTED_STUDY.relative_to(REPO)} trains): "
                f"{loop['images_per_s']:.0f} img/s, {loop['over_bare_step']:.2f}x the bare "
                "step's time, host waits for the GPU per step: "
                + ("-" if loop["host_waits_per_step"] is None else
                   f"{loop['host_waits_per_step']:.2f}")
            ),
        )  # fmt: skip
        run_stage(
            report,
            "job_start_seconds",
            lambda: job_start_seconds(device),
            lambda seconds: (
                f"a job's start-up (imports, one operation on {device}): {seconds:.1f} s"
            ),
        )
        if not report.get("errors"):
            run_stage(
                report,
                "paper_hours",
                lambda: predicted_hours(report),
                lambda hours: (
                    f"{PREDICTED_STUDY.relative_to(REPO)} predicted at these rates: {hours:.2f} "
                    "h, one job at a time (`python -m poolstudy estimate --gpu-check FILE` "
                    "says more)"
                ),
            )
    save(report, out)
    if pipeline:
        timeout = tiny_timeout(time_limit, time.perf_counter() - start)
        if timeout is None:
            left = f"{time_limit - (time.perf_counter() - start):.0f}"
            needed = MIN_TINY_S + PRECISION_RESERVE_S
            tiny = {"skipped": f"{left} s left of the time limit, {needed:g} s needed"}
        else:
            tiny = run_tiny_pipeline(device, timeout=timeout)
        report["tiny_pipeline"] = tiny
        if "skipped" in tiny:
            print(f"tiny config end to end: skipped ({tiny['skipped']})")
        else:
            print(
                f"tiny config end to end on {device} (target {tiny['target']}): exit "
                f"{tiny['returncode']}, {tiny['seconds']:.0f} s, {tiny['runs']} runs on "
                f"{', '.join(tiny['devices'])}"
            )
            if tiny["returncode"]:
                print(tiny["log_tail"])
            if "precision" in tiny:
                print(describe_precision(tiny["precision"]))
            if "precision_error" in tiny:
                print(f"evaluation precision: FAILED\n{tiny['precision_error']}")
        save(report, out)
    return report


def check_problems(report: dict) -> list[str]:
    """What keeps the check from passing: each part that raised, a tiny run that failed or was
    stopped, a failed check of its networks' evaluation precision, and each part skipped (its
    figures are missing, so the device is not checked)."""
    tiny = report.get("tiny_pipeline", {})
    problems = [f"{key} failed" for key in report.get("errors", {})]
    if tiny.get("returncode"):
        problems.append(f"the tiny run exited with {tiny['returncode']}")
    if "timed_out" in tiny:
        problems.append(f"the tiny run was {tiny['timed_out']}")
    if "precision_error" in tiny:
        problems.append("the check of evaluation precision failed")
    parts = {key: report.get(key) for key in ("networks", "engine_loop")} | {"tiny_pipeline": tiny}
    for key, part in parts.items():
        if isinstance(part, dict) and "skipped" in part:
            problems.append(f"{key} skipped: {part['skipped']}")
    return problems


def check_failed(report: dict) -> bool:
    """Whether the check did not pass (``check_problems``)."""
    return bool(check_problems(report))
