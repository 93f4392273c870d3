"""MNIST (LeCun et al. 1998), Fashion-MNIST (Xiao et al. 2017), CIFAR-10 (Krizhevsky 2009) and
SVHN (Netzer et al. 2011) through torchvision, offline: tiny archives in the real formats stand in
for the real ones, torchvision's checksums and the published counts are pointed at them, and
every network call fails."""

from __future__ import annotations

import dataclasses
import gzip
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torchvision.datasets as tv_datasets
import torchvision.datasets.utils as tv_utils
from conftest import nearest_class_mean_accuracy
from fake_archives import (
    CIFAR_ARCHIVE,
    CIFAR_CLASSES,
    CIFAR_FOLDER,
    IDX_FILES,
    SVHN_FILES,
    idx_labels,
    patch_cifar10_checksums,
    patch_mnist_checksums,
    patch_svhn_checksums,
    write_cifar10,
    write_mnist_like,
    write_svhn,
)

from poolstudy import cli
from poolstudy.config import ConfigError
from poolstudy.data import DATASETS, DatasetUnavailable, torchvision_sets
from poolstudy.data.base import RawShape
from poolstudy.data.prepare import MIRROR_ENV, prepare_dataset
from poolstudy.prepared import load_prepared

MNIST_LIKE = [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")]
REQUIRED = {
    "mnist": IDX_FILES,
    "fashion_mnist": IDX_FILES,
    "cifar10": (CIFAR_ARCHIVE,),
    "svhn": SVHN_FILES,
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test reaches the network, and no mirror is set from outside."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(tv_utils, "_urlretrieve", refuse)
    monkeypatch.delenv(MIRROR_ENV, raising=False)


SOURCES = {"MNIST": "_MNIST", "FashionMNIST": "_FASHION_MNIST", "CIFAR10": "_CIFAR10"}
SOURCES["SVHN"] = "_SVHN"
"""The module attribute of each torchvision class's source."""


def expect_counts(monkeypatch, class_name: str, n_train: int, n_test: int) -> None:
    """Make the loader expect ``n_train`` and ``n_test`` images instead of the published
    counts (the shape the registry reports is left as it is)."""
    attribute = SOURCES[class_name]
    source = getattr(torchvision_sets, attribute)
    shape = dataclasses.replace(source.shape, images=n_train + n_test, official_test=n_test)
    monkeypatch.setattr(torchvision_sets, attribute, dataclasses.replace(source, shape=shape))


def expect_fake_counts(monkeypatch, class_name: str, fake) -> None:
    expect_counts(monkeypatch, class_name, fake.n_train, len(fake.labels) - fake.n_train)


def mnist_mirror(monkeypatch, folder: Path, class_name: str, **sizes):
    fake = write_mnist_like(folder, **sizes)
    patch_mnist_checksums(monkeypatch, getattr(tv_datasets, class_name), fake)
    expect_fake_counts(monkeypatch, class_name, fake)
    return fake


def cifar_mirror(monkeypatch, folder: Path, **sizes):
    fake = write_cifar10(folder, **sizes)
    patch_cifar10_checksums(monkeypatch, fake)
    expect_fake_counts(monkeypatch, "CIFAR10", fake)
    return fake


def svhn_mirror(monkeypatch, folder: Path, **sizes):
    fake = write_svhn(folder, **sizes)
    patch_svhn_checksums(monkeypatch, fake)
    expect_fake_counts(monkeypatch, "SVHN", fake)
    return fake


MIRRORS = {
    "mnist": lambda monkeypatch, folder, **sizes: mnist_mirror(
        monkeypatch, folder, "MNIST", **sizes
    ),
    "fashion_mnist": lambda monkeypatch, folder, **sizes: mnist_mirror(
        monkeypatch, folder, "FashionMNIST", **sizes
    ),
    "cifar10": cifar_mirror,
    "svhn": svhn_mirror,
}
# 40 training and 20 official test images of each source (CIFAR-10: five batches of 8)
LARGER = {
    "mnist": {"n_train": 40, "n_test": 20},
    "fashion_mnist": {"n_train": 40, "n_test": 20},
    "cifar10": {"per_batch": 8, "n_test": 20},
    "svhn": {"n_train": 40, "n_test": 20},
}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def prepare(name: str, tmp_path: Path, mirror: Path | None):
    return prepare_dataset(
        name,
        tmp_path / "prepared" / f"{name}.pt",
        raw_dir=tmp_path / "raw",
        mirror=str(mirror) if mirror is not None else None,
        options={"canvas": 32},
    )


def test_entries_cite_the_dataset_papers():
    sources = {name: DATASETS[name].source for name in REQUIRED}
    assert sources == {
        "mnist": "lecun1998gradient",
        "fashion_mnist": "xiao2017fashion",
        "cifar10": "krizhevsky2009learning",
        "svhn": "netzer2011reading",
    }
    assert all(DATASETS[name].summary for name in REQUIRED)
    # each reads raw files, so its prepare job takes data.raw_dir and data.mirror
    assert all(DATASETS[name].downloads for name in REQUIRED)


@pytest.mark.parametrize("name, class_name", MNIST_LIKE)
def test_mnist_like_from_mirror(monkeypatch, tmp_path, name, class_name):
    fake = mnist_mirror(monkeypatch, tmp_path / "mirror", class_name)
    prepared = prepare(name, tmp_path, tmp_path / "mirror")

    assert prepared.images.shape == (10, 1, 32, 32)
    assert prepared.images.dtype == torch.uint8
    assert prepared.labels.dtype == torch.int64
    assert prepared.labels.tolist() == fake.labels.tolist()
    assert (prepared.split[6:] == 2).all() and (prepared.split[:6] != 2).all()
    assert prepared.classes == list(getattr(tv_datasets, class_name).classes)
    np.testing.assert_array_equal(prepared.images[7, 0, 2:30, 2:30].numpy(), fake.images[7])
    assert prepared.images[7, 0, :2].sum() == 0 and prepared.images[7, 0, :, 30:].sum() == 0
    for filename in IDX_FILES:
        assert (tmp_path / "raw" / class_name / "raw" / filename).is_file()
    reloaded = load_prepared(tmp_path / "prepared" / f"{name}.pt")
    assert torch.equal(reloaded.images, prepared.images)


def test_cifar10_from_mirror(monkeypatch, tmp_path):
    fake = cifar_mirror(monkeypatch, tmp_path / "mirror")
    prepared = prepare("cifar10", tmp_path, tmp_path / "mirror")

    assert prepared.images.shape == (13, 3, 32, 32)
    assert prepared.images.dtype == torch.uint8
    assert prepared.labels.tolist() == fake.labels.tolist()
    assert (prepared.split[10:] == 2).all() and (prepared.split[:10] != 2).all()
    assert prepared.classes == CIFAR_CLASSES
    np.testing.assert_array_equal(prepared.images[11].numpy(), fake.images[11])
    np.testing.assert_array_equal(prepared.images[3].numpy(), fake.images[3])
    assert (tmp_path / "raw" / CIFAR_ARCHIVE).is_file()
    assert (tmp_path / "raw" / "cifar-10-batches-py" / "test_batch").is_file()


def test_svhn_from_mirror(monkeypatch, tmp_path):
    fake = svhn_mirror(monkeypatch, tmp_path / "mirror")
    prepared = prepare("svhn", tmp_path, tmp_path / "mirror")

    assert prepared.images.shape == (8, 3, 32, 32)
    assert prepared.images.dtype == torch.uint8
    assert prepared.labels.dtype == torch.int64
    raw_labels = np.concatenate(
        [scipy.io.loadmat(tmp_path / "mirror" / name)["y"].ravel() for name in SVHN_FILES]
    )
    assert (raw_labels[:5] == 10).any() and (raw_labels[5:] == 10).any()
    assert prepared.labels.tolist() == np.where(raw_labels == 10, 0, raw_labels).tolist()
    assert prepared.labels.tolist() == fake.labels.tolist()
    assert 0 <= prepared.labels.min() and prepared.labels.max() <= 9
    assert (prepared.split[5:] == 2).all() and (prepared.split[:5] != 2).all()
    assert prepared.classes == [str(digit) for digit in range(10)]
    np.testing.assert_array_equal(prepared.images[6].numpy(), fake.images[6])
    np.testing.assert_array_equal(prepared.images[2].numpy(), fake.images[2])
    first = scipy.io.loadmat(tmp_path / "mirror" / SVHN_FILES[0])["X"]
    np.testing.assert_array_equal(prepared.images[0, 1].numpy(), first[:, :, 1, 0])
    for filename in SVHN_FILES:
        assert (tmp_path / "raw" / filename).is_file()
    reloaded = load_prepared(tmp_path / "prepared" / "svhn.pt")
    assert torch.equal(reloaded.images, prepared.images)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_classifier_fit_on_the_training_split_reads_the_official_test_split(
    monkeypatch, tmp_path, name
):
    """The fake archives draw each label into its image; after torchvision and the preparation
    the images must still carry their own labels, in both splits."""
    MIRRORS[name](monkeypatch, tmp_path / "mirror", **LARGER[name])
    prepared = prepare(name, tmp_path, tmp_path / "mirror")
    test = prepared.split == 2
    assert int(test.sum()) == 20
    accuracy = nearest_class_mean_accuracy(
        prepared.images[~test], prepared.labels[~test], prepared.images[test], prepared.labels[test]
    )
    assert accuracy >= 90.0  # chance: 10 %


def test_files_in_raw_dir_are_reused_without_mirror(monkeypatch, tmp_path):
    fake = mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    prepare("mnist", tmp_path, tmp_path / "mirror")
    for path in files_under(tmp_path / "mirror"):
        path.unlink()
    again = prepare("mnist", tmp_path, None)
    assert again.labels.tolist() == fake.labels.tolist()


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_offline_without_mirror_names_files_and_mirror(tmp_path, name):
    with pytest.raises(DatasetUnavailable) as caught:
        prepare(name, tmp_path, None)
    message = str(caught.value)
    for filename in REQUIRED[name]:
        assert filename in message
    assert MIRROR_ENV in message and "data.mirror" in message
    assert "https://" in message or "http://" in message
    assert files_under(tmp_path / "raw") == []
    assert not [p for p in (tmp_path / "raw").rglob("*")]  # nor the folders it made
    assert not (tmp_path / "prepared" / f"{name}.pt").exists()


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_failed_download_leaves_no_half_written_file(monkeypatch, tmp_path, name):
    attempts = []

    def half_download(url, filename, *args, **kwargs):
        attempts.append(url)
        Path(filename).write_bytes(b"\x1f\x8b half of an archive")
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(tv_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    monkeypatch.setattr(tv_utils, "_urlretrieve", half_download)
    with pytest.raises(DatasetUnavailable):
        prepare(name, tmp_path, None)
    assert attempts
    assert files_under(tmp_path / "raw") == []


def test_partial_mirror_reports_the_missing_file(monkeypatch, tmp_path):
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    (tmp_path / "mirror" / IDX_FILES[3]).unlink()
    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path, tmp_path / "mirror")
    assert f"[missing] {IDX_FILES[3]}" in str(caught.value)
    assert str(tmp_path / "mirror") in str(caught.value)
    kept = [p.name for p in files_under(tmp_path / "raw")]
    assert sorted(kept) == sorted(IDX_FILES[:3])


@pytest.mark.parametrize(
    "name, corrupted",
    [("mnist", IDX_FILES[1]), ("cifar10", CIFAR_ARCHIVE), ("svhn", SVHN_FILES[1])],
)
def test_corrupted_mirror_file_is_named(monkeypatch, tmp_path, name, corrupted):
    MIRRORS[name](monkeypatch, tmp_path / "mirror")
    (tmp_path / "mirror" / corrupted).write_bytes(b"not the archive")
    with pytest.raises(DatasetUnavailable, match="corrupted") as caught:
        prepare(name, tmp_path, tmp_path / "mirror")
    assert str(tmp_path / "mirror" / corrupted) in str(caught.value)
    left = files_under(tmp_path / "raw")
    assert corrupted not in [p.name for p in left]
    assert not [p for p in left if p.name.startswith(".") or "tmp" in p.name]


def test_mirror_from_environment_variable(monkeypatch, tmp_path):
    fake = cifar_mirror(monkeypatch, tmp_path / "mirror")
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "mirror"))
    prepared = prepare("cifar10", tmp_path, None)
    assert prepared.labels.tolist() == fake.labels.tolist()
    assert (tmp_path / "raw" / CIFAR_ARCHIVE).is_file()


def test_shapes_are_the_published_counts():
    """Train plus official test images, channels and side as the papers give them."""
    from poolstudy.data.torchvision_sets import _shape

    assert {name: DATASETS[name].shape({}) for name in REQUIRED} == {
        "mnist": RawShape(images=70000, official_test=10000, channels=1, size=28, classes=10),
        "fashion_mnist": RawShape(
            images=70000, official_test=10000, channels=1, size=28, classes=10
        ),
        "cifar10": RawShape(images=60000, official_test=10000, channels=3, size=32, classes=10),
        "svhn": RawShape(images=99289, official_test=26032, channels=3, size=32, classes=10),
    }
    assert _shape(73257, 26032, 3, 32) == RawShape(
        images=99289, official_test=26032, channels=3, size=32, classes=10
    )


def test_default_raw_dir_is_data_raw(monkeypatch, tmp_path):
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    monkeypatch.chdir(tmp_path)
    prepare_dataset("mnist", tmp_path / "m.pt", mirror=str(tmp_path / "mirror"))
    kept = files_under(tmp_path / "data" / "raw" / "MNIST" / "raw")
    assert sorted(IDX_FILES) == sorted(p.name for p in kept if p.name.endswith(".gz"))


def mnist_urls(filename: str) -> str:
    return " or ".join(f"{mirror}{filename}" for mirror in tv_datasets.MNIST.mirrors)


def unavailable(raw: Path, error: str, where: str, in_place: tuple[str, ...] = ()) -> str:
    """The message for MNIST, written out: the error, each file, where to put them."""
    lines = [
        f"MNIST (LeCun et al. 1998) is not under {raw} and could not be downloaded ({error}).",
        "Download these files:",
    ]
    for filename, md5 in tv_datasets.MNIST.resources:
        state = "in place" if filename in in_place else "missing"
        lines.append(f"  [{state}] {filename} (md5 {md5}) from {mnist_urls(filename)}")
    lines += [
        f"and put them, as they are, in {where} (set it with the config key data.mirror or the",
        f"environment variable {MIRROR_ENV}), or directly in {raw / 'MNIST' / 'raw'}.",
    ]
    return "\n".join(lines)


class FailingMNIST(tv_datasets.MNIST):
    """torchvision's MNIST (same files and checksums) failing as it opens, on any machine."""

    def __init__(self, root, download, train):
        raise OSError("disk full\n\n   while writing the index  \n")


def test_unavailable_message_in_full(monkeypatch, tmp_path):
    """The mirror lacks the first file: the other three are copied (and stay, verified), the
    error is the dataset's own on one line, and each file says whether it is in place."""
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    monkeypatch.setattr(tv_datasets, "MNIST", FailingMNIST)
    (tmp_path / "mirror" / IDX_FILES[0]).unlink()
    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path, tmp_path / "mirror")
    error = "OSError: disk full; while writing the index"
    raw = tmp_path / "raw"
    where = f"the mirror folder {tmp_path / 'mirror'}"
    assert str(caught.value) == unavailable(raw, error, where, in_place=IDX_FILES[1:])
    assert [p.name for p in files_under(raw)] == sorted(IDX_FILES[1:])

    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path / "other", None)
    where = "a local mirror folder"
    assert str(caught.value) == unavailable(tmp_path / "other" / "raw", error, where)


def test_describe_puts_the_error_on_one_shortened_line():
    from poolstudy.data.torchvision_sets import _describe

    assert _describe(ValueError("first\n\n  second  \n")) == "ValueError: first; second"
    assert _describe(KeyError()) == "KeyError"
    assert _describe(OSError("x" * 300)) == "OSError: " + "x" * 300
    assert _describe(OSError("x" * 301)) == "OSError: " + "x" * 297 + "..."


def test_corrupted_mirror_file_message_names_every_url(monkeypatch, tmp_path):
    fake = mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    corrupted = IDX_FILES[1]
    (tmp_path / "mirror" / corrupted).write_bytes(b"not the archive")
    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path, tmp_path / "mirror")
    assert str(caught.value) == (
        f"MNIST (LeCun et al. 1998): the mirror file {tmp_path / 'mirror' / corrupted} is "
        f"corrupted (its md5 is not torchvision's {fake.md5[corrupted]}); download {corrupted} "
        f"again from {mnist_urls(corrupted)}"
    )


def test_verified_archives_are_left_alone_and_damaged_ones_replaced(monkeypatch, tmp_path):
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    prepare("mnist", tmp_path, tmp_path / "mirror")
    folder = tmp_path / "raw" / "MNIST" / "raw"
    before = {name: (folder / name).stat() for name in IDX_FILES}
    (folder / IDX_FILES[2]).write_bytes(b"damaged in place")
    again = prepare("mnist", tmp_path, tmp_path / "mirror")
    for name in (IDX_FILES[0], IDX_FILES[1], IDX_FILES[3]):  # not copied again
        after = (folder / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)
    assert (folder / IDX_FILES[2]).read_bytes() == (tmp_path / "mirror" / IDX_FILES[2]).read_bytes()
    assert again.images.shape[0] == 10


def test_failure_removes_damaged_archives_and_keeps_other_files(tmp_path):
    folder = tmp_path / "raw" / "MNIST" / "raw"
    folder.mkdir(parents=True)
    (folder / IDX_FILES[0]).write_bytes(b"an old, damaged download")
    (folder / "notes.txt").write_text("kept")
    with pytest.raises(DatasetUnavailable):
        prepare("mnist", tmp_path, None)
    assert files_under(tmp_path / "raw") == [folder / "notes.txt"]


def test_failure_after_extraction_removes_the_extracted_folder(monkeypatch, tmp_path):
    """The CIFAR-10 archive is sound but a member fails its checksum after extraction: the
    verified archive stays, the extracted folder goes."""
    cifar_mirror(monkeypatch, tmp_path / "mirror")
    monkeypatch.setattr(tv_datasets.CIFAR10, "test_list", [["test_batch", "0" * 32]])
    with pytest.raises(DatasetUnavailable):
        prepare("cifar10", tmp_path, tmp_path / "mirror")
    assert [p.name for p in (tmp_path / "raw").iterdir()] == [CIFAR_ARCHIVE]


@pytest.mark.parametrize("options", [{"size": 14}, {"colour": True, "canvas": 32}])
def test_options_other_than_canvas_are_refused_before_any_file_is_touched(tmp_path, options):
    """A misspelt option would be ignored, and its default used without a word."""
    for name in REQUIRED:
        unknown = ", ".join(sorted(set(options) - {"canvas"}))
        message = f"unknown {name} options: {unknown}; the {name} options are: canvas"
        with pytest.raises(ConfigError) as caught:
            DATASETS[name].shape(options)
        assert str(caught.value) == message
        with pytest.raises(ConfigError) as caught:
            DATASETS[name].load(tmp_path / "raw", None, options)
        assert str(caught.value) == message
        with pytest.raises(ConfigError):
            prepare_dataset(name, tmp_path / "p.pt", raw_dir=tmp_path / "raw", options=options)
    assert list(tmp_path.iterdir()) == []


def extract_in_place(archives: Path, folder: Path) -> None:
    """The MNIST-like archives under ``archives`` decompressed into ``folder`` under the names
    torchvision extracts them to, without the archives themselves."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        (folder / name.removesuffix(".gz")).write_bytes(
            gzip.decompress((archives / name).read_bytes())
        )


def test_extracted_files_are_made_afresh_from_the_verified_archives(monkeypatch, tmp_path):
    """torchvision's MNIST reads the extracted files it finds without checking them: a
    truncated one and a foreign one (a valid file of other labels) give way to what the
    verified archives hold."""
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    first = prepare("mnist", tmp_path, tmp_path / "mirror")
    folder = tmp_path / "raw" / "MNIST" / "raw"
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100])
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.zeros(4, dtype=np.uint8)))
    again = prepare("mnist", tmp_path, None)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    for name in IDX_FILES:
        extracted = (folder / name.removesuffix(".gz")).read_bytes()
        assert extracted == gzip.decompress((folder / name).read_bytes())


def test_extracted_files_without_archives_must_hold_the_published_counts(tmp_path, capsys):
    """A 10-image fake extracted where MNIST belongs (no archive to verify it against) is not
    prepared as MNIST: the error says what to delete, in one line."""
    write_mnist_like(tmp_path / "fake")
    extract_in_place(tmp_path / "fake", tmp_path / "raw" / "MNIST" / "raw")
    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path, None)
    raw = tmp_path / "raw"
    assert str(caught.value) == (
        f"MNIST (LeCun et al. 1998): the files under {raw} are not the dataset (6 train images, "
        f"not 60000); delete them (`rm -r {raw / 'MNIST'}`) and prepare again, to download them "
        "or copy them from the mirror afresh"
    )
    out = tmp_path / "prepared" / "mnist.pt"
    command = ["prepare", "--dataset", "mnist", "--out", str(out), "--raw-dir", str(raw)]
    assert cli.main(command) == 2
    assert capsys.readouterr().err.splitlines() == [f"poolstudy prepare: {caught.value}"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("file", "labels", "problem"),
    [
        ("train-labels-idx1-ubyte", np.arange(5) % 10, "6 train images but 5 labels"),
        (
            "t10k-labels-idx1-ubyte",
            np.array([0, 1, 200, 3]),
            "labels must lie in [0, 10) for the 10 classes, not in [0, 200]",
        ),
    ],
    ids=["a-label-missing", "label-200"],
)
def test_labels_that_are_not_the_images_are_refused(monkeypatch, tmp_path, file, labels, problem):
    write_mnist_like(tmp_path / "fake")
    expect_counts(monkeypatch, "MNIST", 6, 4)
    folder = tmp_path / "raw" / "MNIST" / "raw"
    extract_in_place(tmp_path / "fake", folder)
    (folder / file).write_bytes(idx_labels(labels.astype(np.uint8)))
    with pytest.raises(DatasetUnavailable) as caught:
        prepare("mnist", tmp_path, None)
    assert f"the files under {tmp_path / 'raw'} are not the dataset ({problem}); " in str(
        caught.value
    )


def test_a_failure_removes_extracted_files_that_no_verified_archive_vouches_for(tmp_path):
    """A truncated extracted file without its archive fails to open; it goes, with the other
    unverified extracted files, so that the next attempt downloads the archives instead of
    failing the same way for ever."""
    write_mnist_like(tmp_path / "fake")
    folder = tmp_path / "raw" / "MNIST" / "raw"
    extract_in_place(tmp_path / "fake", folder)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100])
    (folder / "notes.txt").write_text("kept")
    with pytest.raises(DatasetUnavailable, match=r"\(RuntimeError: shape '\[6, 28, 28\]'"):
        prepare("mnist", tmp_path, None)
    assert files_under(tmp_path / "raw") == [folder / "notes.txt"]
    with pytest.raises(DatasetUnavailable, match="Error downloading train-images-idx3-ubyte.gz"):
        prepare("mnist", tmp_path, None)


@pytest.mark.parametrize(
    ("name", "class_name", "title", "owned"),
    [
        ("cifar10", "CIFAR10", "CIFAR-10 (Krizhevsky 2009)", (CIFAR_ARCHIVE, CIFAR_FOLDER)),
        ("svhn", "SVHN", "SVHN (Netzer et al. 2011)", SVHN_FILES),
    ],
)
def test_an_official_test_split_short_of_the_published_count_is_refused(
    monkeypatch, tmp_path, name, class_name, title, owned
):
    """Three official test images where four are published: the error names the test split and
    every file and folder to delete, and deletes nothing itself."""
    fake = MIRRORS[name](monkeypatch, tmp_path / "mirror")
    expect_counts(monkeypatch, class_name, fake.n_train, 4)
    with pytest.raises(DatasetUnavailable) as caught:
        prepare(name, tmp_path, tmp_path / "mirror")
    raw = tmp_path / "raw"
    assert str(caught.value) == (
        f"{title}: the files under {raw} are not the dataset (3 test images, not 4); delete "
        f"them (`rm -r {raw / owned[0]} {raw / owned[1]}`) and prepare again, to download them "
        "or copy them from the mirror afresh"
    )
    assert sorted(p.name for p in raw.iterdir()) == sorted(owned)


def test_an_archive_failing_its_checksum_is_not_decompressed_nor_stops_the_others(
    monkeypatch, tmp_path
):
    """After a good preparation the first archive is damaged in place and the extracted test
    labels are replaced by foreign ones: the damaged archive is skipped (not decompressed), the
    three verified archives after it are still extracted afresh, and the dataset reads as
    before."""
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    first = prepare("mnist", tmp_path, tmp_path / "mirror")
    folder = tmp_path / "raw" / "MNIST" / "raw"
    (folder / IDX_FILES[0]).write_bytes(b"a damaged download")
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(np.zeros(4, dtype=np.uint8)))
    again = prepare("mnist", tmp_path, None)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    for name in IDX_FILES[1:]:
        extracted = (folder / name.removesuffix(".gz")).read_bytes()
        assert extracted == gzip.decompress((folder / name).read_bytes())


@pytest.mark.parametrize("reverse", [False, True], ids=["extracted-first", "archives-first"])
def test_a_failure_removes_a_damaged_archive_with_its_extracted_file_and_keeps_the_rest(
    monkeypatch, tmp_path, reverse
):
    """After a good preparation the first archive is damaged in place and the next attempt
    fails: the damaged archive goes and so does the file extracted from it (the attempt after
    would read it unchecked), whichever of the two is looked at first; the three verified
    archives and their extracted files stay."""
    mnist_mirror(monkeypatch, tmp_path / "mirror", "MNIST")
    prepare("mnist", tmp_path, tmp_path / "mirror")
    folder = tmp_path / "raw" / "MNIST" / "raw"
    (folder / IDX_FILES[0]).write_bytes(b"a damaged download")
    walk = torchvision_sets._walk

    def walk_in_order(roots):
        """The files in name order (each extracted file just before its archive), or reversed."""
        files, folders = walk(roots)
        return sorted(files, reverse=reverse), folders

    monkeypatch.setattr(torchvision_sets, "_walk", walk_in_order)
    monkeypatch.setattr(tv_datasets, "MNIST", FailingMNIST)
    with pytest.raises(
        DatasetUnavailable, match=r"\(OSError: disk full; while writing the index\)"
    ):
        prepare("mnist", tmp_path, None)
    kept = [name for archive in IDX_FILES[1:] for name in (archive.removesuffix(".gz"), archive)]
    assert files_under(tmp_path / "raw") == sorted(folder / name for name in kept)
