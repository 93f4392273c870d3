"""The procedural glyphs dataset: fonts, determinism, balance, streams, options, prepared file."""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import nearest_class_mean_accuracy

import poolstudy.data.glyphs as glyphs_module
from poolstudy import bench, cli
from poolstudy.config import ConfigError, section_problems
from poolstudy.data import DATASETS
from poolstudy.data.base import RawShape
from poolstudy.data.glyphs import (
    CLASSES,
    COORD_STEP,
    CURVE_STEPS,
    FIELD_LIMIT,
    FIELD_SIZE,
    FIELD_STEP,
    MASK_BOX,
    MASK_SIZE,
    GlyphOptions,
    SmoothField,
    benchmark_generation,
    font_files,
    glyph_fields,
    glyph_masks,
    glyphs_shape,
    load_glyphs,
    outline_polygons,
    path_polygons,
    rasterize,
    render_batch,
    signed_distance,
    sin_cos,
    stream_seed,
)
from poolstudy.data.prepare import MIRROR_ENV, prepare_dataset, prepared_shape
from poolstudy.prepared import load_prepared

SMALL = {"n_train": 200, "n_val": 50, "n_test": 100}
CLEAN = {**SMALL, "jitter": 0.0, "noise": 0.0, "background": 0.0}
# no deformation at all: each image is its font's outline, bounding box centred, longer side
# ``size`` pixels
UNDEFORMED = {
    **CLEAN,
    **dict.fromkeys(("scale", "rotation", "shear", "stroke", "elastic"), 0.0),
}


def load(**options):
    return DATASETS["glyphs"].load(None, None, {**SMALL, **options})


def digest(raw) -> str:
    payload = raw.images.numpy().tobytes() + raw.labels.numpy().tobytes()
    return hashlib.sha256(payload).hexdigest()


def image_set(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


@pytest.fixture(autouse=True)
def no_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture(scope="module")
def raw():
    return load()


def test_registered():
    entry = DATASETS["glyphs"]
    assert entry.source == ""
    assert entry.summary
    assert list(DATASETS)[:2] == ["digits", "glyphs"]


def test_font_cache_finds_fonts_and_renders_every_class():
    fonts = font_files()
    assert len(fonts) >= 4
    assert list(fonts) == sorted(fonts)
    for chars in CLASSES.values():
        masks = glyph_masks(chars)
        assert masks.dtype == torch.uint8
        assert masks.shape == (len(fonts), len(chars), MASK_SIZE, MASK_SIZE)
        assert set(masks.unique().tolist()) == {0, 255}
        ink = (masks > 0).flatten(2).sum(-1)
        assert (ink > 0).all()
        assert (ink < 0.5 * MASK_SIZE**2).all()
        border = masks.clone()
        border[:, :, 8:-8, 8:-8] = 0
        assert (border == 0).all()


def de_casteljau(control: np.ndarray, t: float) -> np.ndarray:
    """A point of the Bezier curve with these control points, by repeated interpolation."""
    while len(control) > 1:
        control = (1 - t) * control[:-1] + t * control[1:]
    return control[0]


def test_path_polygons_follow_lines_and_both_kinds_of_bezier_curve():
    from matplotlib.path import Path as MplPath

    start, corner, bend = (0.0, 0.0), (4.0, 0.0), (4.0, 3.0)
    quadratic = [(6.0, 5.0), (2.0, 6.0)]
    cubic = [(1.0, 7.0), (-2.0, 5.0), (-1.0, 2.0)]
    vertices = [start, corner, bend, *quadratic, *cubic, (0.0, 0.0)]
    codes = [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, *[MplPath.CURVE3] * 2]
    codes += [*[MplPath.CURVE4] * 3, MplPath.CLOSEPOLY]
    # then a lone segment, no area: dropped; and a triangle, the fewest points kept
    triangle = [(9.0, 9.0), (9.0, 10.0), (8.0, 9.0)]
    vertices += [(9.0, 9.0), (9.0, 10.0), *triangle, (9.0, 9.0)]
    codes += [MplPath.MOVETO, MplPath.LINETO, MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO]
    codes += [MplPath.CLOSEPOLY]
    polygon, kept = path_polygons(MplPath(vertices, codes))
    np.testing.assert_array_equal(kept, np.array(triangle))
    steps = np.arange(1, CURVE_STEPS + 1) / CURVE_STEPS
    first = np.array([bend, *quadratic])
    second = np.array([quadratic[-1], *cubic])
    expected = [start, corner, bend]
    expected += [de_casteljau(first, t) for t in steps]
    expected += [de_casteljau(second, t) for t in steps]
    assert polygon.dtype == np.float64
    np.testing.assert_allclose(polygon, np.array(expected), rtol=0, atol=1e-12)


def test_path_polygons_keep_every_point_of_a_long_outline():
    """No simplification: 200 points on the sides of a square stay 200 points."""
    from matplotlib.path import Path as MplPath

    side = np.linspace(0.0, 1.0, 50, endpoint=False)
    ring = np.concatenate(
        [
            np.stack([side, 0 * side], 1),
            np.stack([1 + 0 * side, side], 1),
            np.stack([1 - side, 1 + 0 * side], 1),
            np.stack([0 * side, 1 - side], 1),
        ]
    )
    codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(ring) - 1)
    (polygon,) = path_polygons(MplPath(ring, codes))
    np.testing.assert_array_equal(polygon, ring)


def test_rasterize_fills_what_lies_inside_by_the_non_zero_rule():
    """A triangle's mask is the pixel centres inside it (matplotlib's own test of points);
    a square with a reversed square inside has a hole, with a same-turning one it has none."""
    from matplotlib.path import Path as MplPath

    triangle = np.array([[0.1, 0.0], [1.0, 0.37], [0.3, 0.9]])
    mask = rasterize([triangle])
    low, high = triangle.min(0), triangle.max(0)
    factor = MASK_BOX / (high - low).max()
    columns, rows = np.meshgrid(np.arange(MASK_SIZE) + 0.5, np.arange(MASK_SIZE) + 0.5)
    x = (columns - MASK_SIZE / 2) / factor + (low[0] + high[0]) / 2
    y = (low[1] + high[1]) / 2 - (rows - MASK_SIZE / 2) / factor  # y up in the outline
    inside = MplPath(triangle).contains_points(np.stack([x.ravel(), y.ravel()], 1))
    assert mask.sum() > 0.3 * MASK_BOX**2
    assert np.mean(mask.ravel() == inside) > 0.999

    outer = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    inner = 0.25 + 0.5 * outer
    holed, filled = rasterize([outer, inner[::-1]]), rasterize([outer, inner])
    edge, middle = MASK_SIZE // 2 - MASK_BOX // 2, MASK_SIZE // 2
    assert filled[edge + 2 : -edge - 2, edge + 2 : -edge - 2].all()
    assert not holed[middle - 4 : middle + 4, middle - 4 : middle + 4].any()
    assert holed[edge + 2, edge + 2 : -edge - 2].all() and not filled[: edge - 1].any()


def test_each_font_file_draws_its_own_glyph():
    """Outlines come from the file named, not from matplotlib's default font: no two fonts
    give the same mask of one character."""
    masks = [rasterize(outline_polygons(font, "g")) for font in font_files()]
    for i, first in enumerate(masks):
        for second in masks[i + 1 :]:
            assert not np.array_equal(first, second)


def test_fields_are_quantised_signed_distances():
    fields = glyph_fields(CLASSES["digits"])
    assert fields.dtype == torch.float32
    assert fields.shape == (len(font_files()) * 10, 1, FIELD_SIZE, FIELD_SIZE)
    assert torch.equal(torch.round(fields * FIELD_STEP) / FIELD_STEP, fields)
    assert fields.abs().max() <= FIELD_LIMIT
    assert (fields.flatten(1).min(1).values < 0).all()
    assert (fields[:, :, 0, :] > 0).all()


def test_signed_distance_of_a_stripe_counts_pixels_from_its_edge():
    """Three columns set: half a pixel from the edge on either side, one more per pixel
    (negative inside), the same on every row."""
    mask = np.zeros((4, 7), dtype=bool)
    mask[:, 2:5] = True
    expected = np.tile([1.5, 0.5, -0.5, -1.5, -0.5, 0.5, 1.5], (4, 1))
    np.testing.assert_array_equal(signed_distance(mask), expected)


def test_grid_sample_is_exact_on_quantised_values():
    generator = torch.Generator().manual_seed(0)
    steps = torch.randint(-256, 257, (8, 1, FIELD_SIZE, FIELD_SIZE), generator=generator)
    fields = steps.float() / FIELD_STEP
    pixel = torch.randint(0, (FIELD_SIZE - 1) * COORD_STEP + 1, (8, 16, 16, 2), generator=generator)
    pixel = pixel.float() / COORD_STEP
    grid = (pixel * 2 + 1) / FIELD_SIZE - 1
    sampled = F.grid_sample(
        fields, grid, mode="bilinear", padding_mode="border", align_corners=False
    ).double()
    x, y = pixel[..., 0].double(), pixel[..., 1].double()
    x0, y0 = x.floor().long(), y.floor().long()
    x1, y1 = (x0 + 1).clamp(max=FIELD_SIZE - 1), (y0 + 1).clamp(max=FIELD_SIZE - 1)
    wx, wy = x - x0, y - y0
    values = fields.double()[:, 0]
    batch = torch.arange(8)[:, None, None]
    expected = (
        values[batch, y0, x0] * (1 - wx) * (1 - wy)
        + values[batch, y0, x1] * wx * (1 - wy)
        + values[batch, y1, x0] * (1 - wx) * wy
        + values[batch, y1, x1] * wx * wy
    )
    assert torch.equal(sampled[:, 0], expected)


def test_images_and_labels(raw):
    n = sum(SMALL.values())
    assert raw.images.shape == (n, 1, 32, 32)
    assert raw.images.dtype == torch.uint8
    assert raw.labels.dtype == torch.int64
    assert raw.classes == [str(d) for d in range(10)]
    assert raw.official_test.dtype == torch.bool
    assert raw.official_test.tolist() == [False] * 250 + [True] * 100
    assert (raw.images.flatten(1).max(1).values >= 200).all()


def test_same_options_give_the_same_bytes(raw):
    again = load()
    assert torch.equal(again.images, raw.images)
    assert torch.equal(again.labels, raw.labels)
    glyph_fields.cache_clear()
    glyph_masks.cache_clear()
    assert digest(load()) == digest(raw)


def test_thread_count_does_not_change_the_bytes(raw):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = load()
    finally:
        torch.set_num_threads(threads)
    assert digest(single) == digest(raw)


def test_exact_class_balance(raw):
    for part in (slice(0, 200), slice(200, 250), slice(250, 350)):
        counts = raw.labels[part].bincount(minlength=10)
        assert (counts == counts[0]).all()
    letters = load(classes="letters", n_train=52, n_val=0, n_test=26)
    assert letters.classes == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert letters.labels[:52].bincount(minlength=26).tolist() == [2] * 26
    assert letters.labels[52:].bincount(minlength=26).tolist() == [1] * 26


def test_labels_are_shuffled(raw):
    assert not torch.equal(raw.labels[:200], torch.arange(200) % 10)


def test_seeds_give_different_images(raw):
    other = load(seed=1)
    assert not torch.equal(other.images, raw.images)
    assert not image_set(other.images) & image_set(raw.images)


def test_streams_are_disjoint(raw):
    test = image_set(raw.images[raw.official_test])
    rest = image_set(raw.images[~raw.official_test])
    assert len(test) == 100
    assert len(rest) == 250
    assert not test & rest
    train, val = image_set(raw.images[:200]), image_set(raw.images[200:250])
    assert not train & val


def test_stream_does_not_depend_on_the_other_streams(raw):
    alone = load(n_val=0, n_test=0)
    assert torch.equal(alone.images, raw.images[:200])
    bigger = load(n_test=300)
    assert torch.equal(bigger.images[:250], raw.images[:250])


def test_glyph_stays_inside_the_canvas_without_jitter():
    clean = DATASETS["glyphs"].load(None, None, CLEAN)
    images = clean.images[:, 0]
    assert (images[:, :4, :] == 0).all()
    assert (images[:, -4:, :] == 0).all()
    assert (images[:, :, :4] == 0).all()
    assert (images[:, :, -4:] == 0).all()
    assert (images.flatten(1).max(1).values == 255).all()


def test_canvas_option():
    wide = load(canvas=40, n_train=20, n_val=0, n_test=10)
    assert wide.images.shape == (30, 1, 40, 40)


def test_larger_size_gives_more_ink():
    def ink(size: float) -> float:
        images = DATASETS["glyphs"].load(None, None, {**CLEAN, "size": size}).images
        return images.float().mean().item()

    assert ink(22.0) > 1.3 * ink(14.0)


@pytest.mark.parametrize(
    "option",
    [
        {"rotation": 20.0},
        {"shear": 0.3},
        {"elastic": 1.5},
        {"jitter": 2.0},
        {"stroke": 0.6},
        {"scale": 0.2},
        {"noise": 0.2},
        {"background": 0.5},
    ],
)
def test_options_change_the_images(raw, option):
    assert not torch.equal(load(**option).images, raw.images)


def test_background_and_noise_reach_the_border():
    plain = DATASETS["glyphs"].load(None, None, CLEAN).images
    assert plain[:, :, 0, :].max() == 0
    textured = load(jitter=0.0, noise=0.0, background=0.5).images
    assert textured[:, :, 0, :].float().mean() > 20
    noisy = load(jitter=0.0, noise=0.1, background=0.0).images
    assert noisy[:, :, 0, :].max() > 0


SIZES = "glyphs n_train, n_val and n_test must be >= 0"
SHAPE = "glyphs size must be > 0 and scale in [0, 1)"
ROTATION = "glyphs rotation must lie in [0, 90] degrees"
DISTORTION = "glyphs shear, stroke, elastic and jitter must be >= 0"
GREY = "glyphs background and noise must lie in [0, 1]"
NAMES = (
    "classes, n_train, n_val, n_test, seed, canvas, size, scale, rotation, shear, stroke, "
    "elastic, jitter, background, noise"
)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            {"colour": 1, "hue": 2},
            f"unknown glyphs options: colour, hue; the glyphs options are: {NAMES}",
        ),
        ({"n_train": 1.7}, "glyphs n_train must be a whole number, not 1.7"),
        ({"n_val": 999.9}, "glyphs n_val must be a whole number, not 999.9"),
        ({"seed": True}, "glyphs seed must be a whole number, not True"),
        ({"canvas": "32"}, "glyphs canvas must be a whole number, not '32'"),
        ({"n_train": None}, "glyphs n_train must be a whole number, not None"),
        ({"size": False}, "glyphs size must be a number, not False"),
        ({"noise": "0.1"}, "glyphs noise must be a number, not '0.1'"),
        ({"classes": 3}, "glyphs classes must be a string, not 3"),
        ({"classes": "greek"}, "glyphs classes must be one of digits, letters"),
        ({"n_train": -5}, SIZES),
        ({"n_val": -1}, SIZES),
        ({"n_test": -1}, SIZES),
        ({"seed": -1}, f"glyphs seed must lie in [0, {2**30}]"),
        ({"seed": 2**30 + 1}, f"glyphs seed must lie in [0, {2**30}]"),
        ({"canvas": 3}, "glyphs canvas must be >= 4"),
        ({"size": 0}, SHAPE),
        ({"scale": 1.0}, SHAPE),
        ({"scale": -0.1}, SHAPE),
        ({"rotation": 120}, ROTATION),
        ({"rotation": 90.5}, ROTATION),
        ({"rotation": -1}, ROTATION),
        ({"shear": -0.1}, DISTORTION),
        ({"stroke": -0.1}, DISTORTION),
        ({"elastic": -0.1}, DISTORTION),
        ({"jitter": -0.1}, DISTORTION),
        ({"background": 1.5}, GREY),
        ({"background": -0.1}, GREY),
        ({"noise": 2.0}, GREY),
        ({"noise": -0.1}, GREY),
    ],
)
def test_bad_options_are_refused_with_what_is_wrong(option, message):
    with pytest.raises(ConfigError) as caught:
        GlyphOptions.from_dict(option)
    assert str(caught.value) == message


def test_a_canvas_of_null_is_the_default_and_whole_numbers_are_numbers():
    """The schema allows ``canvas: null`` for every dataset: for glyphs it is the default
    canvas. A float option given as a whole number is that float."""
    assert GlyphOptions.from_dict({"canvas": None}) == GlyphOptions()
    assert glyphs_shape({"canvas": None, **SMALL}).size == 32
    options = GlyphOptions.from_dict({"size": 10, "rotation": 10, "noise": 0})
    assert (options.size, options.rotation, options.noise) == (10.0, 10.0, 0.0)
    # and a count given as a float without a fraction (JSON Schema's "integer" takes it) is
    # that many, an int
    counted = GlyphOptions.from_dict({"n_train": 2000.0, "seed": 3.0})
    assert (counted.n_train, counted.seed) == (2000, 3) and type(counted.n_train) is int
    assert all(isinstance(v, float) for v in (options.size, options.rotation, options.noise))


def test_the_schema_accepts_a_fractional_glyph_size():
    assert section_problems({"size": 9.5}, ("data", "options", "(dataset)")) == []
    assert GlyphOptions.from_dict({"size": 9.5}).size == 9.5


def run_prepare(tmp_path, capsys, options: str) -> tuple[int, list[str]]:
    """``poolstudy prepare`` of glyphs: its exit code and the lines it wrote to stderr."""
    out = tmp_path / "g.pt"
    command = ["prepare", "--dataset", "glyphs", "--out", str(out), "--raw-dir", str(tmp_path)]
    code = cli.main([*command, "--options", options])
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('{"classes": "greek"}', "glyphs classes must be one of digits, letters"),
        ('{"n_train": 1.7}', "glyphs n_train must be a whole number, not 1.7"),
        (
            '{"n_val": 0, "n_test": 10}',
            "glyphs: the val split would be empty (train 20000, "
            "val 0, test 10); choose data.options.glyphs that give every split an image",
        ),
    ],
    ids=["classes", "fractional-count", "no-validation-stream"],
)
def test_prepare_refuses_bad_options_in_one_line(tmp_path, capsys, monkeypatch, options, message):
    monkeypatch.setattr(glyphs_module, "generate", fake_generate)
    code, lines = run_prepare(tmp_path, capsys, options)
    assert (code, lines) == (2, [f"poolstudy prepare: {message}"])
    assert list(tmp_path.iterdir()) == []


def fake_generate(options, stream, n):
    """Blank images and labels of the right shapes: the refusals need no rendering."""
    blank = torch.zeros(n, 1, options.canvas, options.canvas, dtype=torch.uint8)
    return blank, torch.arange(n) % len(options.chars)


def test_prepare_with_a_canvas_of_null_makes_the_default_canvas(tmp_path, capsys):
    code, lines = run_prepare(
        tmp_path, capsys, '{"canvas": null, "n_train": 20, "n_val": 10, "n_test": 10}'
    )
    assert (code, lines) == (0, [])
    assert load_prepared(tmp_path / "g.pt").images.shape == (40, 1, 32, 32)


def test_options_at_the_ends_of_their_ranges_are_accepted():
    edges = {"n_train": 0, "n_val": 0, "n_test": 0, "seed": 2**30, "canvas": 4, "size": 0.5}
    edges |= {"scale": 0.0, "rotation": 90, "shear": 0, "stroke": 0, "elastic": 0, "jitter": 0}
    edges |= {"background": 1.0, "noise": 1.0}
    options = GlyphOptions.from_dict(edges)
    assert options.seed == 2**30 and options.size == 0.5 and options.noise == 1.0
    assert GlyphOptions.from_dict({"background": 0, "noise": 0, "rotation": 0}).rotation == 0


def test_generation_renders_batches_of_at_most_batch_images(monkeypatch):
    calls = []

    def recording(labels, *args):
        images = render_batch(labels, *args)
        calls.append((labels.clone(), images.clone()))
        return images

    monkeypatch.setattr(glyphs_module, "render_batch", recording)
    monkeypatch.setattr(glyphs_module, "BATCH", 4)
    options = GlyphOptions(n_train=10)
    images, labels = glyphs_module.generate(options, "train", 10)
    assert [len(batch) for batch, _ in calls] == [4, 4, 2]
    assert torch.equal(torch.cat([batch for batch, _ in calls]), labels)
    assert torch.equal(torch.cat([rendered for _, rendered in calls]), images)
    calls.clear()
    one, _ = glyphs_module.generate(options, "train", 1)
    assert len(calls) == 1 and torch.equal(one, calls[0][1])
    none, no_labels = glyphs_module.generate(options, "train", 0)
    assert none.shape == (0, 1, 32, 32) and no_labels.shape == (0,) and len(calls) == 1


def test_defaults():
    assert GlyphOptions.from_dict({}) == GlyphOptions()
    assert GlyphOptions().canvas == 32
    assert (GlyphOptions().n_train, GlyphOptions().n_val, GlyphOptions().n_test) == (
        20000,
        2000,
        5000,
    )


def test_prepare_end_to_end(tmp_path):
    options = {**SMALL, "canvas": 32}
    path = tmp_path / "g.pt"
    prepared = prepare_dataset("glyphs", path, raw_dir=tmp_path / "raw", options=options)
    loaded = load_prepared(path)
    raw = load_glyphs(tmp_path, None, options)
    assert loaded.name == "glyphs"
    assert torch.equal(loaded.images, raw.images)
    assert torch.equal(loaded.labels, prepared.labels)
    assert loaded.classes == [str(d) for d in range(10)]
    # the streams are the splits: 200 train, then 50 validation, then 100 test images
    assert loaded.split.tolist() == [0] * 200 + [1] * 50 + [2] * 100
    assert prepared_shape(
        glyphs_shape(options), val_fraction=0.15, test_fraction=0.25, canvas=None
    ).splits == {"train": 200, "val": 50, "test": 100}
    test_images, test_labels = loaded.subset("test")
    assert torch.equal(test_images, raw.images[250:])
    assert test_labels.bincount(minlength=10).tolist() == [10] * 10


def test_bench_and_cli(capsys):
    rate = bench.bench_glyphs(256)
    assert rate > 0
    assert capsys.readouterr().out.startswith("glyphs: 256 images in ")
    assert cli.main(["bench", "--glyphs", "128"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("glyphs: 128 images in ") and out.rstrip().endswith("images/s)")


def outline_templates(chars: str, canvas: int = 32, size: float = 18.0) -> torch.Tensor:
    """Each character of every font as a binary image straight from matplotlib's outline
    (none of the dataset's code): the bounding box centred, its longer side ``size`` pixels,
    filled even-odd. [fonts * classes, canvas * canvas], index ``font * classes + class``."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import TextPath

    offsets = np.arange(canvas) + 0.5 - canvas / 2
    u, v = (grid.ravel() for grid in np.meshgrid(offsets, offsets))  # u: column, v: row (down)
    templates = []
    for font in font_files():
        for char in chars:
            outline = TextPath((0, 0), char, size=100, prop=FontProperties(fname=str(font)))
            polygons = outline.to_polygons(closed_only=True)
            points = np.vstack(polygons)
            low, high = points.min(axis=0), points.max(axis=0)
            middle, scale = (low + high) / 2, (high - low).max() / size
            where = np.stack([middle[0] + u * scale, middle[1] - v * scale], axis=1)
            inside = np.zeros(len(where), dtype=bool)
            for polygon in polygons:
                inside ^= MplPath(polygon).contains_points(where)
            templates.append(torch.from_numpy(inside))
    return torch.stack(templates).double()


@pytest.mark.parametrize("classes, n_test", [("digits", 100), ("letters", 52)])
def test_every_image_shows_the_character_of_its_label(classes, n_test):
    chars = CLASSES[classes]
    options = {**UNDEFORMED, "classes": classes, "n_train": 0, "n_val": 0, "n_test": n_test}
    raw = DATASETS["glyphs"].load(None, None, options)
    templates = outline_templates(chars)
    images = raw.images.flatten(1).double() / 255

    def centred(x):
        x = x - x.mean(dim=1, keepdim=True)
        return x / x.norm(dim=1, keepdim=True)

    match = centred(images) @ centred(templates).T  # correlation with every template
    predicted = match.argmax(dim=1) % len(chars)
    assert (predicted == raw.labels).double().mean() >= 0.95
    assert match.max(dim=1).values.min() > 0.8


def test_a_classifier_fit_on_the_training_stream_reads_the_test_stream(raw):
    train, test = slice(0, 200), raw.official_test
    accuracy = nearest_class_mean_accuracy(
        raw.images[train], raw.labels[train], raw.images[test], raw.labels[test]
    )
    assert accuracy >= 70.0  # chance: 10 %


def test_shape_is_the_shape_of_the_loaded_glyphs():
    options = {"n_train": 7, "n_val": 3, "n_test": 5, "canvas": 20}
    raw = DATASETS["glyphs"].load(None, None, options)
    assert raw.images.shape == (15, 1, 20, 20)
    assert glyphs_shape(options) == RawShape(
        images=raw.images.shape[0],
        official_test=int(raw.official_test.sum()),
        channels=raw.images.shape[1],
        size=raw.images.shape[-1],
        classes=len(raw.classes),
        official_val=int(raw.official_val.sum()),
    )


def test_benchmark_generation_rate_and_refusals():
    glyph_fields(CLASSES["digits"])
    start = time.perf_counter()
    rate = benchmark_generation(8)
    elapsed = time.perf_counter() - start
    assert 0 < 8 / rate <= elapsed  # the time it reports lies within the call
    assert benchmark_generation(1) > 0
    with pytest.raises(ValueError) as caught:
        benchmark_generation(0)
    assert str(caught.value) == "benchmark_generation needs n > 0"
    with pytest.raises(ValueError, match="unknown glyphs options: colour"):
        benchmark_generation(1, {"colour": 1})


def test_stream_seeds_follow_the_documented_formula():
    base = 0x676C7970
    assert [stream_seed(0, s) for s in ("train", "val", "test")] == [base, base + 1, base + 2]
    assert stream_seed(5, "val") == base + 16
    assert stream_seed(2**30, "test") == base + 3 * 2**30 + 2


def test_sin_cos_polynomials_match_the_functions_up_to_90_degrees():
    angle = torch.linspace(-math.pi / 2, math.pi / 2, 2001)
    sin, cos = sin_cos(angle)
    assert torch.allclose(sin.double(), torch.sin(angle.double()), rtol=0, atol=1e-6)
    assert torch.allclose(cos.double(), torch.cos(angle.double()), rtol=0, atol=1e-6)


def test_smooth_field_interpolates_by_smoothstep_between_control_points():
    """On a canvas of 6 the pixel centres sit at 1/4 and 3/4 of the way between neighbouring
    control points (3 intervals over 6 pixels), where smoothstep weighs the far one 5/32 and
    27/32; the interpolation is separable, so a sum of a row ramp and a column ramp stays one."""
    v = torch.tensor([0.0, 1.0, 4.0, 9.0])
    control = (v[:, None] + 10 * v[None, :])[None]  # [1, 4, 4]
    low, high = 5 / 32, 27 / 32
    along = torch.tensor(
        [
            low,
            high,
            1 + 3 * low,
            1 + 3 * high,
            4 + 5 * low,
            4 + 5 * high,
        ]
    )
    expected = along[:, None] + 10 * along[None, :]
    assert torch.equal(SmoothField(6)(control)[0], expected)
    flat = torch.full((2, 4, 4), 0.375)
    assert torch.equal(SmoothField(11)(flat), torch.full((2, 11, 11), 0.375))


def reference_render(labels, fields, options, seed):
    """float64 numpy rendering of the module docstring's recipe, from the generator's draws."""
    generator = torch.Generator().manual_seed(seed)
    b, canvas, n_classes = len(labels), options.canvas, len(options.chars)
    n_fonts = fields.shape[0] // n_classes
    font = torch.randint(n_fonts, (b,), generator=generator).numpy()
    uniform = (torch.rand(b, 6, 1, 1, generator=generator).double().numpy()) * 2 - 1
    control = torch.rand(b, 3, 4, 4, generator=generator).double().numpy()
    pixel = torch.rand(b, canvas, canvas, generator=generator).double().numpy()
    # smoothstep weights between the 4 control points, pixel centres spread over 3 intervals
    position = (np.arange(canvas) + 0.5) / canvas * 3
    low = np.minimum(np.floor(position), 2).astype(int)
    frac = position - low
    weight = frac * frac * (3 - 2 * frac)
    blend = np.zeros((canvas, 4))
    blend[np.arange(canvas), low] = 1 - weight
    blend[np.arange(canvas), low + 1] = weight

    def smooth(values):  # [B, 4, 4] -> [B, canvas, canvas]
        return np.einsum("yi,bij,xj->byx", blend, values, blend)

    size = (1 + uniform[:, 0] * options.scale) * options.size
    angle = uniform[:, 1] * math.radians(options.rotation)
    shear = uniform[:, 2] * options.shear
    stroke = uniform[:, 3] * options.stroke
    x = np.arange(canvas) + 0.5 - canvas / 2
    u = (
        smooth(control[:, 0] * 2 - 1) * options.elastic
        + x[None, None, :]
        - uniform[:, 4] * options.jitter
    )
    v = (
        smooth(control[:, 1] * 2 - 1) * options.elastic
        + x[None, :, None]
        - uniform[:, 5] * options.jitter
    )
    a = np.cos(angle) * u + np.sin(angle) * v
    c = np.cos(angle) * v - np.sin(angle) * u
    a = a - shear * c
    box = 160 * 64 / 256  # the glyph's longer side in field pixels
    fx = np.clip(np.round((a * box / size + 31.5) * 64) / 64, 0, 63)
    fy = np.clip(np.round((c * box / size + 31.5) * 64) / 64, 0, 63)
    values = fields.double().numpy()[font * n_classes + labels.numpy(), 0]
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    x1, y1 = np.minimum(x0 + 1, 63), np.minimum(y0 + 1, 63)
    wx, wy = fx - x0, fy - y0
    n = np.arange(b)[:, None, None]
    sampled = (
        values[n, y0, x0] * (1 - wx) * (1 - wy)
        + values[n, y0, x1] * wx * (1 - wy)
        + values[n, y1, x0] * (1 - wx) * wy
        + values[n, y1, x1] * wx * wy
    )
    distance = sampled * size / box  # in image pixels
    ink = np.clip(stroke + 0.5 - distance, 0, 1)
    background = smooth(control[:, 2]) * options.background
    image = ink * (1 - background) + background + (pixel * 2 - 1) * options.noise
    return np.round(np.clip(image, 0, 1) * 255)[:, None]


def test_render_batch_follows_the_documented_recipe():
    """Every step of the rendering (sampling grid, clamp to the field, distance scale, ink,
    background, noise) against an independent float64 rendering from the same draws."""
    fields = glyph_fields(CLASSES["digits"])
    labels = torch.arange(40) % 10
    for opts in (
        dict(background=0.6, noise=0.2, elastic=2.0, rotation=30.0, shear=0.3, scale=0.3),
        dict(stroke=8.0, canvas=40, jitter=3.0),
    ):
        options = GlyphOptions(**opts)
        got = render_batch(
            labels, fields, options, torch.Generator().manual_seed(7), SmoothField(options.canvas)
        )
        expected = reference_render(labels, fields, options, 7)
        assert got.dtype == torch.uint8
        diff = np.abs(got.double().numpy() - expected)
        assert diff.max() <= 2
        assert (diff > 0).mean() < 0.01
