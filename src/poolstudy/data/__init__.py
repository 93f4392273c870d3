"""Dataset sources -> one canonical prepared file per dataset.

``DATASETS`` maps a name to a :class:`DatasetEntry` whose ``load`` returns a
:class:`RawDataset` (uint8 images, labels, the source's own test split when it has one).
:func:`poolstudy.data.prepare.prepare_dataset` turns that into ``data/prepared/<name>.pt``.
Adding a dataset is one module with a ``load`` function and its ``DatasetEntry`` (which says
whether it downloads), and one line in ``DATASET_SOURCES``.

A dataset's module is imported when its entry is first asked for, not with this package: the
job that prepares one dataset runs that dataset's code alone, and the jobs that read a prepared
file run none (``poolstudy.phases``), so editing one source remakes only its own data.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from poolstudy.data.base import DatasetEntry, DatasetUnavailable, RawDataset

DATASET_SOURCES: dict[str, tuple[str, str]] = {
    "digits": ("poolstudy.data.digits", "DIGITS"),
    "glyphs": ("poolstudy.data.glyphs", "GLYPHS"),
    "mnist": ("poolstudy.data.torchvision_sets", "MNIST"),
    "fashion_mnist": ("poolstudy.data.torchvision_sets", "FASHION_MNIST"),
    "cifar10": ("poolstudy.data.torchvision_sets", "CIFAR10"),
    "svhn": ("poolstudy.data.torchvision_sets", "SVHN"),
}
"""Each dataset's module and the name of its ``DatasetEntry`` there, in the registry's order."""


class Registry(Mapping[str, DatasetEntry]):
    """``DATASET_SOURCES`` as their entries, each module imported on first use."""

    def __getitem__(self, name: str) -> DatasetEntry:
        module, attribute = DATASET_SOURCES[name]
        return getattr(importlib.import_module(module), attribute)

    def __contains__(self, name: object) -> bool:  # without importing the module
        return name in DATASET_SOURCES

    def __iter__(self) -> Iterator[str]:
        return iter(DATASET_SOURCES)

    def __len__(self) -> int:
        return len(DATASET_SOURCES)


DATASETS: Mapping[str, DatasetEntry] = Registry()

__all__ = ["DATASETS", "DATASET_SOURCES", "DatasetEntry", "DatasetUnavailable", "RawDataset"]
