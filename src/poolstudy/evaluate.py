"""Evaluation of one trained model: clean accuracy per split, accuracy under every integer
shift of every protocol, and consistency, as one tidy table (one row per observation).

All shifted copies of a chunk of test images are built on the device in one gather and
classified in large batches: no Python loop per image or per shift.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass

import pandas as pd
import torch

from poolstudy import device as devices
from poolstudy.config import section_defaults
from poolstudy.inference import (
    fold_batchnorm,
    predict,
    seeded_subset,
    select_training_subset,
    to_unit_float,
)
from poolstudy.metrics import (
    consistency,
    consistency_given_clean_correct,
    consistency_given_one_correct,
    mean_abs_change,
    p_top1_change,
)
from poolstudy.placement import (
    PlacementConfig,
    in_region,
    placed_in_region,
    position_grid,
    to_canvas,
)
from poolstudy.prepared import SPLITS, PreparedDataset
from poolstudy.shifts import FRACTIONAL, IN_CONTEXT, context_scenes, shift
from poolstudy.translate import random_offsets

COLUMNS = ["metric", "protocol", "dx", "dy", "value", "n"]


DEFAULTS = section_defaults("evaluate")


@dataclass
class EvalConfig:
    """``config['evaluate']``; the schema documents every key and is the one home of their
    defaults, which a field left out takes."""

    max_shift: int = DEFAULTS["max_shift"]
    protocols: tuple[str, ...] = tuple(DEFAULTS["protocols"])
    consistency_shift: int = DEFAULTS["consistency_shift"]
    subpixel_step: float = DEFAULTS["subpixel_step"]
    seed: int = DEFAULTS["seed"]
    batch_size: int | str = DEFAULTS["batch_size"]
    train_images: int | None = DEFAULTS["train_images"]
    shift_images: int | None = DEFAULTS["shift_images"]

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


def subpixel_grid(step: float) -> torch.Tensor:
    """All shifts (dx, dy) in multiples of ``step`` from 0 to 1 pixel: [S, 2] (float)."""
    values = [k * step for k in range(round(1 / step) + 1)]
    return torch.tensor(list(itertools.product(values, values)), dtype=torch.float32)


def grid_for(protocol: str, config: EvalConfig) -> torch.Tensor:
    if protocol in FRACTIONAL:
        return subpixel_grid(config.subpixel_step)
    return shift_grid(config.max_shift)


def view_offsets(protocol: str, count: int, config: EvalConfig, generator: torch.Generator):
    """Random offsets for one shifted view per image: integers in {-k..k}^2 (k =
    consistency_shift); for fractional protocols, multiples of subpixel_step in [-1, 1]^2."""
    if protocol in FRACTIONAL:
        steps = round(1 / config.subpixel_step)
        dx, dy = random_offsets(count, steps, generator)
        return dx * config.subpixel_step, dy * config.subpixel_step
    return random_offsets(count, config.consistency_shift, generator)


def diagonal_positions(protocol: str, config: EvalConfig) -> torch.Tensor:
    """Offsets along the diagonal at which Azulay & Weiss (JMLR 2019) compare consecutive
    views: every multiple of one step (1 pixel, or subpixel_step pixels for fractional
    protocols) from -k to +k steps, k = consistency_shift (integer) or 1 / subpixel_step
    (fractional, i.e. -1..+1 pixel). Consecutive positions are one diagonal step (1, 1) apart."""
    if protocol in FRACTIONAL:
        steps = round(1 / config.subpixel_step)
        return torch.arange(-steps, steps + 1, dtype=torch.float32) * config.subpixel_step
    k = config.consistency_shift
    return torch.arange(-k, k + 1)


@torch.no_grad()
def shifted_correct(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    protocol: str,
    grid: torch.Tensor,
    batch_size: int,
    device: torch.device,
    margin: int = 0,
) -> torch.Tensor:
    """Number of correctly classified images for every shift in ``grid``: [S]. For protocols
    in ``IN_CONTEXT``, ``images`` are scenes with this ``margin`` (``context_scenes``)."""
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
        logits = predict(model, shift(copies, dx, dy, protocol, margin), batch_size, device)
        hits = logits.argmax(1).view(count, n_shifts) == y.unsqueeze(1)
        correct += hits.sum(0)
    return correct.cpu()


@torch.no_grad()
def shift_consistency(
    model, images, protocol: str, max_shift: int, seed: int, batch_size: int, device
) -> float:
    """Zhang (2019) consistency: top-1 agreement of two independently shifted copies."""
    config = EvalConfig(consistency_shift=max_shift, seed=seed, batch_size=batch_size)
    generator = torch.Generator().manual_seed(seed)
    inputs, margin = protocol_inputs(protocol, images, config)
    return consistency(*two_views(model, inputs, protocol, config, generator, device, margin))


def shifted_view(model, images, dx, dy, protocol: str, config: EvalConfig, device, margin=0):
    """Logits of ``images`` shifted by per-image offsets (drawn on the CPU)."""
    shifted = shift(images, dx.to(device), dy.to(device), protocol, margin)
    return predict(model, shifted, devices.eval_batch_size(device, config.batch_size), device)


def two_views(model, images, protocol: str, config: EvalConfig, generator, device, margin=0):
    """Logits of two copies of ``images`` at independent random offsets (``view_offsets``)."""
    n = images.shape[0]
    return tuple(
        shifted_view(
            model,
            images,
            *view_offsets(protocol, n, config, generator),
            protocol,
            config,
            device,
            margin,
        )
        for _ in range(2)
    )


def context_margin(config: EvalConfig) -> int:
    """The context a scene needs around each image: the largest shift any test draws."""
    return max(config.max_shift, config.consistency_shift, 1)


def protocol_inputs(protocol: str, images: torch.Tensor, config: EvalConfig):
    """What a protocol shifts, and the margin: the images themselves, or for protocols in
    ``IN_CONTEXT`` each image inside its scene (``context_scenes``, seeded by ``seed``)."""
    if protocol not in IN_CONTEXT:
        return images, 0
    margin = context_margin(config)
    return context_scenes(images, margin, config.seed), margin


@torch.no_grad()
def diagonal_step_logits(model, images, protocol: str, config: EvalConfig, device, margin=0):
    """Logits of every image at each diagonal position (``diagonal_positions``), as pairs of
    views one step apart: ``(first, second)``, each [P * N, K] with P pairs per image."""
    positions = diagonal_positions(protocol, config)
    n = images.shape[0]
    views = [
        shifted_view(
            model, images, offset.expand(n), offset.expand(n), protocol, config, device, margin
        )
        for offset in positions
    ]
    return torch.cat(views[:-1]), torch.cat(views[1:])


@torch.no_grad()
def stability_metrics(
    model, images, labels, clean_logits, protocol: str, config: EvalConfig, device, margin=0
) -> dict[str, float]:
    """Consistency of two random views (Zhang 2019) with its accuracy-independent variants,
    and, as Azulay & Weiss (JMLR 2019) measure it, the change of the top-1 class and of its
    probability between each diagonal position and the next, pooled over every start position
    (``diagonal_positions``) and image."""
    generator = torch.Generator().manual_seed(config.seed)
    logits_a, logits_b = two_views(model, images, protocol, config, generator, device, margin)
    before_step, after_step = diagonal_step_logits(model, images, protocol, config, device, margin)
    return {
        "consistency": consistency(logits_a, logits_b),
        "consistency_given_clean_correct": consistency_given_clean_correct(
            clean_logits, logits_a, logits_b, labels
        ),
        "consistency_given_one_correct": consistency_given_one_correct(logits_a, logits_b, labels),
        "p_top1_change": p_top1_change(before_step, after_step),
        "mean_abs_change": mean_abs_change(before_step, after_step),
    }


@dataclass
class Evaluation:
    """One model's tidy table and, per clean test image, whether it was classified correctly
    (the unit of the bootstrap over test images in ``poolstudy.stats``)."""

    table: pd.DataFrame
    test_correct: torch.Tensor


def placement_rows(protocol, grid, correct, n_images, placement) -> list[tuple]:
    """Accuracy at the positions training could draw (``accuracy_placed_inside``) and at the
    others (``accuracy_placed_outside``), each the mean over those grid positions."""
    accuracy = 100.0 * correct.double() / n_images
    inside = in_region(placement.region, grid[:, 0], grid[:, 1])
    rows = []
    for metric, mask in (("accuracy_placed_inside", inside), ("accuracy_placed_outside", ~inside)):
        if mask.any():
            rows.append(
                (metric, protocol, math.nan, math.nan, accuracy[mask].mean().item(), n_images)
            )
    return rows


def evaluate_model(
    model,
    data: PreparedDataset,
    config: EvalConfig,
    device,
    log=print,
    placement: PlacementConfig | None = None,
    n_train: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Every metric of one model. Training accuracy is measured on the images the model was
    trained on: the seeded subset of ``n_train`` images (``select_training_subset`` with the
    run's ``seed``) when training used one, and of those at most ``config.train_images``
    (a subset seeded by ``config.seed``: an unbiased estimate at a fraction of the cost where
    the training split is large). The shift protocols and stability measures likewise run on
    at most ``config.shift_images`` test images (seeded by ``config.seed``); clean test
    accuracy always uses every test image. With an active ``placement`` the clean splits are
    placed at fixed positions from the training region (as validation was), and the
    ``placement`` protocol moves every test image over the whole canvas (``position_grid``)."""
    placement = placement or PlacementConfig()
    if "placement" in config.protocols and not placement.active:
        raise ValueError("the placement protocol needs a placement canvas (placement.canvas)")
    rows = []
    model = fold_batchnorm(model.to(device=device, memory_format=devices.memory_format(device)))
    config = dataclasses.replace(
        config, batch_size=devices.eval_batch_size(device, config.batch_size, model)
    )

    def inputs_of(split: str):
        images, labels = data.subset(split)
        if split == "train":
            images, labels = select_training_subset(images, labels, n_train, seed)
            images, labels = select_training_subset(
                images, labels, config.train_images, config.seed
            )
        x = to_unit_float(images.to(device))
        if placement.active:
            reach = placement.reach(data.image_size)
            centred = to_canvas(x, placement.canvas)
            return placed_in_region(centred, placement, reach), centred, labels
        return x, x, labels

    for split in SPLITS:
        placed, centred, labels = inputs_of(split)
        y_split = labels.to(device)
        logits = predict(model, placed, config.batch_size, device)
        hits = logits.argmax(1) == y_split
        value = 100.0 * hits.float().mean().item() if len(y_split) else math.nan
        rows.append(("accuracy_" + split, "", math.nan, math.nan, value, len(y_split)))
        if split == "test":
            x, y, test_correct = centred, y_split, hits.cpu()
            # The shifted protocols start from the centred images; without placement those
            # are the images just classified.
            clean_logits = (
                predict(model, centred, config.batch_size, device) if placement.active else logits
            )
    keep = seeded_subset(len(y), config.shift_images, config.seed)
    if keep is not None:
        keep = keep.to(x.device)
        x, y, clean_logits = x[keep], y[keep], clean_logits[keep]
    for protocol in config.protocols:
        start = time.perf_counter()
        if protocol == "placement":
            grid = position_grid(placement.reach(data.image_size), placement.step)
        else:
            grid = grid_for(protocol, config)
        inputs, margin = protocol_inputs(protocol, x, config)
        correct = shifted_correct(
            model, inputs, y, protocol, grid, config.batch_size, device, margin
        )
        for (dx, dy), hits in zip(grid.tolist(), correct.tolist(), strict=True):
            rows.append(("accuracy_shifted", protocol, dx, dy, 100.0 * hits / len(y), len(y)))
        if protocol == "placement":
            rows += placement_rows(protocol, grid, correct, len(y), placement)
        stability = stability_metrics(
            model, inputs, y, clean_logits, protocol, config, device, margin
        )
        for metric, value in stability.items():
            rows.append((metric, protocol, math.nan, math.nan, value, len(y)))
        log(
            f"{protocol}: {len(grid)} shifts x {len(y)} test images, consistency "
            f"{stability['consistency']:.1f}% ({time.perf_counter() - start:.1f}s)"
        )
    return Evaluation(pd.DataFrame(rows, columns=COLUMNS), test_correct)


def evaluate_cell(
    data_path,
    model_paths: list,
    seeds: list[int],
    evaluate_options: dict,
    placement_options: dict,
    n_train: int | None,
    keys: dict,
    out_paths: list,
    correct_paths: list | None = None,
    threads: int | None = None,
    log=print,
) -> list[pd.DataFrame]:
    """Evaluate every seed's model of one cell, one after another, writing each seed's tidy
    table (with ``keys``: experiment, dataset, condition, operator) and per-image record as
    soon as it is done. The test set is loaded once."""
    from poolstudy.atomic import write_csv, write_npy
    from poolstudy.prepared import load_prepared
    from poolstudy.run_files import load_model

    correct_paths = correct_paths or [None] * len(seeds)
    if not len(model_paths) == len(seeds) == len(out_paths) == len(correct_paths):
        raise ValueError("one model, seed, output and per-image record per seed, in order")
    config = EvalConfig.from_dict(evaluate_options)
    device = devices.resolve_device(evaluate_options.get("device", DEFAULTS["device"]))
    devices.configure(device, threads, deterministic=True)
    data = load_prepared(data_path)
    placement = PlacementConfig.from_dict(placement_options)
    tables = []
    for model_path, seed, out, correct_out in zip(
        model_paths, seeds, out_paths, correct_paths, strict=True
    ):
        result = evaluate_model(
            load_model(model_path, device),
            data,
            config,
            device,
            log=log,
            placement=placement,
            n_train=n_train,
            seed=seed,
        )
        row_keys = {**keys, "seed": seed}
        table = result.table.assign(**row_keys)[[*row_keys, *result.table.columns]]
        write_csv(out, table)
        if correct_out:
            write_npy(correct_out, result.test_correct.numpy().astype("uint8"))
        test = table.loc[table["metric"] == "accuracy_test", "value"].iloc[0]
        log(f"{keys.get('operator', '')} seed {seed}: test accuracy {test:.2f}% -> {out}")
        tables.append(table)
    return tables
