"""Benchmarks that print figures (never timed tests): throughput of training and of the
batched shifted evaluation against a straightforward per-shift loop, and the wall time and
accuracy of a whole pipeline run against the project's budgets."""

from __future__ import annotations

import copy
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from poolstudy import device as devices
from poolstudy.config import load_config
from poolstudy.data.glyphs import benchmark_generation
from poolstudy.data.prepare import prepare_dataset
from poolstudy.evaluate import shift_grid, shifted_correct
from poolstudy.inference import fold_batchnorm
from poolstudy.maxima import pooling_kernel_everywhere
from poolstudy.models import (
    ModelSpec,
    build_model,
    feature_map_sizes_of,
    flop_counts,
)
from poolstudy.shifts import shift
from poolstudy.torch_settings import kept_settings
from poolstudy.train import TrainConfig, spec_options_for, to_unit_float, train_model
from poolstudy.workspace import REPO, copy_sources

EVAL_GOAL = 3.0
TRAIN_GOALS = {"pooled": 2.0, "full": 1.2}
TRAIN_STEPS = 600
"""Optimiser steps per timed training run (engine and plain loop alike)."""
BENCH_TRAIN_IMAGES = 20_000
"""At most this many training images of a procedural dataset are generated for the benchmark:
preparing a study's (256,000 letters in the default) would take longer than the timings."""
BENCH_TEST_IMAGES = 2_000
"""And at most this many test images: the evaluation timings repeat every shift of every image
six times per operator (20,000 letters in the default would take minutes per operator). The
loop baseline passes the whole test set at once, so its speed depends on this size (measured
on 16-pixel letters, pooled networks: 79,000 images/s with 2,000 images, 31,000 with 20,000,
once a batch's activations no longer fit in the cache)."""
PIPELINE_BUDGET_MINUTES = 15.0
PIPELINE_GOAL = 1.6
CEILING_NOTE = (
    "ceiling: the baseline's time over the engine's time inside PyTorch's kernels (the "
    "profiler's count), the ratio the engine would reach if all its Python cost nothing; "
    "a goal above it needs faster kernels, not a leaner engine"
)
ACCURACY_TARGETS = {"digits": 97.0}
"""Sanity bounds: the best network of a dataset reaches at least this test accuracy."""


def met(ratio: float, goal: float) -> str:
    return "met" if ratio >= goal else "NOT met"


def timed(function, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@contextmanager
def quiet_stderr():
    """Standard error (file descriptor 2) to /dev/null: the profiler's C++ library logs its
    start and stop there, between the benchmark's lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def kernel_seconds(function) -> float:
    """Seconds one call of ``function`` spends inside PyTorch's operators (``aten::``, self
    time as the profiler counts it, its own small overhead included): what would remain of
    the call if every line of Python around the kernels were free."""
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as recorded:
        function()
    events = recorded.key_averages()
    return sum(e.self_cpu_time_total for e in events if e.key.startswith("aten::")) / 1e6


@contextmanager
def torch_defaults():
    """PyTorch's own settings for the baselines (what a user's script runs with): no
    deterministic mode, uninitialised memory not filled, max pooling by PyTorch's kernel
    (``nn.MaxPool2d``); restored afterwards (``kept_settings``)."""
    with kept_settings(), pooling_kernel_everywhere():
        torch._C._set_deterministic_algorithms(False)
        torch.utils.deterministic.fill_uninitialized_memory = True
        yield


def plain_network(spec: ModelSpec) -> torch.nn.Module:
    """The same network as a user would run it: default (NCHW) memory format."""
    return build_model(spec).train()


@torch.no_grad()
def per_shift_loop(
    model, images, labels, protocol, grid, memory_format=torch.contiguous_format
) -> torch.Tensor:
    """The straightforward way: a Python loop over the shifts, each shifting the whole test
    set and classifying it in one forward pass, with PyTorch's default settings. Each shifted
    set is laid out in ``memory_format`` (a user's NCHW unless given): the strides of a
    one-channel batch are both NCHW and channels_last, and PyTorch's convolutions follow
    whichever layout its strides suggest, so the layout is set here, not left to how
    ``shift`` happens to write its output."""
    model.eval()
    correct = torch.zeros(len(grid), dtype=torch.long)
    for index, (dx, dy) in enumerate(grid.tolist()):
        shifted = shift(images, dx, dy, protocol).clone(memory_format=memory_format)
        logits = model(shifted)
        correct[index] = (logits.argmax(1) == labels).sum().cpu()
    return correct


def plain_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.SGD:
    """PyTorch's SGD with the study's settings (Nesterov momentum), as a user would make it."""
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=True,
    )


def plain_training_loop(
    spec: ModelSpec,
    images,
    labels,
    config: TrainConfig,
    steps: int,
    memory_format=torch.contiguous_format,
):
    """The loop a user would write for the same model and optimiser settings: a
    ``TensorDataset`` in a shuffling ``DataLoader``, one optimiser step per batch; network
    and batches in ``memory_format`` (a user's NCHW unless given)."""
    from torch.utils.data import DataLoader, TensorDataset

    model = plain_network(spec).to(memory_format=memory_format)
    optimizer = plain_optimizer(model, config)
    loader = DataLoader(TensorDataset(images, labels), batch_size=config.batch_size, shuffle=True)
    done = 0
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(model(x.contiguous(memory_format=memory_format)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


def spec_for(config: dict, data, operator: str) -> ModelSpec:
    model = config["model"]
    return ModelSpec(
        operator=operator,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        image_size=data.image_size,
        **{k: v for k, v in model.items() if k != "operator_options"},
        operator_options=model["operator_options"].get(operator, {}),
    )


def bench_evaluation(config: dict, data, device, operator: str, repeats: int) -> dict:
    """Batched shifted evaluation (``evaluate.shifted_correct``) against ``per_shift_loop``
    on the same untrained network and test set; both must count the same hits."""
    images, labels = data.subset("test")
    x, y = to_unit_float(images.to(device)), labels.to(device)
    spec = spec_for(config, data, operator)
    plain = plain_network(spec).to(device).eval()
    # The engine evaluates with batch normalisation folded into the convolutions.
    model = fold_batchnorm(plain).to(device=device, memory_format=devices.memory_format(device))
    grid = shift_grid(config["evaluate"]["max_shift"])
    batch = devices.eval_batch_size(device, config["evaluate"]["batch_size"], model)
    protocol = config["evaluate"]["protocols"][0]
    batched = shifted_correct(model, x, y, protocol, grid, batch, device)
    with torch_defaults():
        looped = per_shift_loop(plain, x, y, protocol, grid)
    if (batched.cpu() - looped).abs().max() > max(2, 0.01 * len(y)):
        raise RuntimeError(f"batched and per-shift evaluation disagree: {batched} {looped}")
    n_images = len(y) * len(grid)
    # The loop again with the one change a user might make: channels_last, network and input.
    plain_cl = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    cl = torch.channels_last
    t_batched = t_loop = t_loop_cl = float("inf")
    for _ in range(repeats):  # interleaved, so that all three see the same machine load
        t_batched = min(
            t_batched, timed(lambda: shifted_correct(model, x, y, protocol, grid, batch, device))
        )
        with torch_defaults():
            t_loop = min(t_loop, timed(lambda: per_shift_loop(plain, x, y, protocol, grid)))
            t_loop_cl = min(
                t_loop_cl, timed(lambda: per_shift_loop(plain_cl, x, y, protocol, grid, cl))
            )
    kernels = kernel_seconds(lambda: shifted_correct(model, x, y, protocol, grid, batch, device))
    return {
        "operator": operator,
        "images": n_images,
        "batch": batch,
        "batched_per_s": n_images / t_batched,
        "loop_per_s": n_images / t_loop,
        "ratio": t_loop / t_batched,
        "ratio_channels_last": t_loop_cl / t_batched,
        "ceiling": t_loop / kernels,
    }


def keeps_full_resolution(spec: ModelSpec) -> bool:
    """Whether the network's last feature map is as large as its input (no downsampling):
    such networks run near the cores' arithmetic limit, where the engine can gain less."""
    model = build_model(spec)
    return feature_map_sizes_of(model.stages, spec)[-1] == spec.image_size


def bench_training(config: dict, data, operator: str, steps: int, repeats: int) -> dict:
    """``train.train_model`` (validation included) against ``plain_training_loop`` for the same
    number of steps on the same data, on the CPU; achieved GFLOP/s of the engine beside (its
    training and validation passes' FLOPs over its time)."""
    train = TrainConfig.from_dict(
        {**config["train"], "epochs": 1_000, "steps": steps, "device": "cpu"}
    )
    options = spec_options_for(config["model"], operator)
    images, labels = data.subset("train")
    x = to_unit_float(images)
    spec = spec_for(config, data, operator)
    flops, training_flops = flop_counts(build_model(spec))  # test time, one pass
    engine = baseline = baseline_cl = float("inf")

    def engine_run():
        return train_model(
            data, options, operator, 0, train, log=lambda _: None, accounting={"flops": flops}
        )

    for _ in range(repeats):  # interleaved, so that both see the same machine load
        start = time.perf_counter()
        result = engine_run()
        engine = min(engine, time.perf_counter() - start)
        if result.meta["steps"] != steps:
            raise RuntimeError(f"the engine took {result.meta['steps']} steps, not {steps}")
        with torch_defaults():
            start = time.perf_counter()
            plain_training_loop(spec, x, labels, train, steps)
            baseline = min(baseline, time.perf_counter() - start)
            start = time.perf_counter()
            plain_training_loop(spec, x, labels, train, steps, torch.channels_last)
            baseline_cl = min(baseline_cl, time.perf_counter() - start)
    n_images = steps * train.batch_size
    # the engine's time includes its validation passes (one per row of its history, every
    # test-time draw each), so its FLOPs do too
    validated = len(result.history) * len(data.subset("val")[1])
    work = 3 * training_flops * n_images + flops * validated
    return {
        "operator": operator,
        "engine_per_s": n_images / engine,
        "plain_per_s": n_images / baseline,
        "ratio": baseline / engine,
        "ratio_channels_last": baseline_cl / engine,
        "ceiling": baseline / kernel_seconds(engine_run),
        "gflops": work / engine / 1e9,
    }


def benchmark_setup(config_path: str, threads: int | None):
    """The config, its device (configured: ``threads`` threads, one unless given) and a
    benchmark-sized copy of its first dataset, prepared in a temporary folder."""
    config = load_config(config_path)
    device = devices.resolve_device(config["train"]["device"])
    devices.configure(device, threads or 1, deterministic=config["train"]["deterministic"])
    dataset = config["datasets"][0]
    options = dict(config["data"]["options"].get(dataset, {}))
    if "n_train" in options:  # a procedural dataset: a benchmark needs far fewer images
        options["n_train"] = min(options["n_train"], BENCH_TRAIN_IMAGES)
        options["n_test"] = min(options.get("n_test", BENCH_TEST_IMAGES), BENCH_TEST_IMAGES)
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_dataset(
            dataset,
            Path(tmp) / "data.pt",
            raw_dir=config["data"]["raw_dir"],
            mirror=config["data"]["mirror"],
            split=config["data"]["split"],
            options=options,
        )
    print(f"device {device}, {torch.get_num_threads()} threads, dataset {dataset}")
    return config, device, data


def run_benchmarks(
    config_path: str, operators: list[str] | None, repeats: int, threads: int | None
) -> None:
    """Print training and shifted-evaluation throughput, each against its plain baseline."""
    config, device, data = benchmark_setup(config_path, threads)
    operators = operators or config["operators"]
    print(
        "\nshifted evaluation (test set x every shift), images per second: batched (all shifts "
        "of a chunk in one gather, the engine's forward batch, channels_last) against a loop "
        "over the shifts (whole test set per forward pass, PyTorch defaults); goal >= "
        f"{EVAL_GOAL}x. {CEILING_NOTE}. vs CL loop: the ratio against the same loop with "
        "network and input in channels_last"
    )
    print(
        f"{'operator':<14}{'images':>9}{'batch':>7}{'batched/s':>12}{'loop/s':>12}{'ratio':>8}"
        f"{'ceiling':>9}{'vs CL loop':>12}"
    )
    for operator in operators:
        row = bench_evaluation(config, data, device, operator, repeats)
        print(
            f"{row['operator']:<14}{row['images']:>9}{row['batch']:>7}{row['batched_per_s']:>12.0f}"
            f"{row['loop_per_s']:>12.0f}{row['ratio']:>7.2f}x{row['ceiling']:>8.2f}x"
            f"{row['ratio_channels_last']:>11.2f}x  {met(row['ratio'], EVAL_GOAL)}"
        )
    print(
        f"\ntraining on the CPU ({TRAIN_STEPS} steps), images per second: the engine "
        "(train_model, validation included) against a TensorDataset + DataLoader loop on the "
        f"same model (NCHW, PyTorch defaults); goal >= {TRAIN_GOALS['pooled']}x pooled, "
        f">= {TRAIN_GOALS['full']}x full-resolution networks. {CEILING_NOTE}. vs CL loop: "
        "the ratio against the same loop with network and batches in channels_last"
    )
    print(
        f"{'operator':<14}{'engine/s':>10}{'plain/s':>10}{'ratio':>8}{'ceiling':>9}"
        f"{'vs CL loop':>12}{'GFLOP/s':>9}  goal"
    )
    for operator in operators:
        row = bench_training(config, data, operator, steps=TRAIN_STEPS, repeats=repeats)
        full = keeps_full_resolution(spec_for(config, data, operator))
        goal = TRAIN_GOALS["full" if full else "pooled"]
        print(
            f"{row['operator']:<14}{row['engine_per_s']:>10.0f}{row['plain_per_s']:>10.0f}"
            f"{row['ratio']:>7.2f}x{row['ceiling']:>8.2f}x{row['ratio_channels_last']:>11.2f}x"
            f"{row['gflops']:>9.2f}  {met(row['ratio'], goal)}"
        )


def bench_glyphs(n: int) -> float:
    """Time generating ``n`` images of the procedural ``glyphs`` dataset (default options, font
    cache built beforehand); print and return the rate in images per second."""
    rate = benchmark_generation(n)
    print(f"glyphs: {n} images in {n / rate:.1f} s ({rate:.0f} images/s)")
    return rate


class BenchInputError(ValueError):
    """A benchmark's input that is not there: a study's config file, an engine's revision."""


def engine_at(revision: str, dest: Path, repo: Path = REPO) -> Path:
    """The project's files at a git ``revision`` (``git archive``), in ``dest``;
    BenchInputError, with git's reason, where git cannot give them (no such revision, not a
    checkout)."""
    dest.mkdir(parents=True)
    result = subprocess.run(["git", "-C", str(repo), "archive", revision], capture_output=True)
    if result.returncode:
        reason = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise BenchInputError(f"cannot take the engine at revision {revision!r} from git: {reason}")
    archive = result.stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def timed_pipeline(project: Path, cores: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run the default study in ``project`` with that project's own code: wall minutes, CPU
    minutes of every process it started (user + system: less sensitive than the wall time to
    other load on the machine), and the finished process."""
    bin_dir = Path(sys.executable).parent
    # The rules call `python -m poolstudy`: this environment first, the project's code first.
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(project / "src"),
    }
    start, before = time.perf_counter(), children_cpu_seconds()
    result = subprocess.run(
        [str(bin_dir / "snakemake"), "--cores", cores],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
    )
    cpu = (children_cpu_seconds() - before) / 60
    return (time.perf_counter() - start) / 60, cpu, result


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_study(project: Path, study: Path | None) -> Path:
    """``project`` with ``study`` (a config file) as its default config, when one is given."""
    if study is not None:
        shutil.copyfile(study, project / "config" / "config.yaml")
    return project


def run_pipeline_benchmark(
    repo: Path = REPO,
    cores: str = "all",
    keep: Path | None = None,
    against: str | None = None,
    study: Path | None = None,
) -> int:
    """Run the default study (or the config file ``study``) from scratch in a temporary copy
    (or in ``keep``, which must not exist yet, to look at the results afterwards); print time
    and accuracy. With ``against`` (a git revision), first run the same study with that
    revision's engine, back to back."""
    if study is not None and not Path(study).is_file():
        raise BenchInputError(f"--study {study}: no config file there")
    with tempfile.TemporaryDirectory() as tmp:
        previous = None
        if against:
            old = with_study(engine_at(against, Path(tmp) / "previous", repo), study)
            previous, previous_cpu, result = timed_pipeline(old, cores)
            if result.returncode != 0:
                print(result.stdout[-3000:], result.stderr[-3000:])
                return result.returncode
        project = copy_sources(Path(keep) if keep else Path(tmp) / "project", repo)
        with_study(project, study)
        minutes, cpu, result = timed_pipeline(project, cores)
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:])
            return result.returncode
        metrics = json.loads((project / "results" / "metrics.json").read_text())
    if study is None:  # the budget is the default study's
        verdict = "within" if minutes <= PIPELINE_BUDGET_MINUTES else "OVER"
        budget = f" (budget {PIPELINE_BUDGET_MINUTES:.0f} min: {verdict})"
        print(f"default pipeline, data to PDF: {minutes:.1f} min{budget}, {cpu:.1f} CPU min")
    else:
        print(f"pipeline of {study}, data to PDF: {minutes:.1f} min, {cpu:.1f} CPU min")
    if previous is not None:
        ratio = previous / minutes
        print(
            f"the engine at {against}: {previous:.1f} min, {previous_cpu:.1f} CPU min; this "
            f"engine is {ratio:.2f}x faster in wall time (goal >= {PIPELINE_GOAL}x: "
            f"{met(ratio, PIPELINE_GOAL)}) and needs {previous_cpu / cpu:.2f}x less CPU time"
        )
    for dataset, conditions in metrics.items():
        for condition, operators in conditions.items():
            ranked = sorted(operators.items(), key=lambda kv: -kv[1]["accuracy_test"])
            for operator, values in ranked:
                print(
                    f"  {dataset:<10} {condition:<16} {operator:<12} test "
                    f"{values['accuracy_test']:6.2f}%  train {values['accuracy_train']:6.2f}%"
                )
        best = max(
            values["accuracy_test"]
            for operators in conditions.values()
            for values in operators.values()
        )
        target = ACCURACY_TARGETS.get(dataset)
        verdict = f" (target {target}%: {met(best, target)})" if target else ""
        print(f"  {dataset}: best test accuracy {best:.2f}%{verdict}")
    return 0
