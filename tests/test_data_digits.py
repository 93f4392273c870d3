"""The digits dataset, the canvas and the prepared file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import nearest_class_mean_accuracy

from poolstudy import cli
from poolstudy.atomic import CorruptFile, tensor_digest
from poolstudy.config import ConfigError, section_problems
from poolstudy.data import DATASETS
from poolstudy.data.base import RawDataset, RawShape, check_option_names
from poolstudy.data.prepare import (
    MIRROR_ENV,
    SPLITS,
    PreparedShape,
    check_splits,
    place_on_canvas,
    prepare_dataset,
    prepared_shape,
    split_codes,
)
from poolstudy.prepared import load_prepared

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


def test_split_settings_not_given_are_the_schemas(prepared, tmp_path):
    from poolstudy.config import section_defaults

    defaults = section_defaults("data")["split"]
    data = prepare_dataset("digits", tmp_path / "d.pt", split={"seed": 0}, options=OPTIONS)
    sizes = {name: int((data.split == SPLITS.index(name)).sum()) for name in SPLITS}
    assert sizes == expected_sizes(N_DIGITS, defaults["val_fraction"], defaults["test_fraction"])
    assert torch.equal(data.split, prepared.split)  # no split given at all: the same


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
    assert codes.dtype == torch.uint8  # as a prepared file stores them


def test_the_drawn_split_depends_on_its_seed_alone():
    """The test and validation images are drawn with the split's own seed: whatever torch's
    global generator holds (another seed, or draws made before), the split is the same."""
    n = 100
    raw = RawDataset(
        images=torch.zeros(n, 1, 2, 2, dtype=torch.uint8),
        labels=torch.zeros(n, dtype=torch.int64),
        classes=["a"],
    )
    drawn = []
    with torch.random.fork_rng():
        for global_seed in (1, 2):
            torch.manual_seed(global_seed)
            drawn.append(split_codes(raw, val_fraction=0.2, test_fraction=0.3, seed=0))
    assert torch.equal(drawn[0], drawn[1])


def test_an_empty_training_split_is_blamed_on_what_sized_it():
    """The training split is what the others leave: the dataset's options size it where the
    source has its own test and its own validation split; where only the test split is the
    source's, the drawn validation split (its fraction) is what emptied it."""
    official_test = torch.tensor([False, False, False, True, True, True])
    n = official_test.numel()
    split = {"val_fraction": 1.0, "test_fraction": 0.25, "seed": 0}

    def refusal(official_val):
        raw = RawDataset(
            images=torch.zeros(n, 1, 2, 2, dtype=torch.uint8),
            labels=torch.zeros(n, dtype=torch.int64),
            classes=["a"],
            official_test=official_test,
            official_val=official_val,
        )
        codes = split_codes(raw, split["val_fraction"], split["test_fraction"], split["seed"])
        with pytest.raises(ConfigError) as caught:
            check_splits("toy", raw, codes, split)
        return str(caught.value)

    assert refusal(~official_test) == (
        "toy: the train split would be empty (train 0, val 3, test 3); choose "
        "data.options.toy that give every split an image"
    )
    # no validation split of its own: val_fraction 1.0 takes all 3 images the test leaves
    assert refusal(None) == (
        "toy: the train split would be empty (train 0, val 3, test 3) with data.split's "
        "val_fraction 1.0 and test_fraction 0.25; choose fractions that leave every split at "
        "least one image"
    )


def test_unknown_dataset_raises(tmp_path):
    with pytest.raises(ValueError) as caught:
        prepare_dataset("no-such-dataset", tmp_path / "x.pt")
    assert str(caught.value) == (
        "unknown dataset 'no-such-dataset'; registered: "
        "digits, glyphs, mnist, fashion_mnist, cifar10, svhn"
    )


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (
            torch.zeros(2, 1, 4, 4),
            torch.zeros(2),
            r"^images must be a uint8 tensor \[N, C, H, W\]$",
        ),
        (torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(2), "^images must be a uint8"),
        (
            torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
            torch.zeros(3),
            r"^labels must be a tensor \[N\] matching the images$",
        ),
    ],
    ids=["float-images", "three-dimensions", "labels-of-other-length"],
)
def test_a_raw_dataset_refuses_images_and_labels_of_the_wrong_kind(images, labels, message):
    with pytest.raises(ValueError, match=message):
        RawDataset(images, labels, ["a", "b"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 2], r"^labels must lie in \[0, 2\) for the 2 classes, not in \[0, 2\]$"),
        ([-1, 1], r"^labels must lie in \[0, 2\) for the 2 classes, not in \[-1, 1\]$"),
    ],
    ids=["one-past-the-classes", "negative"],
)
def test_a_raw_dataset_refuses_labels_outside_its_classes(labels, message):
    images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=message):
        RawDataset(images, torch.tensor(labels), ["a", "b"])
    empty = RawDataset(images[:0], torch.zeros(0), ["a"])  # no label, none out of range
    assert empty.labels.dtype == torch.int64


def test_a_raw_dataset_holds_its_labels_as_int64():
    images = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    raw = RawDataset(images, torch.tensor([2, 0, 1], dtype=torch.int32), ["a", "b", "c"])
    assert raw.labels.dtype == torch.int64 and raw.labels.tolist() == [2, 0, 1]


def test_place_on_canvas_too_small_raises():
    images = torch.ones(2, 1, 8, 6, dtype=torch.uint8)
    with pytest.raises(ConfigError) as caught:
        place_on_canvas(images, 7)
    assert str(caught.value) == "canvas 7 is smaller than the images (8x6)"
    with pytest.raises(ConfigError) as caught:
        place_on_canvas(images, 9.5)
    assert str(caught.value) == "canvas must be a whole number of pixels or null, not 9.5"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sizee": 12}, "unknown digits options: sizee; the digits options are: size, canvas"),
        ({"size": 9.5}, "digits size must be a whole number of pixels (at least 1), not 9.5"),
        ({"size": True}, "digits size must be a whole number of pixels (at least 1), not True"),
        ({"size": 0}, "digits size must be a whole number of pixels (at least 1), not 0"),
    ],
    ids=["misspelt", "fraction", "bool", "zero"],
)
def test_bad_digits_options_are_refused_by_shape_and_load(options, message):
    for call in (
        lambda: DATASETS["digits"].shape(options),
        lambda: DATASETS["digits"].load(None, None, options),
    ):
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == message


def test_options_given_to_a_dataset_that_takes_none_are_refused_saying_so():
    """A misspelt option is named with the options the dataset takes; a dataset without any
    says it has none."""
    with pytest.raises(ConfigError) as caught:
        check_option_names("toy", {"sise": 3, "canvas": 4}, [])
    assert str(caught.value) == "unknown toy options: canvas, sise; the toy options are: none"
    with pytest.raises(ConfigError) as caught:
        check_option_names("toy", {"sise": 3}, ["size", "canvas"])
    assert str(caught.value) == "unknown toy options: sise; the toy options are: size, canvas"
    check_option_names("toy", {"size": 3}, ["size", "canvas"])  # known: nothing to say


def test_the_smallest_digit_size_is_one_pixel(tmp_path):
    """A size must be at least 1 pixel (0 is refused above), and 1 itself is taken: every
    digit becomes a single grey pixel."""
    from poolstudy.data.digits import digit_size

    assert digit_size({"size": 1}) == 1
    assert DATASETS["digits"].shape({"size": 1}).size == 1
    raw = DATASETS["digits"].load(tmp_path, None, {"size": 1})
    assert raw.images.shape == (N_DIGITS, 1, 1, 1)


def test_a_whole_size_written_as_a_float_is_that_many_pixels():
    """JSON Schema's "integer" takes 24.0, and so do the digits (1.7 is refused above)."""
    from poolstudy.data.digits import digit_size

    assert digit_size({"size": 24.0}) == 24 and type(digit_size({"size": 24.0})) is int
    assert DATASETS["digits"].shape({"size": 12.0}) == DATASETS["digits"].shape({"size": 12})


def test_the_schema_lets_a_fractional_size_through_for_digits_to_refuse():
    """The options' ``size`` is a number (glyphs' is 18.0 by default); digits, whose size is
    a whole number of pixels, refuse 9.5 themselves."""
    assert section_problems({"size": 9.5}, ("data", "options", "(dataset)")) == []
    with pytest.raises(ConfigError, match="whole number of pixels"):
        prepare_dataset("digits", "unused.pt", options={"size": 9.5})


def run_prepare(tmp_path, capsys, *arguments: str) -> tuple[int, list[str]]:
    """``poolstudy prepare`` of digits: its exit code and the lines it wrote to stderr."""
    out = tmp_path / "d.pt"
    command = ["prepare", "--dataset", "digits", "--out", str(out), "--raw-dir", str(tmp_path)]
    code = cli.main([*command, *arguments])
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--options", '{"canvas": 10}'],
            "data.options.digits.canvas: 10 is smaller than the 24-pixel images of digits; "
            "choose at least 24, or null for no canvas",
        ),
        (
            ["--options", '{"sizee": 12}'],
            "unknown digits options: sizee; the digits options are: size, canvas",
        ),
        (
            ["--split", '{"val_fraction": 0.9999, "test_fraction": 0.9999}'],
            "digits: the train and val split would be empty (train 0, val 0, test 1797) with "
            "data.split's val_fraction 0.9999 and test_fraction 0.9999; choose fractions that "
            "leave every split at least one image",
        ),
        (
            ["--split", '{"val_fraction": 0.0001}'],
            "digits: the val split would be empty (train 1348, val 0, test 449) with "
            "data.split's val_fraction 0.0001 and test_fraction 0.25; choose fractions that "
            "leave every split at least one image",
        ),
        (
            # 0.0001 of 1797 rounds to no test image; 15 % of all 1797 is 269.55, so 270 val
            ["--split", '{"test_fraction": 0.0001}'],
            "digits: the test split would be empty (train 1527, val 270, test 0) with "
            "data.split's val_fraction 0.15 and test_fraction 0.0001; choose fractions that "
            "leave every split at least one image",
        ),
    ],
    ids=[
        "canvas-too-small",
        "misspelt-option",
        "empty-train-and-val",
        "empty-val",
        "empty-test",
    ],
)
def test_prepare_refuses_bad_options_and_empty_splits_in_one_line(
    tmp_path, capsys, arguments, message
):
    code, lines = run_prepare(tmp_path, capsys, *arguments)
    assert (code, lines) == (2, [f"poolstudy prepare: {message}"])
    assert list(tmp_path.iterdir()) == []  # no prepared file, no raw file


@pytest.mark.parametrize(
    ("canvas", "message"),
    [
        (
            30.5,
            "data.options.digits.canvas: 30.5 is no whole number of pixels; choose at least 24, "
            "or null for no canvas",
        ),
        (
            True,
            "data.options.digits.canvas: True is no whole number of pixels; choose at least 24, "
            "or null for no canvas",
        ),
    ],
    ids=["fraction", "bool"],
)
def test_prepare_refuses_a_canvas_that_is_no_whole_number(tmp_path, canvas, message):
    """The command line's schema refuses such a canvas before preparing; called from Python,
    preparing refuses it itself, naming the option and what would do, and writes nothing."""
    with pytest.raises(ConfigError) as caught:
        prepare_dataset("digits", tmp_path / "d.pt", options={"canvas": canvas})
    assert str(caught.value) == message
    assert list(tmp_path.iterdir()) == []


def test_prepare_with_a_canvas_of_null_keeps_the_digits_as_they_are(tmp_path, capsys):
    code, lines = run_prepare(tmp_path, capsys, "--options", '{"size": 12, "canvas": null}')
    assert (code, lines) == (0, [])
    assert load_prepared(tmp_path / "d.pt").images.shape == (N_DIGITS, 1, 12, 12)


def test_a_prepared_file_without_its_hash_is_refused(tmp_path, prepared):
    path = tmp_path / "old.pt"
    fields = ("name", "images", "labels", "split", "classes")
    torch.save({name: getattr(prepared, name) for name in fields}, path)
    with pytest.raises(CorruptFile, match=r"\(it records no content hash: written by an older"):
        load_prepared(path)


def test_place_on_canvas_centres():
    images = torch.full((2, 1, 3, 4), 7, dtype=torch.uint8)
    out = place_on_canvas(images, 8)
    assert out.shape == (2, 1, 8, 8)
    assert out.dtype == torch.uint8
    assert torch.equal(out[:, :, 2:5, 2:6], images)
    assert int(out.sum()) == int(images.sum())
    assert place_on_canvas(images, None) is images


def test_place_on_canvas_centres_one_image_as_it_centres_a_batch():
    image = torch.arange(12, dtype=torch.uint8).reshape(3, 4)
    out = place_on_canvas(image, 8)
    assert torch.equal(out, place_on_canvas(image[None, None], 8)[0, 0])
    assert torch.equal(out[2:5, 2:6], image) and int(out.sum()) == int(image.sum())


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
    # no ``split``: 25 % test, then 15 % of the rest validation
    sizes = {name: int((loaded.split == SPLITS.index(name)).sum()) for name in SPLITS}
    assert sizes == {"train": 1146, "val": 202, "test": 449}


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


def test_centring_on_a_tiny_batch_by_hand():
    """Blank images (even the first) are skipped, ink as faint as 1 counts, and the shift of
    each axis is half its blank rows or columns, rounded towards the top left."""
    from poolstudy.data.digits import centre_ink

    images = torch.zeros(3, 1, 7, 7, dtype=torch.uint8)
    images[1, 0, 0, 6] = 1
    images[2, 0, 1:3, 4:7] = 200
    expected = torch.zeros(3, 1, 7, 7, dtype=torch.uint8)
    expected[1, 0, 3, 3] = 1
    expected[2, 0, 2:4, 2:5] = 200  # rows 1-2 move down 1 (2 blank above, 3 below)
    assert torch.equal(centre_ink(images), expected)


def test_shape_is_the_shape_of_the_loaded_digits(tmp_path):
    for options, size in (({}, 24), ({"size": 16}, 16)):
        raw = DATASETS["digits"].load(tmp_path, None, options)
        assert raw.images.shape == (N_DIGITS, 1, size, size)
        assert raw.classes == list("0123456789")
        assert raw.official_test is None
        assert DATASETS["digits"].shape(options) == RawShape(
            images=raw.images.shape[0],
            official_test=None,
            channels=raw.images.shape[1],
            size=raw.images.shape[-1],
            classes=len(raw.classes),
        )


def upsample_twice(image: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling with pixel centres aligned (torch's align_corners=False): output
    pixel 2i + 1/2 +- 1/2 reads the input at i -+ 1/4, clamped to the image."""
    n = image.shape[0]
    weights = np.zeros((2 * n, n))
    for i in range(n):
        weights[2 * i, i] += 0.75
        weights[2 * i, max(i - 1, 0)] += 0.25
        weights[2 * i + 1, i] += 0.75
        weights[2 * i + 1, min(i + 1, n - 1)] += 0.25
    return weights @ image @ weights.T


def test_digits_are_the_source_grey_levels_upsampled_bilinearly(tmp_path):
    """At size 16 every digit is its 8x8 source (grey levels 0-16 to 0-255) upsampled 2x by
    pixel-centred bilinear interpolation, moved by whole pixels."""
    from sklearn.datasets import load_digits

    loaded = DATASETS["digits"].load(tmp_path, None, {"size": 16}).images[:, 0].numpy()
    for source, image in zip(load_digits().images[:200], loaded[:200], strict=True):
        expected = np.round(upsample_twice(source / 16.0) * 255)
        shift = [
            int(np.nonzero((image > 0).any(axis=1 - axis))[0][0])
            - int(np.nonzero((expected > 0).any(axis=1 - axis))[0][0])
            for axis in (0, 1)
        ]
        moved = np.roll(expected, shift, axis=(0, 1))
        assert np.abs(image.astype(np.float64) - moved).max() <= 1  # float32 rounding


def test_prepared_shape_matches_the_prepared_file(tmp_path):
    """``prepared_shape`` of the digits' shape is what ``prepare_dataset`` writes, with a canvas
    and without one; a source with its own test split keeps it and draws validation from the
    rest."""
    split = {"val_fraction": 0.2, "test_fraction": 0.1}
    for options, side in (({"size": 16, "canvas": 20}, 20), ({"size": 12}, 12)):
        data = prepare_dataset("digits", tmp_path / "d.pt", split=split, options=options)
        sizes = {name: int((data.split == SPLITS.index(name)).sum()) for name in SPLITS}
        assert data.images.shape[-1] == side
        shape = prepared_shape(
            DATASETS["digits"].shape(options),
            val_fraction=0.2,
            test_fraction=0.1,
            canvas=options.get("canvas"),
        )
        assert shape == PreparedShape(
            splits=sizes, in_channels=1, image_size=side, num_classes=len(data.classes)
        )
    official = RawShape(images=70, official_test=20, channels=3, size=8, classes=5)
    assert prepared_shape(official, val_fraction=0.1, test_fraction=0.5, canvas=None) == (
        PreparedShape(
            splits={"train": 45, "val": 5, "test": 20}, in_channels=3, image_size=8, num_classes=5
        )
    )


REBUILD = (
    "rebuild it: `rm {path}` and rerun `snakemake --cores all` (or rebuild every prepared "
    "dataset with `snakemake --cores all --forcerun prepare`)"
)


def test_recorded_sha256_is_the_digest_of_the_files_own_content(prepared_path):
    """Anyone can check a prepared file: its sha256 is ``atomic.tensor_digest`` of its tensors
    under their own names, with its name and classes as metadata."""
    payload = torch.load(prepared_path, weights_only=True)
    tensors = {key: payload[key] for key in ("images", "labels", "split")}
    meta = {"name": payload["name"], "classes": payload["classes"]}
    assert payload["sha256"] == tensor_digest(tensors, meta)
    assert load_prepared(prepared_path).sha256 == payload["sha256"]


def test_damaged_prepared_files_are_refused_with_the_rebuild_command(prepared_path, tmp_path):
    payload = torch.load(prepared_path, weights_only=True)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(prepared_path.read_bytes()[:5000])
    with pytest.raises(CorruptFile) as caught:
        load_prepared(truncated)
    message = str(caught.value)
    assert message.startswith(f"{truncated} is damaged (it cannot be read: ")
    assert message.endswith("); " + REBUILD.format(path=truncated))

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2), "epoch": 3}, foreign)
    with pytest.raises(CorruptFile) as caught:
        load_prepared(foreign)
    assert str(caught.value) == (
        f"{foreign} is damaged (it holds epoch, weights, not a dataset); "
        + REBUILD.format(path=foreign)
    )

    for field, value, kind, described in (
        ("images", payload["images"][:2].tolist(), "list", "a tensor"),
        ("split", None, "NoneType", "a tensor"),
        ("classes", ("0", "1"), "tuple", "a list"),
        ("sha256", 7, "int", "a string"),
        ("name", None, "NoneType", "a string"),
    ):
        wrong = tmp_path / f"wrong-{field}.pt"
        torch.save({**payload, field: value}, wrong)
        with pytest.raises(CorruptFile) as caught:
            load_prepared(wrong)
        assert str(caught.value) == (
            f"{wrong} is damaged (its {field} is a {kind}, not {described}); "
            + REBUILD.format(path=wrong)
        )

    altered = tmp_path / "altered.pt"
    torch.save({**payload, "labels": payload["labels"].flip(0)}, altered)
    with pytest.raises(CorruptFile) as caught:
        load_prepared(altered)
    assert str(caught.value) == (
        f"{altered} is damaged (its content does not match the sha256 recorded in it); "
        + REBUILD.format(path=altered)
    )
