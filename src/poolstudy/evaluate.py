"""Evaluation of one trained model: clean accuracy per split, accuracy under every integer
shift of every protocol, and consistency, as one tidy table (one row per observation).

All shifted copies of a chunk of test images are built on the device in one gather and
classified in large batches: no Python loop per image or per shift.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import pandas as pd
import torch

from poolstudy import device as devices
from poolstudy.data.prepare import SPLITS, PreparedDataset
from poolstudy.metrics import consistency
from poolstudy.shifts import random_offsets, shift
from poolstudy.train import predict, to_unit_float

COLUMNS = ["metric", "protocol", "dx", "dy", "value", "n"]


@dataclass
class EvalConfig:
    """``config['evaluate']``; the schema documents every key."""

    max_shift: int = 4
    protocols: tuple[str, ...] = ("circular", "zero")
    consistency_shift: int = 4
    seed: int = 0
    batch_size: int = 2048

    @classmethod
    def from_dict(cls, data: dict) -> EvalConfig:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        if "protocols" in values:
            values["protocols"] = tuple(values["protocols"])
        return cls(**values)


def shift_grid(max_shift: int) -> torch.Tensor:
    """All integer shifts (dx, dy) with 0 <= dx, dy <= max_shift: [S, 2]."""
    values = range(max_shift + 1)
    return torch.tensor(list(itertools.product(values, values)), dtype=torch.long)


@torch.no_grad()
def shifted_correct(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    protocol: str,
    grid: torch.Tensor,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """Number of correctly classified images for every shift in ``grid``: [S]."""
    n_shifts = grid.shape[0]
    grid = grid.to(device)
    correct = torch.zeros(n_shifts, dtype=torch.long, device=device)
    chunk = max(1, batch_size // n_shifts)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk]
        y = labels[start : start + chunk]
        count = x.shape[0]
        copies = x.unsqueeze(1).expand(count, n_shifts, *x.shape[1:]).reshape(-1, *x.shape[1:])
        dx = grid[:, 0].repeat(count)
        dy = grid[:, 1].repeat(count)
        logits = predict(model, shift(copies, dx, dy, protocol), batch_size, device)
        hits = logits.argmax(1).view(count, n_shifts) == y.unsqueeze(1)
        correct += hits.sum(0)
    return correct.cpu()


@torch.no_grad()
def shift_consistency(
    model, images, protocol: str, max_shift: int, seed: int, batch_size: int, device
) -> float:
    """Zhang (2019) consistency: top-1 agreement of two independently shifted copies."""
    generator = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    dx_a, dy_a = random_offsets(n, max_shift, generator, device)
    dx_b, dy_b = random_offsets(n, max_shift, generator, device)
    logits_a = predict(model, shift(images, dx_a, dy_a, protocol), batch_size, device)
    logits_b = predict(model, shift(images, dx_b, dy_b, protocol), batch_size, device)
    return consistency(logits_a, logits_b)


def evaluate_model(
    model, data: PreparedDataset, config: EvalConfig, device, log=print
) -> pd.DataFrame:
    rows = []
    model = model.to(device=device, memory_format=devices.memory_format(device)).eval()
    for split in SPLITS:
        images, labels = data.subset(split)
        x, y = to_unit_float(images.to(device)), labels.to(device)
        logits = predict(model, x, config.batch_size, device)
        value = 100.0 * (logits.argmax(1) == y).float().mean().item() if len(y) else math.nan
        rows.append(("accuracy_" + split, "", math.nan, math.nan, value, len(y)))

    images, labels = data.subset("test")
    x, y = to_unit_float(images.to(device)), labels.to(device)
    grid = shift_grid(config.max_shift)
    for protocol in config.protocols:
        start = time.perf_counter()
        correct = shifted_correct(model, x, y, protocol, grid, config.batch_size, device)
        for (dx, dy), hits in zip(grid.tolist(), correct.tolist(), strict=True):
            rows.append(("accuracy_shifted", protocol, dx, dy, 100.0 * hits / len(y), len(y)))
        value = shift_consistency(
            model, x, protocol, config.consistency_shift, config.seed, config.batch_size, device
        )
        rows.append(("consistency", protocol, math.nan, math.nan, value, len(y)))
        log(
            f"{protocol}: {len(grid)} shifts x {len(y)} test images, consistency {value:.1f}% "
            f"({time.perf_counter() - start:.1f}s)"
        )
    return pd.DataFrame(rows, columns=COLUMNS)
