"""MNIST, Fashion-MNIST, CIFAR-10 and SVHN through torchvision's own dataset classes.

* MNIST: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
  recognition", Proc. IEEE 1998 -- 70,000 greyscale 28x28 handwritten digits.
* Fashion-MNIST: Xiao, Rasul & Vollgraf, "Fashion-MNIST: a novel image dataset for
  benchmarking machine learning algorithms", arXiv:1708.07747, 2017 -- 70,000 greyscale
  28x28 images of clothing in 10 classes.
* CIFAR-10: Krizhevsky, "Learning multiple layers of features from tiny images", tech. report,
  University of Toronto 2009 -- 60,000 colour 32x32 images in 10 classes.
* SVHN: Netzer, Wang, Coates, Bissacco, Wu & Ng, "Reading digits in natural images with
  unsupervised feature learning", NIPS Workshop 2011 -- 99,289 colour 32x32 crops of house
  numbers (73,257 train + 26,032 test; the ``extra`` split is not used), digits 0-9.

The raw files live under ``raw_dir`` in the layout torchvision expects
(``raw_dir/MNIST/raw/``, ``raw_dir/FashionMNIST/raw/``, ``raw_dir/cifar-10-python.tar.gz``
and ``raw_dir/cifar-10-batches-py/``, ``raw_dir/train_32x32.mat`` and
``raw_dir/test_32x32.mat``). torchvision downloads, verifies (md5) and parses them.
A local mirror folder holding the original archives, flat, is used first: each archive is
copied atomically into place and checked against torchvision's checksum, so no network is
needed. When the files can be had neither way, :class:`DatasetUnavailable` says which files
to fetch, from where, and where to put them. A failed attempt leaves no half-written or
unverified file behind.

torchvision's MNIST-like classes read the files extracted from the archives and, when those
exist, check nothing (not even their archives' md5): so every verified archive is extracted
again before they open (:func:`extract_verified_archives`), and what they read is checked
against the published counts of images and labels (:func:`check_counts`).
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from poolstudy.atomic import atomic_path
from poolstudy.data.base import (
    DatasetEntry,
    DatasetUnavailable,
    RawDataset,
    RawShape,
    check_option_names,
)

OPTIONS = ("canvas",)  # the preparation's (``prepare.place_on_canvas``); none change the source


@dataclass(frozen=True)
class _Source:
    """A torchvision dataset class (by name), how the paper cites it, its name in the registry
    (and so in ``data.options``), and how it is laid out.

    ``layout`` says how the class lists its files: ``"resources"`` (MNIST-like: ``resources``
    and ``mirrors``, kept in ``raw_dir/<class>/raw/``), ``"tarball"`` (CIFAR: one archive
    ``filename`` with ``tgz_md5`` from ``url``, kept in ``raw_dir`` and extracted into
    ``base_folder``) or ``"per_split"`` (SVHN: one file per split in ``split_list``, kept in
    ``raw_dir``). The train and the official test split are opened with the keyword
    ``split_keyword`` set to each of ``split_values``; labels are read from the attribute
    ``labels_attribute``, class names from ``classes`` or else the class's own ``classes``.
    ``shape`` is what :func:`load_source` returns (train images first, then the official test
    images), known without the files.
    """

    class_name: str
    title: str
    shape: RawShape
    name: str
    layout: Literal["resources", "tarball", "per_split"] = "resources"
    split_keyword: str = "train"
    split_values: tuple[object, object] = (True, False)
    labels_attribute: str = "targets"
    classes: tuple[str, ...] = ()

    def raw_shape(self, options: dict) -> RawShape:
        """The dataset's shape (no options change it; options other than :data:`OPTIONS` are
        refused)."""
        check_option_names(self.name, options, OPTIONS)
        return self.shape

    def dataset_class(self) -> type:
        from torchvision import datasets

        return getattr(datasets, self.class_name)


def _shape(n_train: int, n_test: int, channels: int, size: int) -> RawShape:
    """Train then official test images, 10 classes."""
    return RawShape(n_train + n_test, n_test, channels, size, classes=10)


_MNIST = _Source("MNIST", "MNIST (LeCun et al. 1998)", _shape(60000, 10000, 1, 28), "mnist")
_FASHION_MNIST = _Source(
    "FashionMNIST",
    "Fashion-MNIST (Xiao et al. 2017)",
    _shape(60000, 10000, 1, 28),
    "fashion_mnist",
)
_CIFAR10 = _Source(
    "CIFAR10",
    "CIFAR-10 (Krizhevsky 2009)",
    _shape(50000, 10000, 3, 32),
    "cifar10",
    layout="tarball",
)
_SVHN = _Source(
    "SVHN",
    "SVHN (Netzer et al. 2011)",
    _shape(73257, 26032, 3, 32),
    "svhn",
    layout="per_split",
    split_keyword="split",
    split_values=("train", "test"),
    labels_attribute="labels",
    classes=tuple(str(digit) for digit in range(10)),
)


def archives(source: _Source) -> list[tuple[str, str, list[str]]]:
    """(file name, md5, URLs in the order torchvision tries them) of each original file,
    read from torchvision's class attributes."""
    cls = source.dataset_class()
    if source.layout == "tarball":
        return [(cls.filename, cls.tgz_md5, [cls.url])]
    if source.layout == "per_split":
        entries = [cls.split_list[split] for split in source.split_values]
        return [(filename, md5, [url]) for url, filename, md5 in entries]
    return [
        (name, md5, [f"{mirror}{name}" for mirror in cls.mirrors]) for name, md5 in cls.resources
    ]


def required_archives(source: _Source) -> list[tuple[str, str]]:
    """(file name, md5) of each original archive."""
    return [(filename, md5) for filename, md5, _ in archives(source)]


def archive_urls(source: _Source, filename: str) -> list[str]:
    """The URLs torchvision downloads ``filename`` from, in the order it tries them."""
    return next(urls for name, _, urls in archives(source) if name == filename)


def archive_dir(source: _Source, raw_dir: Path) -> Path:
    """The folder where torchvision looks for (and downloads) the archives."""
    if source.layout == "resources":
        return raw_dir / source.class_name / "raw"
    return raw_dir


def owned_paths(source: _Source, raw_dir: Path) -> list[Path]:
    """Everything under ``raw_dir`` that belongs to this dataset and nothing else."""
    if source.layout == "resources":
        return [raw_dir / source.class_name]
    paths = [raw_dir / filename for filename, _ in required_archives(source)]
    if source.layout == "tarball":
        paths.append(raw_dir / source.dataset_class().base_folder)
    return paths


def extracted_files(source: _Source, raw_dir: Path) -> dict[Path, tuple[Path, str]]:
    """Each file torchvision extracts from an archive (MNIST-like layout only: the archive's
    name less its ``.gz``, beside it, as ``MNIST._check_exists`` looks for it) -> (the
    archive, its md5)."""
    if source.layout != "resources":
        return {}
    folder = archive_dir(source, raw_dir)
    return {
        folder / os.path.splitext(filename)[0]: (folder / filename, md5)
        for filename, md5 in required_archives(source)
    }


def extract_verified_archives(source: _Source, raw_dir: Path) -> None:
    """Decompress every archive in place that passes its md5 over its extracted file, atomically
    (MNIST-like layout only). torchvision's MNIST opens extracted files it finds without
    checking them or their archives, so a truncated or foreign file would be read as the
    dataset; extracting afresh makes it read what the verified archives hold."""
    from torchvision.datasets.utils import check_integrity

    for extracted, (archive, md5) in extracted_files(source, raw_dir).items():
        if not check_integrity(str(archive), md5):
            continue
        with atomic_path(extracted) as tmp, gzip.open(archive) as packed, open(tmp, "wb") as out:
            shutil.copyfileobj(packed, out)


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
    failing their checksum, extracted files whose archive is not in place and verified (the
    next attempt would read them unchecked), and folders it created that are now empty."""
    from torchvision.datasets.utils import check_integrity

    target_dir = archive_dir(source, raw_dir)
    archives = {target_dir / name: md5 for name, md5 in required_archives(source)}
    extracted = extracted_files(source, raw_dir)
    files, folders = _walk(owned_paths(source, raw_dir))
    for path in files:
        verified = path in archives and check_integrity(str(path), archives[path])
        archive, md5 = extracted.get(path, (None, None))
        unchecked = archive is not None and not check_integrity(str(archive), md5)
        if unchecked or (not verified and (path not in files_before or path in archives)):
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
        extract_verified_archives(source, raw_dir)
        train, test = (
            cls(root=str(raw_dir), download=True, **{source.split_keyword: value})
            for value in source.split_values
        )
    except BaseException as exc:
        remove_leftovers(source, raw_dir, files_before, folders_before)
        if isinstance(exc, DatasetUnavailable) or not isinstance(exc, Exception):
            raise
        message = unavailable_message(source, raw_dir, mirror, _describe(exc))
        raise DatasetUnavailable(message) from exc
    return train, test


def greyscale_images(data: torch.Tensor) -> torch.Tensor:
    """MNIST-like ``.data``, uint8 [N, 28, 28] -> uint8 [N, 1, 28, 28]."""
    return torch.as_tensor(data, dtype=torch.uint8).unsqueeze(1).contiguous()


def colour_images(data) -> torch.Tensor:
    """CIFAR ``.data``, numpy uint8 [N, 32, 32, 3] -> uint8 [N, 3, 32, 32]."""
    return torch.as_tensor(data, dtype=torch.uint8).permute(0, 3, 1, 2).contiguous()


def channel_first_images(data) -> torch.Tensor:
    """SVHN ``.data``, numpy uint8 [N, 3, 32, 32] (a transposed view) -> a contiguous tensor."""
    return torch.as_tensor(data, dtype=torch.uint8).contiguous()


def concatenate(source: _Source, train, test, to_images) -> RawDataset:
    """Train images first, then the official test images, marked in ``official_test``."""
    images = torch.cat([to_images(train.data), to_images(test.data)])
    labels = torch.cat(
        [
            torch.as_tensor(getattr(split, source.labels_attribute), dtype=torch.int64)
            for split in (train, test)
        ]
    )
    official_test = torch.zeros(images.shape[0], dtype=torch.bool)
    official_test[len(train.data) :] = True
    classes = list(source.classes or train.classes)
    return RawDataset(images=images, labels=labels, classes=classes, official_test=official_test)


def not_the_dataset(source: _Source, raw_dir: Path, problem: str) -> DatasetUnavailable:
    """The one-line error for raw files that open but are not the dataset: what is wrong,
    and what to delete so that the next attempt fetches the files afresh."""
    paths = " ".join(str(path) for path in owned_paths(source, raw_dir))
    return DatasetUnavailable(
        f"{source.title}: the files under {raw_dir} are not the dataset ({problem}); delete "
        f"them (`rm -r {paths}`) and prepare again, to download them or copy them from the "
        "mirror afresh"
    )


def check_counts(source: _Source, raw_dir: Path, train, test) -> None:
    """DatasetUnavailable unless each split holds as many labels as images, and as many
    images as the published dataset (``source.shape``)."""
    n_test = source.shape.official_test
    expected = {"train": source.shape.images - n_test, "test": n_test}
    for (split, count), data in zip(expected.items(), (train, test), strict=True):
        images, labels = len(data.data), len(getattr(data, source.labels_attribute))
        if images != labels:
            raise not_the_dataset(source, raw_dir, f"{images} {split} images but {labels} labels")
        if images != count:
            raise not_the_dataset(source, raw_dir, f"{images} {split} images, not {count}")


def load_source(
    source: _Source, raw_dir: Path, mirror: Path | None, options: dict, to_images
) -> RawDataset:
    """The source's train and official test splits as one dataset, checked against the
    published counts; options other than :data:`OPTIONS` are refused before any file is
    touched."""
    source.raw_shape(options)
    raw_dir = Path(raw_dir)
    train, test = open_splits(source, raw_dir, mirror)
    check_counts(source, raw_dir, train, test)
    try:
        return concatenate(source, train, test, to_images)
    except ValueError as error:  # labels outside the classes
        raise not_the_dataset(source, raw_dir, str(error)) from error


def load_mnist(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """MNIST (LeCun et al. 1998): 60,000 train + 10,000 official test digits, 1x28x28."""
    return load_source(_MNIST, raw_dir, mirror, options, greyscale_images)


def load_fashion_mnist(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train + 10,000 official test, 1x28x28."""
    return load_source(_FASHION_MNIST, raw_dir, mirror, options, greyscale_images)


def load_cifar10(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train + 10,000 official test images, 3x32x32."""
    return load_source(_CIFAR10, raw_dir, mirror, options, colour_images)


def load_svhn(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """SVHN (Netzer et al. 2011): 73,257 train + 26,032 official test digits, 3x32x32."""
    return load_source(_SVHN, raw_dir, mirror, options, channel_first_images)


MNIST = DatasetEntry(
    name="mnist",
    summary="70,000 handwritten digits, 28x28 greyscale, official 10,000-image test set",
    source="lecun1998gradient",
    load=load_mnist,
    shape=_MNIST.raw_shape,
    downloads=True,
)
FASHION_MNIST = DatasetEntry(
    name="fashion_mnist",
    summary="70,000 clothing images in 10 classes, 28x28 greyscale, official 10,000 test",
    source="xiao2017fashion",
    load=load_fashion_mnist,
    shape=_FASHION_MNIST.raw_shape,
    downloads=True,
)
CIFAR10 = DatasetEntry(
    name="cifar10",
    summary="60,000 natural images in 10 classes, 32x32 colour, official 10,000 test",
    source="krizhevsky2009learning",
    load=load_cifar10,
    shape=_CIFAR10.raw_shape,
    downloads=True,
)
SVHN = DatasetEntry(
    name="svhn",
    summary="99,289 house-number digits, 32x32 colour crops, official 26,032-image test set",
    source="netzer2011reading",
    load=load_svhn,
    shape=_SVHN.raw_shape,
    downloads=True,
)

__all__ = ["CIFAR10", "FASHION_MNIST", "MNIST", "SVHN"]
