"""Procedural glyphs: greyscale digits (or capital letters) drawn from the fonts that ship with
matplotlib, in any number, the same bytes for the same seed on every machine (given the same
matplotlib, whose font files they are, and torch).

Each (font, glyph) pair is rendered once, from the font's unhinted outline
(``matplotlib.textpath.TextPath``), into a 256x256 uint8 mask (:func:`glyph_masks`); the mask
becomes a signed distance field of 64x64 (:func:`glyph_fields`: negative inside the glyph,
in field pixels). Samples are then built in batches of :data:`BATCH` with torch on the CPU:
one ``F.grid_sample`` of the fields per batch, on a sampling grid that composes the random
size, rotation, shear, position jitter and a smooth elastic displacement field. The sampled
distance, offset by a random stroke width (a dilation or erosion by a disc), gives an
anti-aliased ink coverage; a smooth low-frequency background texture and uniform pixel noise
are then added.

Options (``data.options.glyphs``), every range drawn uniformly per image:

- ``classes`` (``"digits"``): ``"digits"`` for the ten digits 0-9, ``"letters"`` for the 26
  capital letters A-Z (letters only, no digits).
- ``n_train`` (20000), ``n_val`` (2000), ``n_test`` (5000): images per stream.
- ``seed`` (0): 0 <= seed <= 2**30; the train, validation and test streams use the generator
  seeds ``STREAM_BASE + 3 * seed + {0, 1, 2}``, distinct for every (seed, stream).
- ``canvas`` (32; null: 32): side of the square image.
- ``size`` (18.0): longer side of each glyph's bounding box, in pixels, before ``scale``.
- ``scale`` (0.1): the size is multiplied by a factor in ``[1 - scale, 1 + scale]``.
- ``rotation`` (6.0): rotation in ``[-rotation, rotation]`` degrees (at most 90).
- ``shear`` (0.1): horizontal shear factor in ``[-shear, shear]``.
- ``stroke`` (0.3): the outline moves outwards by ``[-stroke, stroke]`` pixels.
- ``elastic`` (0.5): largest displacement of the elastic field, in pixels; the field is a
  smooth (smoothstep) interpolation of 4x4 random control vectors over the canvas.
- ``jitter`` (1.0): the glyph's centre moves by ``[-jitter, jitter]`` pixels on each axis.
- ``background`` (0.25): the background is a smooth 4x4 texture in ``[0, background]``
  (on the 0-1 scale; ink is 1).
- ``noise`` (0.05): every pixel gets uniform noise in ``[-noise, noise]``.

With the defaults and ``jitter`` 0, every digit stays inside the central ``canvas - 8`` pixels
(the widest rendered digit, at the largest size, rotation and shear, reaches 10.8 pixels from
the centre, plus at most 0.5 of elastic displacement and 0.8 of stroke and anti-aliasing), so
shifts of 4 pixels do not cut it; each pixel of jitter uses one pixel of that margin. Letters
as wide as they are tall (M, W) reach about one pixel further.

Splits: the loader returns the train images, then the validation images, then the test images,
and marks the validation and the test images as the source's own validation and test splits.
:func:`poolstudy.data.prepare.split_codes` keeps both, so the three streams are the three
splits (``n_train``, ``n_val`` and ``n_test`` images) and ``data.split`` (``val_fraction``,
``test_fraction``) draws nothing from them. Labels are ``arange(n) % n_classes`` shuffled, so
every class has the same count when ``n`` is a multiple of the number of classes (and counts
differ by at most one otherwise).

Determinism across machines: all randomness comes from a ``torch.Generator`` on the CPU through
``torch.rand``, ``torch.randint`` and ``torch.randperm`` (serial kernels: the same numbers on
every machine and thread count; never ``torch.randn``, whose vectorised kernel depends on the
CPU). Every later step is elementwise float32 arithmetic (one rounding per operation), gathers,
``round`` and ``clamp``; sine and cosine are polynomials; no matrix product (whose rounding
depends on the BLAS kernel). The sampling positions are rounded to 1/64 field pixel and the
fields to 1/16 field pixel within +-16, so every operation inside ``grid_sample`` is exact
in float32 whatever its order or use of fused multiply-add. The masks come from the font
outlines by float64 arithmetic and an exact distance transform, from a fixed, sorted font list;
they are built once per process (about 3 s for the digits, 5 s for the letters).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from poolstudy.config import ConfigError
from poolstudy.data.base import (
    DatasetEntry,
    RawDataset,
    RawShape,
    check_option_names,
    whole_number,
)

CLASSES = {"digits": "0123456789", "letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
FONT_FILES = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralBolIta.ttf",
    "STIXGeneralItalic.ttf",
)
STREAMS = ("train", "val", "test")
STREAM_BASE = 0x676C7970
MAX_SEED = 2**30
BATCH = 2048

MASK_SIZE = 256  # side of the rendered mask
MASK_BOX = 160  # longer side of the glyph in the mask
FIELD_SIZE = 64  # side of the distance field (MASK_SIZE / 4); a power of two
FIELD_BOX = MASK_BOX * FIELD_SIZE / MASK_SIZE
FIELD_STEP = 16  # field values are multiples of 1/FIELD_STEP field pixel
FIELD_LIMIT = 16.0  # and lie in [-FIELD_LIMIT, FIELD_LIMIT]
COORD_STEP = 64  # sampling positions are multiples of 1/COORD_STEP field pixel
CURVE_STEPS = 8  # line segments per Bezier curve of an outline
CONTROL = 4  # control points per side of the elastic and background fields
NULL_MEANS_DEFAULT = ("canvas",)  # options the config may set to null, meaning their default


@dataclass(frozen=True)
class GlyphOptions:
    """The dataset's options; see the module docstring for their meaning."""

    classes: str = "digits"
    n_train: int = 20000
    n_val: int = 2000
    n_test: int = 5000
    seed: int = 0
    canvas: int = 32
    size: float = 18.0
    scale: float = 0.1
    rotation: float = 6.0
    shear: float = 0.1
    stroke: float = 0.3
    elastic: float = 0.5
    jitter: float = 1.0
    background: float = 0.25
    noise: float = 0.05

    @classmethod
    def from_dict(cls, options: dict | None) -> GlyphOptions:
        """Options from a mapping; unknown keys, values of the wrong type and values out of
        range raise ConfigError (a ValueError). None, where the config allows null
        (:data:`NULL_MEANS_DEFAULT`), is the option's default."""
        options = dict(options or {})
        known = {field.name: field.type for field in fields(cls)}
        check_option_names("glyphs", options, known)
        values = {
            name: option_value(name, value, known[name])
            for name, value in options.items()
            if not (value is None and name in NULL_MEANS_DEFAULT)
        }
        result = cls(**values)
        result.check()
        return result

    def check(self) -> None:
        """ConfigError unless every option lies in its range."""
        if self.classes not in CLASSES:
            raise ConfigError(f"glyphs classes must be one of {', '.join(CLASSES)}")
        if min(self.n_train, self.n_val, self.n_test) < 0:
            raise ConfigError("glyphs n_train, n_val and n_test must be >= 0")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"glyphs seed must lie in [0, {MAX_SEED}]")
        if self.canvas < 4:
            raise ConfigError("glyphs canvas must be >= 4")
        if self.size <= 0 or not 0 <= self.scale < 1:
            raise ConfigError("glyphs size must be > 0 and scale in [0, 1)")
        if not 0 <= self.rotation <= 90:
            raise ConfigError("glyphs rotation must lie in [0, 90] degrees")
        if min(self.shear, self.stroke, self.elastic, self.jitter) < 0:
            raise ConfigError("glyphs shear, stroke, elastic and jitter must be >= 0")
        if not (0 <= self.background <= 1 and 0 <= self.noise <= 1):
            raise ConfigError("glyphs background and noise must lie in [0, 1]")

    @property
    def chars(self) -> str:
        return CLASSES[self.classes]


def option_value(name: str, value, kind: str):
    """``value`` as the option ``name`` of type ``kind`` ("str", "int" or "float") holds it: a
    string, a whole number (``base.whole_number``: not a bool, and 1.7 is not rounded), or a
    number (a whole one becomes a float); ConfigError for any other value."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "int" and whole_number(value) is not None:
        return whole_number(value)
    if kind == "float" and number:
        return float(value)
    wanted = {"str": "a string", "int": "a whole number", "float": "a number"}[kind]
    raise ConfigError(f"glyphs {name} must be {wanted}, not {value!r}")


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_files() -> tuple[Path, ...]:
    """The font files used, sorted by name: those of :data:`FONT_FILES` that matplotlib ships."""
    folder = font_dir()
    return tuple(folder / name for name in sorted(FONT_FILES) if (folder / name).is_file())


def outline_polygons(font: Path, char: str) -> list[np.ndarray]:
    """The closed contours of one glyph as float64 polygons [K, 2] in font units (y up);
    Bezier curves become :data:`CURVE_STEPS` line segments each."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    return path_polygons(TextPath((0, 0), char, size=100, prop=FontProperties(fname=str(font))))


def path_polygons(path) -> list[np.ndarray]:
    """The closed contours of a matplotlib path as float64 polygons [K, 2]; each quadratic or
    cubic Bezier curve becomes :data:`CURVE_STEPS` line segments; a contour of its start and
    one segment or none (no area unless a curve closes it) is dropped."""
    from matplotlib.path import Path as MplPath

    t = np.arange(1, CURVE_STEPS + 1, dtype=np.float64)[:, None] / CURVE_STEPS
    polygons: list[np.ndarray] = []
    current: list[np.ndarray] = []

    def close() -> None:
        if len(current) >= 3:
            polygons.append(np.vstack(current))
        current.clear()

    for points, code in path.iter_segments(simplify=False, curves=True):
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if code == MplPath.MOVETO:
            close()
            current.append(points[:1])
        elif code == MplPath.LINETO:
            current.append(points[:1])
        elif code == MplPath.CURVE3:
            start, control, end = current[-1][-1], points[0], points[1]
            s = 1 - t
            current.append(s * s * start + 2 * s * t * control + t * t * end)
        elif code == MplPath.CURVE4:
            start, c1, c2, end = current[-1][-1], points[0], points[1], points[2]
            s = 1 - t
            current.append(s * s * s * start + 3 * s * s * t * c1 + 3 * s * t * t * c2 + t**3 * end)
        elif code == MplPath.CLOSEPOLY:
            close()
    close()
    return polygons


def rasterize(polygons: list[np.ndarray]) -> np.ndarray:
    """Fill the polygons (non-zero winding rule) into a boolean mask of side :data:`MASK_SIZE`,
    the glyph's bounding box centred with its longer side :data:`MASK_BOX` pixels."""
    points = np.vstack(polygons)
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    factor = MASK_BOX / (high - low).max()
    starts, ends = [], []
    for polygon in polygons:
        xy = np.empty_like(polygon)
        xy[:, 0] = (polygon[:, 0] - centre[0]) * factor + MASK_SIZE / 2
        xy[:, 1] = (centre[1] - polygon[:, 1]) * factor + MASK_SIZE / 2
        starts.append(xy)
        ends.append(np.roll(xy, -1, axis=0))
    x0, y0 = np.vstack(starts).T
    x1, y1 = np.vstack(ends).T
    rows = np.arange(MASK_SIZE, dtype=np.float64)[:, None] + 0.5
    up = (y0 <= rows) & (rows < y1)
    down = (y1 <= rows) & (rows < y0)
    crossing = up | down
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    x = x0 + (rows - y0) * (x1 - x0) / dy
    first = np.clip(np.floor(x - 0.5) + 1, 0, MASK_SIZE).astype(np.int64)
    winding = np.zeros((MASK_SIZE, MASK_SIZE + 1), dtype=np.int64)
    row_index = np.broadcast_to(np.arange(MASK_SIZE)[:, None], first.shape)
    direction = up.astype(np.int64) - down.astype(np.int64)
    np.add.at(winding, (row_index[crossing], first[crossing]), direction[crossing])
    return np.cumsum(winding, axis=1)[:, :MASK_SIZE] != 0


@lru_cache(maxsize=4)
def glyph_masks(chars: str) -> torch.Tensor:
    """uint8 masks [fonts, classes, MASK_SIZE, MASK_SIZE] (255 inside the glyph), rendered once
    per process for each font of :func:`font_files` and each character of ``chars``."""
    masks = [
        [torch.from_numpy(rasterize(outline_polygons(font, char))) for char in chars]
        for font in font_files()
    ]
    if not masks:
        raise RuntimeError(f"no glyph fonts found in {font_dir()}")
    return torch.stack([torch.stack(row) for row in masks]).to(torch.uint8) * 255


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from a boolean mask, in mask pixels, float64."""
    from scipy.ndimage import distance_transform_edt

    inside = distance_transform_edt(mask)
    outside = distance_transform_edt(~mask)
    return np.where(mask, 0.5 - inside, outside - 0.5)


@lru_cache(maxsize=4)
def glyph_fields(chars: str) -> torch.Tensor:
    """float32 signed distance fields [fonts * classes, 1, FIELD_SIZE, FIELD_SIZE] in field
    pixels (index ``font * len(chars) + class``), multiples of 1/FIELD_STEP within
    +-FIELD_LIMIT, each the average over a 4x4 block of the mask's distances."""
    masks = glyph_masks(chars).numpy()
    factor = MASK_SIZE // FIELD_SIZE
    out = np.empty((masks.shape[0] * masks.shape[1], 1, FIELD_SIZE, FIELD_SIZE), np.float32)
    for index, mask in enumerate(masks.reshape(-1, MASK_SIZE, MASK_SIZE)):
        distance = signed_distance(mask > 0)
        total = np.zeros((FIELD_SIZE, FIELD_SIZE))
        for dy in range(factor):
            for dx in range(factor):
                total = total + distance[dy::factor, dx::factor]
        field = total * (1.0 / factor**3)
        field = np.clip(np.round(field * FIELD_STEP) / FIELD_STEP, -FIELD_LIMIT, FIELD_LIMIT)
        out[index, 0] = field
    return torch.from_numpy(out)


def stream_seed(seed: int, stream: str) -> int:
    """The generator seed of one stream: distinct for every (seed, stream) with a valid seed."""
    return STREAM_BASE + 3 * seed + STREAMS.index(stream)


def sin_cos(angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sine and cosine of angles in [-pi/2, pi/2] by Taylor polynomials of degree 19 and 18
    (truncation error below 1e-10; float32 rounding dominates)."""
    square = angle * angle
    sin = torch.zeros_like(angle)
    cos = torch.zeros_like(angle)
    for m in range(9, -1, -1):
        sin = sin * square + (-1) ** m / math.factorial(2 * m + 1)
        cos = cos * square + (-1) ** m / math.factorial(2 * m)
    return sin * angle, cos


class SmoothField:
    """Separable smoothstep interpolation of CONTROL x CONTROL values to a canvas."""

    def __init__(self, canvas: int) -> None:
        position = [(j + 0.5) / canvas * (CONTROL - 1) for j in range(canvas)]
        low = [min(int(p), CONTROL - 2) for p in position]
        frac = [p - i for p, i in zip(position, low, strict=True)]
        high_weight = [f * f * (3 - 2 * f) for f in frac]
        self.low = torch.tensor(low)
        self.high = self.low + 1
        self.w_high = torch.tensor(high_weight, dtype=torch.float32)
        self.w_low = torch.tensor([1 - w for w in high_weight], dtype=torch.float32)

    def __call__(self, control: torch.Tensor) -> torch.Tensor:
        """[B, CONTROL, CONTROL] -> [B, canvas, canvas], a convex combination of the values."""
        rows = control.index_select(2, self.low) * self.w_low
        rows = rows + control.index_select(2, self.high) * self.w_high
        out = rows.index_select(1, self.low) * self.w_low[:, None]
        return out + rows.index_select(1, self.high) * self.w_high[:, None]


def render_batch(
    labels: torch.Tensor,
    fields: torch.Tensor,
    options: GlyphOptions,
    generator: torch.Generator,
    smooth: SmoothField,
) -> torch.Tensor:
    """uint8 images [B, 1, canvas, canvas] of the given labels, drawing from ``generator``."""
    b, canvas, n_classes = labels.shape[0], options.canvas, len(options.chars)
    n_fonts = fields.shape[0] // n_classes
    font = torch.randint(n_fonts, (b,), generator=generator)
    uniform = torch.rand(b, 6, 1, 1, generator=generator) * 2 - 1
    control = torch.rand(b, 3, CONTROL, CONTROL, generator=generator)
    pixel = torch.rand(b, canvas, canvas, generator=generator)

    size = uniform[:, 0] * options.scale + 1.0
    size = size * options.size
    sin, cos = sin_cos(uniform[:, 1] * (options.rotation * math.pi / 180))
    shear = uniform[:, 2] * options.shear
    stroke = uniform[:, 3] * options.stroke
    jitter_x = uniform[:, 4] * options.jitter
    jitter_y = uniform[:, 5] * options.jitter
    elastic_x = smooth(control[:, 0] * 2 - 1) * options.elastic
    elastic_y = smooth(control[:, 1] * 2 - 1) * options.elastic
    background = smooth(control[:, 2]) * options.background

    centre = torch.arange(canvas, dtype=torch.float32) + (0.5 - canvas / 2)
    u = elastic_x + centre[None, None, :]
    u = u - jitter_x
    v = elastic_y + centre[None, :, None]
    v = v - jitter_y
    a = cos * u + sin * v
    c = cos * v - sin * u
    a = a - shear * c
    inverse = FIELD_BOX / size
    middle = (FIELD_SIZE - 1) / 2
    grid = torch.stack((a * inverse + middle, c * inverse + middle), dim=-1)
    grid = torch.round(grid * COORD_STEP) * (1.0 / COORD_STEP)
    grid = grid.clamp(0, FIELD_SIZE - 1) * 2 + 1
    grid = grid * (1.0 / FIELD_SIZE) - 1
    index = font * n_classes + labels
    distance = F.grid_sample(
        fields.index_select(0, index),
        grid,
        mode="bilinear",
        padding_mode="border",
        align_corners=False,
    )[:, 0]
    distance = distance * (size * (1.0 / FIELD_BOX))
    ink = (stroke + 0.5 - distance).clamp(0, 1)
    image = ink * (1 - background) + background
    image = image + (pixel * 2 - 1) * options.noise
    image = torch.round(image.clamp(0, 1) * 255)
    return image.to(torch.uint8).unsqueeze(1)


def generate(options: GlyphOptions, stream: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images and labels of one stream ("train", "val" or "test")."""
    generator = torch.Generator().manual_seed(stream_seed(options.seed, stream))
    n_classes = len(options.chars)
    labels = (torch.arange(n) % n_classes)[torch.randperm(n, generator=generator)]
    images = torch.empty(n, 1, options.canvas, options.canvas, dtype=torch.uint8)
    if n == 0:
        return images, labels
    fields = glyph_fields(options.chars)
    smooth = SmoothField(options.canvas)
    for start in range(0, n, BATCH):
        stop = min(start + BATCH, n)
        images[start:stop] = render_batch(labels[start:stop], fields, options, generator, smooth)
    return images, labels


def load_glyphs(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    """Train, validation and test streams in that order, the validation and test images
    marked official (so ``data.split`` draws nothing from them); ``raw_dir`` and ``mirror``
    are not used."""
    config = GlyphOptions.from_dict(options)
    parts = [generate(config, stream, getattr(config, f"n_{stream}")) for stream in STREAMS]
    images = torch.cat([part[0] for part in parts])
    labels = torch.cat([part[1] for part in parts])
    official_test = torch.zeros(labels.shape[0], dtype=torch.bool)
    official_test[labels.shape[0] - config.n_test :] = True
    official_val = torch.zeros(labels.shape[0], dtype=torch.bool)
    official_val[config.n_train : config.n_train + config.n_val] = True
    return RawDataset(
        images=images,
        labels=labels,
        classes=list(config.chars),
        official_test=official_test,
        official_val=official_val,
    )


def glyphs_shape(options: dict) -> RawShape:
    """What :func:`load_glyphs` returns for ``options``: the three streams, the validation
    and test ones official, greyscale images of side ``canvas``."""
    config = GlyphOptions.from_dict(options)
    return RawShape(
        images=config.n_train + config.n_val + config.n_test,
        official_test=config.n_test,
        official_val=config.n_val,
        channels=1,
        size=config.canvas,
        classes=len(config.chars),
    )


def benchmark_generation(n: int = 50000, options: dict | None = None) -> float:
    """Images per second generating ``n`` training images (after the font cache is built)."""
    if n <= 0:
        raise ValueError("benchmark_generation needs n > 0")
    config = GlyphOptions.from_dict(options)
    glyph_fields(config.chars)
    start = time.perf_counter()
    generate(config, "train", n)
    return n / (time.perf_counter() - start)


GLYPHS = DatasetEntry(
    name="glyphs",
    summary="procedural digits from 16 matplotlib fonts, randomly deformed (unlimited)",
    source="",
    load=load_glyphs,
    shape=glyphs_shape,
    downloads=False,  # drawn here
)
