"""Dataset sources -> one canonical prepared file per dataset.

``DATASETS`` maps a name to a :class:`DatasetEntry` whose ``load`` returns a
:class:`RawDataset` (uint8 images, labels, the source's own test split when it has one).
:func:`poolstudy.data.prepare.prepare_dataset` turns that into ``data/prepared/<name>.pt``.
Adding a dataset is one module with a ``load`` function and one line in ``DATASETS``.
"""

from __future__ import annotations

from poolstudy.data.base import DatasetEntry, DatasetUnavailable, RawDataset
from poolstudy.data.digits import DIGITS
from poolstudy.data.glyphs import GLYPHS
from poolstudy.data.torchvision_sets import CIFAR10, FASHION_MNIST, MNIST, SVHN

DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in (
        DIGITS,
        GLYPHS,
        MNIST,
        FASHION_MNIST,
        CIFAR10,
        SVHN,
    )
}

__all__ = ["DATASETS", "DatasetEntry", "DatasetUnavailable", "RawDataset"]
