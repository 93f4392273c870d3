"""What every dataset source returns, what it would return (its shape, known without loading),
and the error raised when its files cannot be had."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from poolstudy.config import ConfigError


class DatasetUnavailable(RuntimeError):
    """The raw files of a dataset are missing and could not be downloaded, or are not the
    dataset's."""


def check_option_names(dataset: str, options: dict, accepted: Iterable[str]) -> None:
    """ConfigError naming the options of ``dataset`` that are none of ``accepted`` (a misspelt
    option would otherwise be ignored, and its default used without a word)."""
    accepted = list(accepted)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown {dataset} options: {', '.join(unknown)}; the {dataset} options are: "
            f"{', '.join(accepted) or 'none'}"
        )


def whole_number(value) -> int | None:
    """``value`` as an int where it is a whole number: an int (not a bool: ``True`` is no
    count), or a float without a fraction (``24.0``, which JSON Schema's "integer" takes too);
    None for anything else (1.7 is not rounded)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass
class RawDataset:
    """A whole dataset before splitting.

    images: uint8 tensor [N, C, H, W]; labels: int64 tensor [N], each the index of its class
    in ``classes``;
    official_test: bool tensor [N] marking the source's own test split, or None when the
    source has none (the split is then drawn at random);
    official_val: the same for a validation split of the source's own (e.g. a generator's
    validation stream), or None (``data.split.val_fraction`` of the rest is then drawn).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    official_test: torch.Tensor | None = None
    official_val: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be a tensor [N] matching the images")
        self.labels = self.labels.to(torch.int64)
        if self.labels.numel() == 0:
            return
        low, high, n_classes = int(self.labels.min()), int(self.labels.max()), len(self.classes)
        if low < 0 or high >= n_classes:
            raise ValueError(
                f"labels must lie in [0, {n_classes}) for the {n_classes} classes, not in "
                f"[{low}, {high}]"
            )


@dataclass(frozen=True)
class RawShape:
    """What ``load`` returns, known without loading it (``poolstudy.estimate`` sizes a study
    before any data exists): the number of images, of those the source's own test split
    (None when it has none), channels, the side of the square images and the classes, and the
    source's own validation split (None: drawn from the rest)."""

    images: int
    official_test: int | None
    channels: int
    size: int
    classes: int
    official_val: int | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset: ``load(raw_dir, mirror, options) -> RawDataset``, and
    ``shape(options) -> RawShape``, the shape of what ``load`` returns for those options.
    ``downloads``: whether ``load`` reads files under ``raw_dir`` or from a mirror; the others
    make their data without either, so their prepare jobs do not take those settings."""

    name: str
    summary: str
    source: str  # BibTeX key in paper/references.bib, or ""
    load: Callable[[Path, Path | None, dict], RawDataset]
    shape: Callable[[dict], RawShape]
    downloads: bool
