"""Benchmarks that print figures (never timed tests): throughput of training and of the
batched shifted evaluation against a straightforward per-shift loop, and the wall time and
accuracy of a whole pipeline run against the project's budgets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from poolstudy import device as devices
from poolstudy.config import load_config
from poolstudy.data.glyphs import benchmark_generation
from poolstudy.data.prepare import prepare_dataset
from poolstudy.evaluate import shift_grid, shifted_correct
from poolstudy.models import ModelSpec, build_model
from poolstudy.shifts import shift
from poolstudy.train import TrainConfig, to_unit_float, train_model
from poolstudy.workspace import REPO, copy_sources

PIPELINE_BUDGET_MINUTES = 20.0
ACCURACY_TARGET = 97.0


def timed(function, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def per_shift_loop(model, images, labels, protocol, grid, device) -> torch.Tensor:
    """The straightforward way: a Python loop over the shifts, each shifting the whole test
    set and classifying it in one forward pass."""
    correct = torch.zeros(len(grid), dtype=torch.long)
    fmt = devices.memory_format(device)
    for index, (dx, dy) in enumerate(grid.tolist()):
        shifted = shift(images, dx, dy, protocol).contiguous(memory_format=fmt)
        with devices.autocast(device):
            logits = model(shifted)
        correct[index] = (logits.argmax(1) == labels).sum().cpu()
    return correct


def bench_evaluation(config: dict, data, device, operator: str, repeats: int) -> dict:
    images, labels = data.subset("test")
    x, y = to_unit_float(images.to(device)), labels.to(device)
    spec = ModelSpec(
        operator=operator,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        image_size=data.image_size,
        **{k: v for k, v in config["model"].items() if k != "operator_options"},
    )
    model = build_model(spec).to(device=device, memory_format=devices.memory_format(device))
    model.eval()
    grid = shift_grid(config["evaluate"]["max_shift"])
    batch = devices.eval_batch_size(device, config["evaluate"]["batch_size"])
    protocol = config["evaluate"]["protocols"][0]
    batched = shifted_correct(model, x, y, protocol, grid, batch, device)
    looped = per_shift_loop(model, x, y, protocol, grid, device)
    if not torch.equal(batched.cpu(), looped):
        raise RuntimeError("batched and per-shift evaluation disagree")
    n_images = len(y) * len(grid)
    t_batched = timed(lambda: shifted_correct(model, x, y, protocol, grid, batch, device), repeats)
    t_loop = timed(lambda: per_shift_loop(model, x, y, protocol, grid, device), repeats)
    return {
        "operator": operator,
        "images": n_images,
        "batched_per_s": n_images / t_batched,
        "loop_per_s": n_images / t_loop,
        "ratio": t_loop / t_batched,
    }


def bench_training(config: dict, data, operator: str, epochs: int) -> dict:
    train = TrainConfig.from_dict({**config["train"], "epochs": epochs})
    options = {k: v for k, v in config["model"].items() if k != "operator_options"}
    result = train_model(data, options, operator, seed=0, config=train, log=lambda _: None)
    return {
        "operator": operator,
        "images_per_s": result.meta["images_per_second"],
        "device": result.meta["device"],
    }


def run_benchmarks(
    config_path: str, operators: list[str] | None, repeats: int, threads: int | None
) -> None:
    config = load_config(config_path)
    device = devices.resolve_device(config["train"]["device"])
    devices.configure(device, threads, deterministic=config["train"]["deterministic"])
    operators = operators or config["operators"]
    dataset = config["datasets"][0]
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_dataset(
            dataset,
            Path(tmp) / "data.pt",
            raw_dir=config["data"]["raw_dir"],
            mirror=config["data"]["mirror"],
            split=config["data"]["split"],
            options=config["data"]["options"].get(dataset, {}),
        )
    print(f"device {device}, {torch.get_num_threads()} threads, dataset {dataset}")
    batch = devices.eval_batch_size(device, config["evaluate"]["batch_size"])
    print(
        f"\nshifted evaluation (test set x every shift), images per second: batched (all "
        f"shifts of a chunk in one gather, forward batches of {batch}) against a loop over the "
        "shifts (whole test set per forward pass)"
    )
    print(f"{'operator':<12}{'images':>9}{'batched/s':>12}{'loop/s':>12}{'ratio':>8}")
    for operator in operators:
        row = bench_evaluation(config, data, device, operator, repeats)
        print(
            f"{row['operator']:<12}{row['images']:>9}{row['batched_per_s']:>12.0f}"
            f"{row['loop_per_s']:>12.0f}{row['ratio']:>8.2f}"
        )
    print("\ntraining throughput (1 epoch), images per second:")
    for operator in operators:
        row = bench_training(config, data, operator, epochs=1)
        print(f"{row['operator']:<12}{row['images_per_s']:>12.0f}")


def bench_glyphs(n: int) -> float:
    """Time generating ``n`` images of the procedural ``glyphs`` dataset (default options, font
    cache built beforehand); print and return the rate in images per second."""
    rate = benchmark_generation(n)
    print(f"glyphs: {n} images in {n / rate:.1f} s ({rate:.0f} images/s)")
    return rate


def run_pipeline_benchmark(repo: Path = REPO, cores: str = "all", keep: Path | None = None) -> int:
    """Run the default study from scratch in a temporary copy (or in ``keep``, which must not
    exist yet, to look at the results afterwards); print time and accuracy."""
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_sources(Path(keep) if keep else Path(tmp) / "project", repo)
        bin_dir = Path(sys.executable).parent
        # The rules call `python -m poolstudy`: the environment running this must come first.
        env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        start = time.perf_counter()
        result = subprocess.run(
            [str(bin_dir / "snakemake"), "--cores", cores],
            cwd=project,
            capture_output=True,
            text=True,
            env=env,
        )
        minutes = (time.perf_counter() - start) / 60
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:])
            return result.returncode
        metrics = json.loads((project / "results" / "metrics.json").read_text())
    print(
        f"default pipeline, data to PDF: {minutes:.1f} min "
        f"(budget {PIPELINE_BUDGET_MINUTES:.0f} min: "
        f"{'within' if minutes <= PIPELINE_BUDGET_MINUTES else 'OVER'})"
    )
    for dataset, conditions in metrics.items():
        for condition, operators in conditions.items():
            ranked = sorted(operators.items(), key=lambda kv: -kv[1]["accuracy_test"])
            for operator, values in ranked:
                print(
                    f"  {dataset:<10}{condition:<12}{operator:<13} test "
                    f"{values['accuracy_test']:6.2f}%  train {values['accuracy_train']:6.2f}%"
                )
        best = max(
            values["accuracy_test"]
            for operators in conditions.values()
            for values in operators.values()
        )
        verdict = "met" if best >= ACCURACY_TARGET else "NOT met"
        print(f"  {dataset}: best test accuracy {best:.2f}% (target {ACCURACY_TARGET}%: {verdict})")
    return 0
