"""Tiny archives in the real on-disk formats of MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) ship four gzip'd IDX files;
CIFAR-10 (Krizhevsky 2009) ships ``cifar-10-python.tar.gz`` holding pickled batches; SVHN
(Netzer et al. 2011) ships one MATLAB v5 file per split, ``X`` uint8 [32, 32, 3, n] and ``y``
[n, 1] with labels 1..10 (10 is the digit 0). The builders below write a few random images in
exactly those formats (noise with a bar whose row tells the label, so that images and labels
can be checked against each other), return what they wrote and the md5 of every file, and
``patch_*_checksums`` make torchvision's dataset classes expect those md5s instead of the real
ones.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_META = "batches.meta"
CIFAR_CLASSES = [f"class_{i}" for i in range(10)]
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")


@dataclass
class FakeArchive:
    """What a builder wrote: images as the dataset stores them, labels, and md5s.

    ``images`` is uint8 [N, 28, 28] (MNIST-like) or [N, 3, 32, 32] (CIFAR-10, SVHN), train
    images first; ``labels`` are the labels torchvision reports (SVHN's 10 read as 0); ``md5``
    maps every written file name (archives and, for CIFAR-10, archive members) to its md5.
    """

    images: np.ndarray
    labels: np.ndarray
    n_train: int
    md5: dict[str, str] = field(default_factory=dict)


def md5_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def idx_images(images: np.ndarray) -> bytes:
    """IDX3: magic 0x00000803, three big-endian int32 sizes, then the pixels row by row."""
    n, height, width = images.shape
    return struct.pack(">IIII", 0x803, n, height, width) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray) -> bytes:
    """IDX1: magic 0x00000801, one big-endian int32 size, then one byte per label."""
    return struct.pack(">II", 0x801, labels.shape[0]) + labels.astype(np.uint8).tobytes()


def write_bytes(path: Path, data: bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return md5_bytes(data)


def balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` labels 0-9 in random order, each class as often as ``n`` allows."""
    return rng.permutation(np.arange(n) % 10)


def labelled_images(rng: np.random.Generator, labels: np.ndarray, shape: tuple) -> np.ndarray:
    """uint8 noise images of ``shape`` (rows and columns last), each with a bright bar whose
    row says its label: a classifier fit on some of them can read the labels of the others."""
    images = rng.integers(0, 100, size=(len(labels), *shape), dtype=np.uint8)
    for image, label in zip(images, labels, strict=True):
        row = 2 + 2 * int(label)
        image[..., row : row + 2, 4:-4] = 255
    return images


def write_mnist_like(folder: Path, n_train: int = 6, n_test: int = 4, seed: int = 0):
    """The four gzip'd IDX files of an MNIST-like dataset, flat in ``folder``."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    labels = balanced_labels(rng, n).astype(np.uint8)
    images = labelled_images(rng, labels, (28, 28))
    contents = (
        idx_images(images[:n_train]),
        idx_labels(labels[:n_train]),
        idx_images(images[n_train:]),
        idx_labels(labels[n_train:]),
    )
    md5 = {
        name: write_bytes(folder / name, gzip.compress(data, mtime=0))
        for name, data in zip(IDX_FILES, contents, strict=True)
    }
    return FakeArchive(images=images, labels=labels.astype(np.int64), n_train=n_train, md5=md5)


def cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A pickled CIFAR-10 batch: ``data`` uint8 [n, 3072] (R, G, B planes), ``labels``."""
    batch = {
        "batch_label": "fake batch",
        "data": images.reshape(images.shape[0], 3 * 32 * 32),
        "labels": [int(label) for label in labels],
        "filenames": [f"image_{i}.png" for i in range(images.shape[0])],
    }
    return pickle.dumps(batch, protocol=2)


def write_cifar10(folder: Path, per_batch: int = 2, n_test: int = 3, seed: int = 0):
    """``cifar-10-python.tar.gz`` with five train batches, a test batch and the meta file."""
    rng = np.random.default_rng(seed)
    n_train = per_batch * len(CIFAR_TRAIN)
    n = n_train + n_test
    labels = balanced_labels(rng, n)
    images = labelled_images(rng, labels, (3, 32, 32))
    chunks = [slice(i * per_batch, (i + 1) * per_batch) for i in range(len(CIFAR_TRAIN))]
    members = {
        name: cifar_batch(images[chunk], labels[chunk])
        for name, chunk in zip(CIFAR_TRAIN, chunks, strict=True)
    }
    members[CIFAR_TEST] = cifar_batch(images[n_train:], labels[n_train:])
    members[CIFAR_META] = pickle.dumps({"label_names": CIFAR_CLASSES, "num_vis": 3072}, protocol=2)
    md5 = {name: md5_bytes(data) for name, data in members.items()}
    md5[CIFAR_ARCHIVE] = write_bytes(folder / CIFAR_ARCHIVE, tar_gz(members))
    return FakeArchive(images=images, labels=labels, n_train=n_train, md5=md5)


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding each member under ``cifar-10-batches-py/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{CIFAR_FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def svhn_mat(images: np.ndarray, raw_labels: np.ndarray) -> bytes:
    """A MATLAB v5 file: ``X`` uint8 [32, 32, 3, n] (row, column, channel, image), ``y`` [n, 1]."""
    import scipy.io

    buffer = io.BytesIO()
    scipy.io.savemat(
        buffer,
        {
            "X": np.ascontiguousarray(images.transpose(2, 3, 1, 0)),
            "y": raw_labels.astype(np.uint8).reshape(-1, 1),
        },
        format="5",
    )
    return buffer.getvalue()


def write_svhn(folder: Path, n_train: int = 5, n_test: int = 3, seed: int = 0):
    """``train_32x32.mat`` and ``test_32x32.mat``, flat in ``folder``; each split holds a 10."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    raw_labels = balanced_labels(rng, n)
    raw_labels[[1, n_train + 1]] = 0
    raw_labels[raw_labels == 0] = 10
    images = labelled_images(rng, raw_labels % 10, (3, 32, 32))
    parts = (slice(0, n_train), slice(n_train, n))
    md5 = {
        name: write_bytes(folder / name, svhn_mat(images[part], raw_labels[part]))
        for name, part in zip(SVHN_FILES, parts, strict=True)
    }
    return FakeArchive(images=images, labels=raw_labels % 10, n_train=n_train, md5=md5)


def patch_mnist_checksums(monkeypatch, dataset_class: type, fake: FakeArchive) -> None:
    """Make ``dataset_class`` (MNIST or FashionMNIST) expect the fake files' md5s."""
    resources = [(name, fake.md5[name]) for name, _ in dataset_class.resources]
    monkeypatch.setattr(dataset_class, "resources", resources)


def patch_cifar10_checksums(monkeypatch, fake: FakeArchive) -> None:
    """Make torchvision's CIFAR10 expect the fake archive's and members' md5s."""
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "tgz_md5", fake.md5[CIFAR_ARCHIVE])
    monkeypatch.setattr(CIFAR10, "train_list", [[n, fake.md5[n]] for n in CIFAR_TRAIN])
    monkeypatch.setattr(CIFAR10, "test_list", [[CIFAR_TEST, fake.md5[CIFAR_TEST]]])
    meta = {"filename": CIFAR_META, "key": "label_names", "md5": fake.md5[CIFAR_META]}
    monkeypatch.setattr(CIFAR10, "meta", meta)


def patch_svhn_checksums(monkeypatch, fake: FakeArchive) -> None:
    """Make torchvision's SVHN expect the fake files' md5s (the ``extra`` split is untouched)."""
    from torchvision.datasets import SVHN

    split_list = {split: list(entry) for split, entry in SVHN.split_list.items()}
    for entry in split_list.values():
        if entry[1] in fake.md5:
            entry[2] = fake.md5[entry[1]]
    monkeypatch.setattr(SVHN, "split_list", split_list)
