"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision's own dataset classes.

* MNIST: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
  recognition", Proc. IEEE 1998 -- 70,000 greyscale 28x28 handwritten digits.
* Fashion-MNIST: Xiao, Rasul & Vollgraf, "Fashion-MNIST: a novel image dataset for
  benchmarking machine learning algorithms", arXiv:1708.07747, 2017 -- 70,000 greyscale
  28x28 images of clothing in 10 classes.
* CIFAR-10: Krizhevsky, "Learning multiple layers of features from tiny images", tech. report,
  University of Toronto 2009 -- 60,000 colour 32x32 images in 10 classes.

The raw files live under ``raw_dir`` in the layout torchvision expects
(``raw_dir/MNIST/raw/``, ``raw_dir/FashionMNIST/raw/``, ``raw_dir/cifar-10-python.tar.gz``
and ``raw_dir/cifar-10-batches-py/``). torchvision downloads, verifies (md5) and parses them.
A local mirror folder holding the original archives, flat, is used first: each archive is
copied atomically into place and checked against torchvision's checksum, so no network is
needed. When the files can be had neither way, :class:`DatasetUnavailable` says which files
to fetch, from where, and where to put them. A failed attempt leaves no half-written or
unverified file behind.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from poolstudy.atomic import atomic_path
from poolstudy.data.base import DatasetEntry, DatasetUnavailable, RawDataset


@dataclass(frozen=True)
class _Source:
    """A torchvision dataset class (by name) and how the paper cites it."""

    class_name: str
    title: str

    def dataset_class(self) -> type:
        from torchvision import datasets

        return getattr(datasets, self.class_name)

    @property
    def is_cifar(self) -> bool:
        return self.class_name == "CIFAR10"


_MNIST = _Source("MNIST", "MNIST (LeCun et al. 1998)")
_FASHION_MNIST = _Source("FashionMNIST", "Fashion-MNIST (Xiao et al. 2017)")
_CIFAR10 = _Source("CIFAR10", "CIFAR-10 (Krizhevsky 2009)")


def required_archives(source: _Source) -> list[tuple[str, str]]:
    """(file name, md5) of each original archive, read from torchvision's class attributes."""
    cls = source.dataset_class()
    if source.is_cifar:
        return [(cls.filename, cls.tgz_md5)]
    return [(name, md5) for name, md5 in cls.resources]


def archive_urls(source: _Source, filename: str) -> list[str]:
    """The URLs torchvision downloads ``filename`` from, in the order it tries them."""
    cls = source.dataset_class()
    if source.is_cifar:
        return [cls.url]
    return [f"{mirror}{filename}" for mirror in cls.mirrors]


def archive_dir(source: _Source, raw_dir: Path) -> Path:
    """The folder where torchvision looks for (and downloads) the archives."""
    if source.is_cifar:
        return raw_dir
    return raw_dir / source.class_name / "raw"


def owned_paths(source: _Source, raw_dir: Path) -> list[Path]:
    """Everything under ``raw_dir`` that belongs to this dataset and nothing else."""
    if source.is_cifar:
        cls = source.dataset_class()
        return [raw_dir / cls.filename, raw_dir / cls.base_folder]
    return [raw_dir / source.class_name]


def _walk(roots: list[Path]) -> tuple[set[Path], set[Path]]:
    """(files, folders) under ``roots``; a root that is a file counts as a file."""
    files: set[Path] = set()
    folders: set[Path] = set()
    for root in roots:
        if root.is_file():
            files.add(root)
        elif root.is_dir():
            folders.add(root)
            for path in root.rglob("*"):
                (folders if path.is_dir() else files).add(path)
    return files, folders


def copy_from_mirror(source: _Source, raw_dir: Path, mirror: Path | None) -> None:
    """Copy the mirror's archives into place; one with a wrong md5 raises DatasetUnavailable.

    Each archive is copied to a temporary name beside its destination, checked against
    torchvision's checksum there, and renamed into place only when it matches. Archives
    already in place and verified, and archives the mirror lacks, are left alone.
    """
    from torchvision.datasets.utils import check_integrity

    if mirror is None:
        return
    target_dir = archive_dir(source, raw_dir)
    for filename, md5 in required_archives(source):
        origin = mirror / filename
        target = target_dir / filename
        if not origin.is_file() or check_integrity(str(target), md5):
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(origin, tmp)
            if not check_integrity(str(tmp), md5):
                raise DatasetUnavailable(
                    f"{source.title}: the mirror file {origin} is corrupted (its md5 is not "
                    f"torchvision's {md5}); download {filename} again from "
                    f"{' or '.join(archive_urls(source, filename))}"
                )


def remove_leftovers(
    source: _Source, raw_dir: Path, files_before: set[Path], folders_before: set[Path]
) -> None:
    """Remove what a failed attempt left: new files other than verified archives, archives
    failing their checksum, and folders it created that are now empty."""
    from torchvision.datasets.utils import check_integrity

    target_dir = archive_dir(source, raw_dir)
    archives = {target_dir / name: md5 for name, md5 in required_archives(source)}
    files, folders = _walk(owned_paths(source, raw_dir))
    for path in files:
        verified = path in archives and check_integrity(str(path), archives[path])
        if not verified and (path not in files_before or path in archives):
            path.unlink(missing_ok=True)
    for folder in sorted(folders - folders_before, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _describe(exc: BaseException) -> str:
    """The exception's type and its message on one line, shortened."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unavailable_message(source: _Source, raw_dir: Path, mirror: Path | None, error: str) -> str:
    """Which files are needed, where they come from, and where to put them."""
    from torchvision.datasets.utils import check_integrity

    from poolstudy.data.prepare import MIRROR_ENV

    lines = [
        f"{source.title} is not under {raw_dir} and could not be downloaded ({error}).",
        "Download these files:",
    ]
    target_dir = archive_dir(source, raw_dir)
    for filename, md5 in required_archives(source):
        state = "in place" if check_integrity(str(target_dir / filename), md5) else "missing"
        urls = " or ".join(archive_urls(source, filename))
        lines.append(f"  [{state}] {filename} (md5 {md5}) from {urls}")
    where = f"the mirror folder {mirror}" if mirror is not None else "a local mirror folder"
    lines += [
        f"and put them, as they are, in {where} (set it with the config key data.mirror or the",
        f"environment variable {MIRROR_ENV}), or directly in {target_dir}.",
    ]
    return "\n".join(lines)


def open_splits(source: _Source, raw_dir: Path, mirror: Path | None) -> tuple[object, object]:
    """The torchvision (train, test) datasets, from the mirror, ``raw_dir`` or the network."""
    raw_dir = Path(raw_dir)
    cls = source.dataset_class()
    files_before, folders_before = _walk(owned_paths(source, raw_dir))
    try:
        copy_from_mirror(source, raw_dir, mirror)
        train = cls(root=str(raw_dir), train=True, download=True)
    except BaseException as exc:
        remove_leftovers(source, raw_dir, files_before, folders_before)
        if isinstance(exc, DatasetUnavailable) or not isinstance(exc, Exception):
            raise
        message = unavailable_message(source, raw_dir, mirror, _describe(exc))
        raise DatasetUnavailable(message) from exc
    test = cls(root=str(raw_dir), train=False, download=False)
    return train, test


def greyscale_images(data: torch.Tensor) -> torch.Tensor:
    """MNIST-like ``.data``, uint8 [N, 28, 28] -> uint8 [N, 1, 28, 28]."""
    return torch.as_tensor(data, dtype=torch.uint8).unsqueeze(1).contiguous()


def colour_images(data) -> torch.Tensor:
    """CIFAR ``.data``, numpy uint8 [N, 32, 32, 3] -> uint8 [N, 3, 32, 32]."""
    return torch.as_tensor(data, dtype=torch.uint8).permute(0, 3, 1, 2).contiguous()


def concatenate(train, test, to_images) -> RawDataset:
    """Train images first, then the official test images, marked in ``official_test``."""
    images = torch.cat([to_images(train.data), to_images(test.data)])
    labels = torch.cat(
        [torch.as_tensor(split.targets, dtype=torch.int64) for split in (train, test)]
    )
    official_test = torch.zeros(images.shape[0], dtype=torch.bool)
    official_test[len(train.data) :] = True
    return RawDataset(
        images=images, labels=labels, classes=list(train.classes), official_test=official_test
    )


def load_mnist(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """MNIST (LeCun et al. 1998): 60,000 train + 10,000 official test digits, 1x28x28."""
    return concatenate(*open_splits(_MNIST, raw_dir, mirror), greyscale_images)


def load_fashion_mnist(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train + 10,000 official test, 1x28x28."""
    return concatenate(*open_splits(_FASHION_MNIST, raw_dir, mirror), greyscale_images)


def load_cifar10(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train + 10,000 official test images, 3x32x32."""
    return concatenate(*open_splits(_CIFAR10, raw_dir, mirror), colour_images)


MNIST = DatasetEntry(
    name="mnist",
    summary="70,000 handwritten digits, 28x28 greyscale, official 10,000-image test set",
    source="lecun1998gradient",
    load=load_mnist,
)
FASHION_MNIST = DatasetEntry(
    name="fashion_mnist",
    summary="70,000 clothing images in 10 classes, 28x28 greyscale, official 10,000 test",
    source="xiao2017fashion",
    load=load_fashion_mnist,
)
CIFAR10 = DatasetEntry(
    name="cifar10",
    summary="60,000 natural images in 10 classes, 32x32 colour, official 10,000 test",
    source="krizhevsky2009learning",
    load=load_cifar10,
)

__all__ = ["CIFAR10", "FASHION_MNIST", "MNIST"]
