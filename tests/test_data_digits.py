"""The digits dataset, the canvas and the prepared file."""

from __future__ import annotations

import pytest
import torch
from conftest import nearest_class_mean_accuracy

from poolstudy.data import DATASETS
from poolstudy.data.base import RawDataset
from poolstudy.data.prepare import (
    MIRROR_ENV,
    SPLITS,
    load_prepared,
    place_on_canvas,
    prepare_dataset,
    split_codes,
)

N_DIGITS = 1797
OPTIONS = {"size": 24, "canvas": 32}


@pytest.fixture(autouse=True)
def no_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture(scope="module")
def prepared_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "d.pt"
    prepare_dataset("digits", path, raw_dir=path.parent / "raw", options=OPTIONS)
    return path


@pytest.fixture(scope="module")
def prepared(prepared_path):
    return load_prepared(prepared_path)


def expected_sizes(n: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * (n - n_test))
    return {"train": n - n_test - n_val, "val": n_val, "test": n_test}


def test_images(prepared):
    assert prepared.name == "digits"
    assert prepared.images.shape == (N_DIGITS, 1, 32, 32)
    assert prepared.images.dtype == torch.uint8
    assert prepared.in_channels == 1
    assert prepared.image_size == 32
    assert prepared.images.max() == 255
    assert prepared.images[:, :, 4:28, 4:28].float().mean(dim=(1, 2, 3)).gt(0).all()


def test_border_is_zero(prepared):
    images = prepared.images
    assert (images[:, :, :4, :] == 0).all()
    assert (images[:, :, -4:, :] == 0).all()
    assert (images[:, :, :, :4] == 0).all()
    assert (images[:, :, :, -4:] == 0).all()


def test_centre_holds_the_raw_images(prepared, tmp_path):
    raw = DATASETS["digits"].load(tmp_path, None, {"size": 24})
    assert raw.images.shape == (N_DIGITS, 1, 24, 24)
    assert torch.equal(prepared.images[:, :, 4:28, 4:28], raw.images)


def test_labels(prepared):
    from sklearn.datasets import load_digits

    assert prepared.labels.dtype == torch.int64
    assert torch.equal(prepared.labels, torch.as_tensor(load_digits().target))
    assert prepared.classes == [str(d) for d in range(10)]
    assert prepared.num_classes == 10


def test_a_classifier_fit_on_the_training_split_reads_the_test_split(prepared):
    accuracy = nearest_class_mean_accuracy(*prepared.subset("train"), *prepared.subset("test"))
    assert accuracy >= 80.0  # chance: 10 %


def test_splits_partition_the_dataset(prepared):
    assert prepared.split.dtype == torch.uint8
    assert set(prepared.split.unique().tolist()) == {0, 1, 2}
    sizes = {name: int((prepared.split == SPLITS.index(name)).sum()) for name in SPLITS}
    assert sum(sizes.values()) == N_DIGITS
    assert sizes == expected_sizes(N_DIGITS, 0.15, 0.25)
    for name in SPLITS:
        images, labels = prepared.subset(name)
        assert images.shape[0] == labels.shape[0] == sizes[name]


def test_subsets_are_disjoint(prepared):
    index = torch.arange(N_DIGITS)
    members = [set(index[prepared.split == SPLITS.index(name)].tolist()) for name in SPLITS]
    assert members[0].isdisjoint(members[1])
    assert members[0].isdisjoint(members[2])
    assert members[1].isdisjoint(members[2])
    assert set().union(*members) == set(range(N_DIGITS))


def test_split_fractions_are_used(tmp_path):
    split = {"val_fraction": 0.2, "test_fraction": 0.1, "seed": 0}
    data = prepare_dataset("digits", tmp_path / "d.pt", split=split, options=OPTIONS)
    sizes = {name: int((data.split == SPLITS.index(name)).sum()) for name in SPLITS}
    assert sizes == expected_sizes(N_DIGITS, 0.2, 0.1)


def test_prepared_file_bytes_are_reproducible(prepared_path, tmp_path):
    prepare_dataset("digits", tmp_path / "d.pt", options=OPTIONS)
    assert (tmp_path / "d.pt").read_bytes() == prepared_path.read_bytes()


def test_other_split_seed_changes_split(prepared, tmp_path):
    other = prepare_dataset("digits", tmp_path / "o.pt", split={"seed": 1}, options=OPTIONS)
    assert not torch.equal(other.split, prepared.split)
    for name in SPLITS:
        code = SPLITS.index(name)
        assert int((other.split == code).sum()) == int((prepared.split == code).sum())


def test_split_codes_keep_official_test():
    n = 40
    official = torch.zeros(n, dtype=torch.bool)
    official[30:] = True
    raw = RawDataset(
        images=torch.zeros(n, 1, 2, 2, dtype=torch.uint8),
        labels=torch.zeros(n, dtype=torch.int64),
        classes=["a"],
        official_test=official,
    )
    codes = split_codes(raw, val_fraction=0.2, test_fraction=0.5, seed=0)
    assert torch.equal(codes == 2, official)
    assert int((codes == 1).sum()) == round(0.2 * 30)


def test_unknown_dataset_raises(tmp_path):
    with pytest.raises(ValueError, match="digits"):
        prepare_dataset("no-such-dataset", tmp_path / "x.pt")


def test_place_on_canvas_too_small_raises():
    images = torch.ones(2, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError):
        place_on_canvas(images, 7)


def test_place_on_canvas_centres():
    images = torch.full((2, 1, 3, 4), 7, dtype=torch.uint8)
    out = place_on_canvas(images, 8)
    assert out.shape == (2, 1, 8, 8)
    assert out.dtype == torch.uint8
    assert torch.equal(out[:, :, 2:5, 2:6], images)
    assert int(out.sum()) == int(images.sum())
    assert place_on_canvas(images, None) is images


def test_load_prepared_round_trip(prepared, prepared_path):
    loaded = load_prepared(prepared_path)
    assert loaded.name == prepared.name
    assert loaded.classes == prepared.classes
    for field in ("images", "labels", "split"):
        assert torch.equal(getattr(loaded, field), getattr(prepared, field))


def test_prepare_returns_what_it_saves(tmp_path):
    path = tmp_path / "sub" / "d.pt"
    returned = prepare_dataset("digits", path, options={"size": 16, "canvas": None})
    loaded = load_prepared(path)
    assert returned.images.shape == (N_DIGITS, 1, 16, 16)
    assert torch.equal(loaded.images, returned.images)
    assert torch.equal(loaded.split, returned.split)


def margins(image: torch.Tensor) -> tuple[int, int, int, int]:
    """Blank rows above and below, blank columns left and right of the ink."""
    ink = image.amax(dim=0) > 0
    rows = torch.nonzero(ink.any(dim=1)).flatten()
    cols = torch.nonzero(ink.any(dim=0)).flatten()
    side = ink.shape[0]
    return int(rows[0]), side - 1 - int(rows[-1]), int(cols[0]), side - 1 - int(cols[-1])


def test_every_digit_is_centred_on_both_axes(prepared):
    """The source's digits touch the top and bottom of their grid but sit anywhere across it;
    prepared, every digit's ink is centred to within one pixel on both axes, so neither axis
    is a direction training has seen shifted."""
    for image in prepared.images:
        top, bottom, left, right = margins(image)
        assert abs(top - bottom) <= 1 and abs(left - right) <= 1
    from sklearn.datasets import load_digits

    source = torch.as_tensor(load_digits().images).unsqueeze(1)
    off_centre = [abs(m[2] - m[3]) > 1 for m in map(margins, source)]
    assert sum(off_centre) > 50  # in the source, dozens sit two or more pixels off centre


def test_centring_moves_ink_by_whole_pixels_and_keeps_it():
    from poolstudy.data.digits import centre_ink

    image = torch.zeros(2, 1, 10, 10, dtype=torch.uint8)
    image[0, 0, 0:4, 0:2] = torch.arange(1, 9, dtype=torch.uint8).view(4, 2)
    centred = centre_ink(image)
    assert margins(centred[0]) == (3, 3, 4, 4)
    assert torch.equal(centred[0, 0, 3:7, 4:6], image[0, 0, 0:4, 0:2])
    assert torch.equal(centred[1], image[1])  # blank stays blank
