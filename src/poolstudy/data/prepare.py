"""Turn a registered dataset into its one canonical prepared file (``poolstudy.prepared``
says what it holds): placed on the configured canvas and split with a fixed seed, so every
run of every operator sees the same split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from poolstudy.config import ConfigError, section_defaults
from poolstudy.data import DATASETS
from poolstudy.data.base import RawDataset, RawShape
from poolstudy.prepared import SPLITS, PreparedDataset, save_prepared

MIRROR_ENV = "POOLSTUDY_DATA_MIRROR"


def resolve_mirror(configured: str | None) -> Path | None:
    """The local mirror folder: the config's ``data.mirror``, else ``$POOLSTUDY_DATA_MIRROR``."""
    value = configured or os.environ.get(MIRROR_ENV)
    return Path(value) if value else None


def place_on_canvas(images: torch.Tensor, canvas: int | None) -> torch.Tensor:
    """Centre uint8 images on a zero canvas of side ``canvas`` (None keeps them as they are);
    a canvas that is no whole number or smaller than the images raises ConfigError."""
    if canvas is None:
        return images
    if not isinstance(canvas, int) or isinstance(canvas, bool):
        raise ConfigError(f"canvas must be a whole number of pixels or null, not {canvas!r}")
    height, width = images.shape[-2:]
    if canvas < max(height, width):
        raise ConfigError(f"canvas {canvas} is smaller than the images ({height}x{width})")
    top, left = (canvas - height) // 2, (canvas - width) // 2
    return F.pad(images, (left, canvas - width - left, top, canvas - height - top))


def drawn_test_count(n: int, test_fraction: float) -> int:
    """Test images drawn at random from ``n`` when the source has no test split of its own."""
    return round(test_fraction * n)


def val_count(n_pool: int, val_fraction: float) -> int:
    """Validation images held out of the ``n_pool`` images that are not test images."""
    return round(val_fraction * n_pool)


def split_codes(raw: RawDataset, val_fraction: float, test_fraction: float, seed: int):
    """Split code per image. The source's own test and validation splits are kept when it has
    them; otherwise they are drawn at random (``test_fraction``, ``val_fraction``)."""
    n = raw.labels.shape[0]
    generator = torch.Generator().manual_seed(seed)
    codes = torch.zeros(n, dtype=torch.uint8)
    if raw.official_test is not None:
        codes[raw.official_test] = 2
        pool = torch.nonzero(~raw.official_test).flatten()
    else:
        pool = torch.arange(n)
        order = pool[torch.randperm(n, generator=generator)]
        n_test = drawn_test_count(n, test_fraction)
        codes[order[:n_test]] = 2
        pool = order[n_test:]
    if raw.official_val is not None:
        codes[raw.official_val] = 1
        return codes
    pool = pool[torch.randperm(pool.numel(), generator=generator)]
    n_val = val_count(pool.numel(), val_fraction)
    codes[pool[:n_val]] = 1
    return codes


@dataclass(frozen=True)
class PreparedShape:
    """What :func:`prepare_dataset` writes, known without preparing: images per split,
    channels, side of the (canvas) images and classes."""

    splits: dict[str, int]
    in_channels: int
    image_size: int
    num_classes: int


def prepared_shape(raw: RawShape, val_fraction: float, test_fraction: float, canvas: int | None):
    """The shape of the prepared file of a dataset whose ``load`` returns ``raw``: the same
    split sizes as :func:`split_codes` and the canvas of :func:`place_on_canvas`."""
    n_test = (
        raw.official_test
        if raw.official_test is not None
        else drawn_test_count(raw.images, test_fraction)
    )
    n_val = (
        raw.official_val
        if raw.official_val is not None
        else val_count(raw.images - n_test, val_fraction)
    )
    return PreparedShape(
        splits={"train": raw.images - n_test - n_val, "val": n_val, "test": n_test},
        in_channels=raw.channels,
        image_size=raw.size if canvas is None else canvas,
        num_classes=raw.classes,
    )


def canvas_problem(name: str, raw: RawShape, canvas) -> str | None:
    """Why ``canvas`` cannot hold the images of ``raw``, as :func:`place_on_canvas` would
    refuse it (known from the shape, before any file is downloaded or image made); None where
    it can. ``check_canvas`` here and the config's check (``checks.canvas_problems``) say it."""
    if canvas is None:
        return None
    if not isinstance(canvas, int) or isinstance(canvas, bool):
        problem = f"{canvas!r} is no whole number of pixels"
    elif canvas < raw.size:
        problem = f"{canvas} is smaller than the {raw.size}-pixel images of {name}"
    else:
        return None
    return f"{problem}; choose at least {raw.size}, or null for no canvas"


def check_canvas(name: str, raw: RawShape, canvas) -> None:
    """ConfigError, naming the option, where ``canvas`` cannot hold the images of ``raw``
    (``canvas_problem``)."""
    if problem := canvas_problem(name, raw, canvas):
        raise ConfigError(f"data.options.{name}.canvas: {problem}")


def empty_splits(raw: RawShape | RawDataset, counts: dict[str, int]) -> tuple[list[str], bool]:
    """The splits of ``counts`` that hold no image, and whether the dataset's own options size
    them all (its own test or validation split, and the training split where it has both:
    ``raw``'s ``official_test`` and ``official_val``), rather than ``data.split``'s fractions.
    ``check_splits`` here and the config's check (``checks.split_problems``) word it."""
    empty = [part for part, count in counts.items() if count < 1]
    own = {"test": raw.official_test is not None, "val": raw.official_val is not None}
    own["train"] = own["test"] and own["val"]
    return empty, all(own[part] for part in empty)


def check_splits(name: str, raw: RawDataset, codes: torch.Tensor, split: dict) -> None:
    """ConfigError where a split would hold no image (training, validation and evaluation
    each need theirs), naming what sizes it: the dataset's options or the fractions
    (``empty_splits``)."""
    counts = dict(zip(SPLITS, codes.bincount(minlength=len(SPLITS)).tolist(), strict=True))
    empty, by_options = empty_splits(raw, counts)
    if not empty:
        return
    sizes = ", ".join(f"{part} {count}" for part, count in counts.items())
    if by_options:
        cause, remedy = "", f"choose data.options.{name} that give every split an image"
    else:
        cause = (
            f" with data.split's val_fraction {split['val_fraction']} and test_fraction "
            f"{split['test_fraction']}"
        )
        remedy = "choose fractions that leave every split at least one image"
    parts = " and ".join(empty)
    raise ConfigError(f"{name}: the {parts} split would be empty ({sizes}){cause}; {remedy}")


def prepare_dataset(
    name: str,
    out_path: str | os.PathLike,
    raw_dir: str | os.PathLike | None = None,
    mirror: str | None = None,
    split: dict | None = None,
    options: dict | None = None,
) -> PreparedDataset:
    """Load dataset ``name`` and save it, placed on its canvas and split, to ``out_path``.
    ``raw_dir`` and the ``split`` settings it does not give: the config schema's
    (``data.raw_dir``, ``data.split``)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; registered: {', '.join(DATASETS)}")
    defaults = section_defaults("data")
    split = {**defaults["split"], **(split or {})}
    options = dict(options or {})
    raw_dir = Path(defaults["raw_dir"] if raw_dir is None else raw_dir)
    check_canvas(name, DATASETS[name].shape(options), options.get("canvas"))
    raw = DATASETS[name].load(raw_dir, resolve_mirror(mirror), options)
    prepared = PreparedDataset(
        name=name,
        images=place_on_canvas(raw.images, options.get("canvas")),
        labels=raw.labels,
        split=split_codes(
            raw,
            val_fraction=float(split["val_fraction"]),
            test_fraction=float(split["test_fraction"]),
            seed=int(split["seed"]),
        ),
        classes=list(raw.classes),
    )
    check_splits(name, raw, prepared.split, split)
    save_prepared(prepared, out_path)
    return prepared
