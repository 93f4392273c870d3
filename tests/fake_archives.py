"""Tiny archives in the real on-disk formats of MNIST, Fashion-MNIST and CIFAR-10.

MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) ship four gzip'd IDX files;
CIFAR-10 (Krizhevsky 2009) ships ``cifar-10-python.tar.gz`` holding pickled batches. The
builders below write a few random images in exactly those formats, return what they wrote
and the md5 of every file, and ``patch_*_checksums`` make torchvision's dataset classes
expect those md5s instead of the real ones.
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


@dataclass
class FakeArchive:
    """What a builder wrote: images as the dataset stores them, labels, and md5s.

    ``images`` is uint8 [N, 28, 28] (MNIST-like) or [N, 3, 32, 32] (CIFAR-10), train images
    first; ``md5`` maps every written file name (archives and, for CIFAR-10, archive members)
    to its md5.
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


def write_mnist_like(folder: Path, n_train: int = 6, n_test: int = 4, seed: int = 0):
    """The four gzip'd IDX files of an MNIST-like dataset, flat in ``folder``."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
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
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.int64)
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
