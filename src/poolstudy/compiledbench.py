"""What PyTorch's own compiler would give: the benchmarks' goals measured with the kernels
``torch.compile`` generates (Inductor: fused element-wise loops in C++, batch normalisation
folded into frozen weights) instead of PyTorch's eager kernels.

``make bench`` puts a ceiling beside each ratio: what the engine would reach with PyTorch's
eager kernels if its Python cost nothing. A goal above that ceiling needs other kernels; this
benchmark says whether the other kernels PyTorch ships reach it. On the CPU, one thread
unless told. The evaluation runs as the engine runs it (the config's settings, the engine's
maxima), eager and compiled, against ``make bench``'s per-shift loop; the training steps run
as a user's loop would, with PyTorch's default settings, NCHW against channels_last, eager
and compiled, and eager under CPU autocast to bfloat16 (oneDNN's bf16 kernels, which a CPU
with AVX512-BF16 or AMX runs natively: other numbers, so no option for the engine, whose
networks are full precision on the CPU, but kernels PyTorch ships). The compiler's time is
spent in a warm-up pass and printed apart, not counted in the rates.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F

from poolstudy import device as devices
from poolstudy.bench import (
    EVAL_GOAL,
    TRAIN_GOALS,
    benchmark_setup,
    keeps_full_resolution,
    met,
    per_shift_loop,
    plain_network,
    plain_optimizer,
    spec_for,
    timed,
    torch_defaults,
)
from poolstudy.evaluate import shift_grid, shifted_correct
from poolstudy.inference import fold_batchnorm, to_unit_float
from poolstudy.train import TrainConfig

TRAIN_STEPS = 200
"""Timed optimiser steps per training variant, after one warm-up step."""


def compiled(model: torch.nn.Module, backend: str) -> torch.nn.Module:
    """``model`` through ``torch.compile`` with static shapes; for Inductor with its
    freezing pass (weights as constants, batch normalisation folded), which needs the
    model in eval mode and gradients off. Dynamo's caches are cleared first: every network
    here runs the same ``forward``, whose compiled versions would otherwise pile up until
    Dynamo's recompile limit sends the later networks back to eager mode."""
    torch._dynamo.reset()
    if backend == "inductor":
        import torch._inductor.config as inductor_config

        inductor_config.freezing = not model.training
    return torch.compile(model, backend=backend, dynamic=False)


def bench_compiled_evaluation(config: dict, data, operator: str, repeats: int, backend: str):
    """Seconds for every shift of the test set: the per-shift loop (NCHW), the engine
    (``shifted_correct``, folded network, channels_last) and the engine with its network
    compiled; the compiled run must count the same hits as the engine's."""
    device = torch.device("cpu")
    images, labels = data.subset("test")
    x, y = to_unit_float(images), labels
    plain = plain_network(spec_for(config, data, operator)).eval()
    model = fold_batchnorm(plain).to(memory_format=torch.channels_last)
    grid = shift_grid(config["evaluate"]["max_shift"])
    protocol = config["evaluate"]["protocols"][0]
    batch = devices.eval_batch_size(device, config["evaluate"]["batch_size"], model)
    with torch.no_grad():
        fast = compiled(model, backend)
        start = time.perf_counter()
        hits = shifted_correct(fast, x, y, protocol, grid, batch, device)
        compile_s = time.perf_counter() - start
        expected = shifted_correct(model, x, y, protocol, grid, batch, device)
        if not torch.equal(hits, expected):
            raise RuntimeError(f"the compiled network counts {hits}, the engine's {expected}")
        loop = engine = fast_s = float("inf")
        for _ in range(repeats):  # interleaved, so that all three see the same machine load
            with torch_defaults():
                loop = min(loop, timed(lambda: per_shift_loop(plain, x, y, protocol, grid)))
            engine = min(
                engine, timed(lambda: shifted_correct(model, x, y, protocol, grid, batch, device))
            )
            fast_s = min(
                fast_s, timed(lambda: shifted_correct(fast, x, y, protocol, grid, batch, device))
            )
    return {"loop": loop, "engine": engine, "compiled": fast_s, "compile_s": compile_s}


def step_seconds(model, images, labels, train: TrainConfig, steps: int, memory_format) -> float:
    """Mean seconds of one optimiser step (SGD with Nesterov momentum, the study's settings)
    over ``steps`` consecutive batches, after one warm-up step (where a compiled model
    compiles)."""
    optimizer = plain_optimizer(model, train)
    size = train.batch_size
    batches = max(1, len(labels) // size)

    def step(index: int) -> None:
        start = (index % batches) * size
        x = images[start : start + size].contiguous(memory_format=memory_format)
        loss = F.cross_entropy(model(x), labels[start : start + size])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(0)
    start = time.perf_counter()
    for index in range(1, steps + 1):
        step(index)
    return (time.perf_counter() - start) / steps


def bench_compiled_training(config: dict, data, operator: str, steps: int, backend: str):
    """Seconds per training step of one network: NCHW, channels_last, channels_last compiled,
    and channels_last under bfloat16 autocast, each from the same initial weights on the same
    batches."""
    train = TrainConfig.from_dict({**config["train"], "device": "cpu"})
    images, labels = data.subset("train")
    x = to_unit_float(images)
    network = plain_network(spec_for(config, data, operator))
    cl = torch.channels_last
    with torch_defaults():
        nchw = step_seconds(
            copy.deepcopy(network), x, labels, train, steps, torch.contiguous_format
        )
        eager_cl = step_seconds(
            copy.deepcopy(network).to(memory_format=cl), x, labels, train, steps, cl
        )
        fast = compiled(copy.deepcopy(network).to(memory_format=cl), backend)
        fast_s = step_seconds(fast, x, labels, train, steps, cl)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = step_seconds(
                copy.deepcopy(network).to(memory_format=cl), x, labels, train, steps, cl
            )
    return {"nchw": nchw, "channels_last": eager_cl, "compiled": fast_s, "bf16": bf16}


def run_compiled_benchmarks(
    config_path: str,
    operators: list[str] | None,
    repeats: int,
    threads: int | None,
    backend: str = "inductor",
) -> list[dict]:
    """Print, per network, the evaluation and training ratios that the goals of ``make
    bench`` are set on, reached by the engine's eager kernels and by compiled ones; return
    the rows."""
    config, _, data = benchmark_setup(config_path, threads)
    operators = operators or config["operators"]
    print(
        f"\nPyTorch's compiler ({backend}) against the eager kernels. evaluation: the "
        "per-shift loop's time over the engine's, eager and with its network compiled (goal "
        f">= {EVAL_GOAL}x); training, a user's loop with PyTorch's default settings: the NCHW "
        "step's time over the channels_last step's, eager, compiled and eager in bf16 autocast "
        f"(goal >= {TRAIN_GOALS['pooled']}x pooled, >= {TRAIN_GOALS['full']}x full-resolution)"
    )
    print(
        f"{'operator':<14}{'eval eager':>11}{'compiled':>10}{'compile s':>11}"
        f"{'train eager':>13}{'compiled':>10}{'bf16':>8}  goals met compiled (eval, train)"
    )
    rows = []
    for operator in operators:
        evaluation = bench_compiled_evaluation(config, data, operator, repeats, backend)
        training = bench_compiled_training(config, data, operator, TRAIN_STEPS, backend)
        full = keeps_full_resolution(spec_for(config, data, operator))
        row = {
            "operator": operator,
            "eval_eager": evaluation["loop"] / evaluation["engine"],
            "eval_compiled": evaluation["loop"] / evaluation["compiled"],
            "compile_s": evaluation["compile_s"],
            "train_eager": training["nchw"] / training["channels_last"],
            "train_compiled": training["nchw"] / training["compiled"],
            "train_bf16": training["nchw"] / training["bf16"],
            "train_goal": TRAIN_GOALS["full" if full else "pooled"],
        }
        rows.append(row)
        print(
            f"{operator:<14}{row['eval_eager']:>10.2f}x{row['eval_compiled']:>9.2f}x"
            f"{row['compile_s']:>11.1f}{row['train_eager']:>12.2f}x"
            f"{row['train_compiled']:>9.2f}x{row['train_bf16']:>7.2f}x  "
            f"{met(row['eval_compiled'], EVAL_GOAL)}, "
            f"{met(row['train_compiled'], row['train_goal'])}"
        )
    return rows
