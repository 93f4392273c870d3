"""Shift protocols."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from poolstudy.shifts import (
    FRACTIONAL,
    IN_CONTEXT,
    PROTOCOLS,
    _phase_shift,
    context_scenes,
    shift,
)
from poolstudy.translate import random_offsets

SHIFTS = [(0, 0), (1, 0), (0, 1), (2, -3), (-1, -1), (3, 2)]
FRACTIONAL_SHIFTS = [
    (0.25, 0.0),
    (0.0, -0.5),
    (1.75, -2.25),
    (-0.5, 0.5),
    (2.0, 1.0),
    (-3.25, 0.75),
]
INTEGER_PROTOCOLS = [name for name in PROTOCOLS if name not in FRACTIONAL]
MARGIN = 3
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
    ),
]


def images(dtype=torch.float32, batch=3, channels=2, height=6, width=7) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if dtype == torch.uint8:
        return torch.randint(1, 256, (batch, channels, height, width), generator=generator).to(
            torch.uint8
        )
    return 1.0 + torch.rand(batch, channels, height, width, generator=generator).to(dtype)


def shifted(x, dx, dy, protocol):
    """``shift`` of images; a protocol in ``IN_CONTEXT`` shifts each image inside its scene."""
    if protocol in IN_CONTEXT:
        return shift(context_scenes(x, MARGIN), dx, dy, protocol, MARGIN)
    return shift(x, dx, dy, protocol)


def zero_shift_reference(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    height, width = x.shape[-2:]
    for row in range(height):
        for col in range(width):
            src_row, src_col = row - dy, col - dx
            if 0 <= src_row < height and 0 <= src_col < width:
                out[..., row, col] = x[..., src_row, src_col]
    return out


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_circular_round_trip(dx, dy):
    x = images()
    back = shift(shift(x, dx, dy, "circular"), -dx, -dy, "circular")
    assert torch.equal(back, x)


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_zero_round_trip_keeps_the_inner_part(dx, dy):
    x = images()
    height, width = x.shape[-2:]
    back = shift(shift(x, dx, dy, "zero"), -dx, -dy, "zero")
    rows = slice(max(0, -dy), height - max(0, dy))
    cols = slice(max(0, -dx), width - max(0, dx))
    assert torch.equal(back[..., rows, cols], x[..., rows, cols])
    lost = torch.ones_like(x, dtype=torch.bool)
    lost[..., rows, cols] = False
    assert (back[lost] == 0).all()


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_circular_equals_roll(dx, dy):
    x = images()
    assert torch.equal(shift(x, dx, dy, "circular"), torch.roll(x, shifts=(dy, dx), dims=(2, 3)))


def test_circular_equals_roll_per_sample():
    x = images(batch=len(SHIFTS))
    dx = torch.tensor([s[0] for s in SHIFTS])
    dy = torch.tensor([s[1] for s in SHIFTS])
    out = shift(x, dx, dy, "circular")
    for i, (sx, sy) in enumerate(SHIFTS):
        assert torch.equal(out[i], torch.roll(x[i], shifts=(sy, sx), dims=(1, 2)))


def test_circular_wraps_large_shifts():
    x = images()
    height, width = x.shape[-2:]
    assert torch.equal(shift(x, width + 1, -height - 2, "circular"), shift(x, 1, -2, "circular"))


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_zero_fills_entering_rows_and_columns(dx, dy):
    x = images()
    out = shift(x, dx, dy, "zero")
    assert torch.equal(out, zero_shift_reference(x, dx, dy))
    rolled = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    height, width = x.shape[-2:]
    entering = torch.zeros(height, width, dtype=torch.bool)
    if dy > 0:
        entering[:dy] = True
    elif dy < 0:
        entering[dy:] = True
    if dx > 0:
        entering[:, :dx] = True
    elif dx < 0:
        entering[:, dx:] = True
    assert (out[..., entering] == 0).all()
    assert torch.equal(out[..., ~entering], rolled[..., ~entering])


def test_zero_per_sample():
    x = images(batch=len(SHIFTS))
    dx = torch.tensor([s[0] for s in SHIFTS])
    dy = torch.tensor([s[1] for s in SHIFTS])
    out = shift(x, dx, dy, "zero")
    for i, (sx, sy) in enumerate(SHIFTS):
        assert torch.equal(out[i], zero_shift_reference(x[i], sx, sy))


def test_zero_shift_beyond_the_image_is_black():
    x = images()
    assert (shift(x, 100, 0, "zero") == 0).all()
    assert (shift(x, 0, -100, "zero") == 0).all()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_shift_by_zero_is_identity(protocol):
    x = images()
    assert torch.equal(shifted(x, 0, 0, protocol), x)
    zeros = torch.zeros(x.shape[0], dtype=torch.long)
    assert torch.equal(shifted(x, zeros, zeros, protocol), x)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_scalar_shift_applies_to_every_image(protocol):
    x = images()
    dx = torch.full((x.shape[0],), 2)
    dy = torch.full((x.shape[0],), -1)
    assert torch.equal(shifted(x, 2, -1, protocol), shifted(x, dx, dy, protocol))


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_non_square_single_channel(protocol):
    x = images(batch=1, channels=1, height=5, width=9)
    out = shifted(x, 1, 1, protocol)
    assert out.shape == x.shape
    assert torch.equal(out[..., 1:, 1:], x[..., :-1, :-1])


def test_unknown_protocol_raises():
    with pytest.raises(ValueError) as info:
        shift(images(), 1, 1, "no-such-protocol")
    for name in PROTOCOLS:
        assert name in str(info.value)


@pytest.mark.parametrize("protocol", INTEGER_PROTOCOLS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_dtype_is_kept(protocol, dtype):
    x = images(dtype)
    out = shifted(x, 1, -2, protocol)
    assert out.dtype == dtype
    assert out.shape == x.shape
    assert out.is_contiguous()


@pytest.mark.parametrize("protocol", sorted(FRACTIONAL))
@pytest.mark.parametrize(
    "dtype, expected",
    [(torch.uint8, torch.float32), (torch.float32, torch.float32), (torch.float64, torch.float64)],
)
def test_fractional_protocols_return_float(protocol, dtype, expected):
    x = images(dtype)
    out = shift(x, 0.5, -1.25, protocol)
    assert out.dtype == expected
    assert out.shape == x.shape
    assert out.is_contiguous()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_uint8_and_float_agree(protocol):
    x = images(torch.uint8)
    out_uint8 = shifted(x, 2, 1, protocol)
    out_float = shifted(x.float(), 2, 1, protocol)
    assert torch.equal(out_uint8.float(), out_float)


@pytest.mark.parametrize("max_shift", [0, 1, 3])
def test_random_offsets_in_range(max_shift):
    dx, dy = random_offsets(2000, max_shift, torch.Generator().manual_seed(0))
    for offsets in (dx, dy):
        assert offsets.shape == (2000,)
        assert offsets.dtype == torch.long
        assert offsets.min() >= -max_shift and offsets.max() <= max_shift
        assert set(offsets.tolist()) == set(range(-max_shift, max_shift + 1))


def test_random_offsets_reproducible():
    first = random_offsets(50, 4, torch.Generator().manual_seed(7))
    second = random_offsets(50, 4, torch.Generator().manual_seed(7))
    other = random_offsets(50, 4, torch.Generator().manual_seed(8))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not (torch.equal(first[0], other[0]) and torch.equal(first[1], other[1]))
    assert not torch.equal(first[0], first[1])


def test_fractional_protocols_are_registered():
    assert FRACTIONAL <= set(PROTOCOLS)
    assert {"circular", "zero", "reflect"} <= set(INTEGER_PROTOCOLS)


@pytest.mark.parametrize("protocol", INTEGER_PROTOCOLS)
def test_integer_protocol_rejects_fractional_shift(protocol):
    with pytest.raises(ValueError, match="fractional"):
        shifted(images(), 0.5, 0, protocol)
    assert torch.equal(shifted(images(), 2.0, -1.0, protocol), shifted(images(), 2, -1, protocol))


def test_crop_moves_a_window_over_the_scene():
    x = images(batch=12, channels=1, height=5, width=6)
    scenes = context_scenes(x, 2, seed=1)
    assert scenes.shape == (12, 1, 9, 10)
    assert torch.equal(scenes[..., 2:7, 2:8], x)
    for dx, dy in [(0, 0), (2, -1), (-2, 2), (1, 1)]:
        out = shift(scenes, dx, dy, "crop", 2)
        assert torch.equal(out, scenes[..., 2 - dy : 7 - dy, 2 - dx : 8 - dx])
    # what enters the window is another image's content, never zeros (images are >= 1)
    assert (shift(scenes, 2, 2, "crop", 2) >= 1).all()


@pytest.mark.parametrize("count", [12, 9])
def test_context_comes_from_other_images_of_the_set(count):
    # the eight tiles are the images 1..8 places further in the cyclic order: with nine
    # images, every other image and never the image itself
    x = torch.arange(float(count)).view(count, 1, 1, 1).expand(count, 1, 4, 4).contiguous()
    scenes = context_scenes(x, 4, seed=0)
    for i in range(count):
        ring = scenes[i, 0].clone()
        ring[4:8, 4:8] = -1
        neighbours = set(ring[ring >= 0].unique().tolist())
        assert len(neighbours) == 8 and i not in neighbours
    assert torch.equal(scenes, context_scenes(x, 4, seed=0))
    assert not torch.equal(scenes, context_scenes(x, 4, seed=1))


def test_crop_rejects_shifts_beyond_the_margin_and_margins_beyond_the_image():
    x = images(batch=4, height=5, width=5)
    with pytest.raises(ValueError, match="margin of 2"):
        shift(context_scenes(x, 2), 3, 0, "crop", 2)
    with pytest.raises(ValueError, match="larger than the images"):
        context_scenes(x, 6)


def reflect_reference(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    px, py = abs(dx), abs(dy)
    padded = F.pad(x, (px, px, py, py), mode="reflect")
    height, width = x.shape[-2:]
    return padded[..., py - dy : py - dy + height, px - dx : px - dx + width]


@pytest.mark.parametrize("dx, dy", SHIFTS + [(5, -4), (-6, 0)])
def test_reflect_equals_pad_and_crop(dx, dy):
    x = images(height=6, width=7)
    assert torch.equal(shift(x, dx, dy, "reflect"), reflect_reference(x, dx, dy))


def test_reflect_mirrors_the_border():
    x = torch.arange(5.0).view(1, 1, 1, 5)
    assert shift(x, 2, 0, "reflect").flatten().tolist() == [2, 1, 0, 1, 2]
    assert shift(x, -3, 0, "reflect").flatten().tolist() == [3, 4, 3, 2, 1]


def test_reflect_clamps_large_shifts_to_the_mirrored_image():
    x = images(height=6, width=7)
    height, width = x.shape[-2:]
    assert torch.equal(shift(x, width - 1, 0, "reflect"), x.flip(-1))
    assert torch.equal(shift(x, 100, 0, "reflect"), x.flip(-1))
    assert torch.equal(shift(x, -100, 0, "reflect"), x.flip(-1))
    assert torch.equal(shift(x, 0, 50, "reflect"), shift(x, 0, height - 1, "reflect"))
    one = images(height=1, width=1)
    assert torch.equal(shift(one, 3, -2, "reflect"), one)


def per_sample_shifts(protocol: str) -> list[tuple[float, float]]:
    return FRACTIONAL_SHIFTS if protocol in FRACTIONAL else SHIFTS


def per_sample_case(protocol: str, x: torch.Tensor):
    """One image of ``x`` per shift of ``per_sample_shifts``: what ``shift`` takes (scenes
    for protocols in ``IN_CONTEXT``), the shifts and the margin."""
    pairs = per_sample_shifts(protocol)
    dx = torch.tensor([p[0] for p in pairs])
    dy = torch.tensor([p[1] for p in pairs])
    margin = 0
    if protocol in IN_CONTEXT:
        margin = max(max(abs(a), abs(b)) for a, b in pairs)
        x = context_scenes(x, margin)
    return x, dx, dy, margin


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_per_sample_shifts_equal_shifting_each_image(protocol):
    pairs = per_sample_shifts(protocol)
    x, dx, dy, margin = per_sample_case(protocol, images(batch=len(pairs)))
    out = shift(x, dx, dy, protocol, margin)
    for i, (sx, sy) in enumerate(pairs):
        alone = shift(x[i : i + 1], sx, sy, protocol, margin)[0]
        torch.testing.assert_close(out[i], alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_channels_last_batch_is_shifted_like_the_same_batch_in_nchw(protocol):
    count = len(per_sample_shifts(protocol))
    x, dx, dy, margin = per_sample_case(protocol, torch.rand(count, 3, 7, 9))
    nchw = shift(x, dx, dy, protocol, margin)
    channels_last = shift(x.contiguous(memory_format=torch.channels_last), dx, dy, protocol, margin)
    assert torch.equal(nchw, channels_last)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_subpixel_with_integer_shifts_equals_zero(dtype):
    x = images(dtype, batch=len(SHIFTS))
    dx = torch.tensor([s[0] for s in SHIFTS])
    dy = torch.tensor([s[1] for s in SHIFTS])
    expected = shift(x, dx, dy, "zero").to(torch.float32 if dtype == torch.uint8 else dtype)
    assert torch.equal(shift(x, dx, dy, "subpixel"), expected)
    assert torch.equal(shift(x, dx.double(), dy.double(), "subpixel"), expected)
    assert (shift(x, 100.0, 0.0, "subpixel") == 0).all()
    assert (shift(x, 0.0, -100.0, "subpixel") == 0).all()


def grid_sample_reference(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling at (col - dx, row - dy), zeros outside, align_corners=False."""
    height, width = x.shape[-2:]
    cols = torch.arange(width, dtype=x.dtype)[None, None, :] - dx[:, None, None]
    rows = torch.arange(height, dtype=x.dtype)[None, :, None] - dy[:, None, None]
    grid = torch.stack(
        [
            ((2 * cols + 1) / width - 1).expand(-1, height, -1),
            ((2 * rows + 1) / height - 1).expand(-1, -1, width),
        ],
        dim=-1,
    )
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def test_subpixel_equals_grid_sample():
    x = images(torch.float64, batch=len(FRACTIONAL_SHIFTS))
    dx = torch.tensor([s[0] for s in FRACTIONAL_SHIFTS], dtype=torch.float64)
    dy = torch.tensor([s[1] for s in FRACTIONAL_SHIFTS], dtype=torch.float64)
    torch.testing.assert_close(shift(x, dx, dy, "subpixel"), grid_sample_reference(x, dx, dy))


def test_subpixel_half_pixel_of_a_constant_image():
    x = torch.full((2, 3, 6, 7), 4.0)
    right = shift(x, 0.5, 0.0, "subpixel")
    assert (right[..., 1:] == 4.0).all()
    assert (right[..., 0] == 2.0).all()
    both = shift(x, -0.5, 0.5, "subpixel")
    assert (both[..., 1:, :-1] == 4.0).all()
    assert (both[..., 0, :-1] == 2.0).all() and (both[..., 1:, -1] == 2.0).all()
    assert (both[..., 0, -1] == 1.0).all()


def test_subpixel_interpolates_linearly():
    x = torch.tensor([[[[0.0, 4.0, 8.0, 12.0]]]])
    assert shift(x, 0.25, 0.0, "subpixel").flatten().tolist() == [0.0, 3.0, 7.0, 11.0]
    assert shift(x, -1.5, 0.0, "subpixel").flatten().tolist() == [6.0, 10.0, 6.0, 0.0]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_subpixel_fourier_with_integer_shifts_equals_circular(dtype):
    x = images(dtype, batch=len(SHIFTS))
    dx = torch.tensor([s[0] for s in SHIFTS])
    dy = torch.tensor([s[1] for s in SHIFTS])
    expected = shift(x, dx, dy, "circular").to(torch.float32 if dtype == torch.uint8 else dtype)
    assert torch.equal(shift(x, dx, dy, "subpixel_fourier"), expected)


@pytest.mark.parametrize("dx, dy", SHIFTS)
def test_phase_ramp_with_integer_shifts_equals_roll(dx, dy):
    x = images(torch.float64)
    batch = x.shape[0]
    moved = _phase_shift(x, torch.full((batch,), float(dx)), torch.full((batch,), float(dy)))
    torch.testing.assert_close(moved, torch.roll(x, shifts=(dy, dx), dims=(2, 3)))


@pytest.mark.parametrize("dx, dy", FRACTIONAL_SHIFTS)
def test_subpixel_fourier_round_trip_odd_size(dx, dy):
    x = images(torch.float64, height=7, width=9)
    back = shift(shift(x, dx, dy, "subpixel_fourier"), -dx, -dy, "subpixel_fourier")
    torch.testing.assert_close(back, x)


def test_subpixel_fourier_round_trip_even_size_without_nyquist():
    x = images(torch.float64, height=6, width=8)
    spectrum = torch.fft.fft2(x)
    spectrum[..., 3, :] = 0
    spectrum[..., :, 4] = 0
    x = torch.fft.ifft2(spectrum).real
    back = shift(shift(x, 0.5, -1.25, "subpixel_fourier"), -0.5, 1.25, "subpixel_fourier")
    torch.testing.assert_close(back, x)


def test_subpixel_fourier_shifts_a_cosine_exactly():
    width, frequency, dx = 9, 2, 0.75
    cols = torch.arange(width, dtype=torch.float64)
    wave = torch.cos(2 * math.pi * frequency * cols / width).view(1, 1, 1, width).repeat(1, 1, 4, 1)
    expected = torch.cos(2 * math.pi * frequency * (cols - dx) / width).expand(1, 1, 4, width)
    # float64 images are shifted in float64 (float32 frequencies of 1/9 would miss this)
    torch.testing.assert_close(
        shift(wave, dx, 0.0, "subpixel_fourier"), expected, rtol=0, atol=1e-13
    )
    down = shift(wave.transpose(-1, -2), 0.0, dx, "subpixel_fourier")
    torch.testing.assert_close(down, expected.transpose(-1, -2), rtol=0, atol=1e-13)
    mean = shift(images(torch.float64), 0.3, -0.6, "subpixel_fourier").mean(dim=(2, 3))
    torch.testing.assert_close(mean, images(torch.float64).mean(dim=(2, 3)))


@pytest.mark.parametrize("dx, dy", [(0.25, 0.0), (0.25, 0.25), (0.25, -0.25), (0.5, 0.125)])
def test_subpixel_fourier_scales_the_nyquist_frequencies_as_documented(dx, dy):
    """An even size's highest frequency along an axis is scaled by cos(pi f), f the shift's
    fraction along that axis; the checkerboard, highest along both, by cos(pi (fx + fy))."""
    n = 8
    parity = torch.arange(n, dtype=torch.float64) % 2 * -2 + 1  # 1, -1, 1, ...
    columns = parity.view(1, 1, 1, n).expand(1, 1, n, n)
    board = parity.view(n, 1) * parity.view(1, n)
    for pattern, scale in (
        (columns, math.cos(math.pi * dx)),
        (columns.transpose(-1, -2), math.cos(math.pi * dy)),
        (board.view(1, 1, n, n), math.cos(math.pi * (dx + dy))),
    ):
        moved = shift(pattern, dx, dy, "subpixel_fourier")
        torch.testing.assert_close(moved, scale * pattern, rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_device_is_kept(protocol, device):
    pairs = per_sample_shifts(protocol)
    x = images(batch=len(pairs))
    dx = torch.tensor([p[0] for p in pairs])
    dy = torch.tensor([p[1] for p in pairs])
    out = shifted(x.to(device), dx.to(device), dy.to(device), protocol)
    assert out.device.type == device
    torch.testing.assert_close(out.cpu(), shifted(x, dx, dy, protocol), rtol=0, atol=1e-5)
    scalar = shifted(x.to(device), pairs[-1][0], pairs[-1][1], protocol)
    assert scalar.device.type == device


def test_context_of_no_margin_is_the_image():
    x = images(batch=4)
    assert torch.equal(context_scenes(x, 0), x)
    # a crop with no context (the default margin) can only be the image itself
    assert torch.equal(shift(x, 0, 0, "crop"), x)


def test_context_tiles_touch_the_image_along_their_near_edges():
    # pixel value: 100 * image + 10 * row + column, so each band names its source image and rows
    count, size, m = 10, 5, 2
    rows = torch.arange(size).view(1, 1, size, 1) * 10.0
    cols = torch.arange(size).view(1, 1, 1, size) * 1.0
    x = torch.arange(count).view(count, 1, 1, 1) * 100.0 + rows + cols
    scenes = context_scenes(x, m, seed=3)

    def source(band: torch.Tensor) -> torch.Tensor:
        return x[int(band.flatten()[0]) // 100]

    for i in range(count):
        scene = scenes[i, 0]
        above, below = scene[:m, m:-m], scene[-m:, m:-m]
        left, right = scene[m:-m, :m], scene[m:-m, -m:]
        assert torch.equal(above, source(above)[0, -m:, :])  # the tile above: its last rows
        assert torch.equal(below, source(below)[0, :m, :])
        assert torch.equal(left, source(left)[0, :, -m:])
        assert torch.equal(right, source(right)[0, :, :m])
        corner = scene[:m, :m]
        assert torch.equal(corner, source(corner)[0, -m:, -m:])


def test_the_margin_must_fit_both_sides_of_an_image():
    with pytest.raises(ValueError, match=r"margin 4 is larger than the images \(6x3\)"):
        context_scenes(images(height=6, width=3), 4)


@pytest.mark.parametrize("shape", [(5, 9), (9, 5)])
def test_crop_needs_a_window_along_both_axes(shape):
    scenes = torch.rand(2, 1, *shape)
    with pytest.raises(ValueError) as info:
        shift(scenes, 0, 0, "crop", 3)
    assert str(info.value) == f"scenes of size {shape} have no margin 3"


def test_crop_windows_one_pixel_high_or_wide():
    scenes = torch.rand(2, 1, 7, 9)
    assert torch.equal(shift(scenes, 0, 0, "crop", 3), scenes[..., 3:4, 3:6])
    assert torch.equal(shift(scenes, -1, 2, "crop", 3), scenes[..., 1:2, 4:7])
    scenes = scenes.transpose(-1, -2)
    assert torch.equal(shift(scenes, 2, -1, "crop", 3), scenes[..., 4:7, 1:2])


def test_crop_of_no_images():
    scenes = torch.rand(0, 1, 5, 5)
    assert shift(scenes, 0, 0, "crop", 0).shape == (0, 1, 5, 5)
    assert shift(scenes, 0, 0, "crop", 1).shape == (0, 1, 3, 3)


def test_shift_errors_name_the_choices_and_the_offending_axis():
    with pytest.raises(ValueError) as info:
        shift(images(), 0, 0, "no-such-protocol")
    assert f"registered: {', '.join(PROTOCOLS)}" in str(info.value)
    for dx, dy, name in [(0.5, 0, "dx"), (0, 0.5, "dy")]:
        with pytest.raises(ValueError) as info:
            shift(images(), dx, dy, "circular")
        message = str(info.value)
        assert f"but {name} has fractional values" in message
        assert message.endswith(f"fractional protocols: {', '.join(sorted(FRACTIONAL))}")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_subpixel_fourier_shifts_half_precision_images_in_float32(dtype):
    x = images(torch.float32)
    moved = shift(x.to(dtype), 0.5, -0.25, "subpixel_fourier")
    assert moved.dtype == dtype
    expected = shift(x.to(dtype).float(), 0.5, -0.25, "subpixel_fourier").to(dtype)
    assert torch.equal(moved, expected)


@pytest.mark.parametrize("protocol", sorted(FRACTIONAL))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_images_move_by_the_shift_asked_not_a_rounded_one(protocol, dtype):
    # 10.3 in bfloat16 is 10.3125 (in float16, 10.296875): the shift must be split into whole
    # and fractional parts before anything is cast to the images' dtype
    x = torch.zeros(1, 1, 24, 24)
    x[..., :, 6:] = 100.0  # an edge: a fraction off by 0.0125 moves its pixel by 1.25
    ulp = torch.finfo(dtype).eps * 100.0  # the dtype's spacing of numbers near the edge's
    moved = shift(x.to(dtype), 10.3, 0, protocol).float()
    exact = shift(x.double(), 10.3, 0, protocol).float()
    assert torch.allclose(moved, exact, atol=ulp, rtol=0)
    rounded = shift(x.double(), float(torch.tensor(10.3, dtype=dtype)), 0, protocol).float()
    assert not torch.allclose(rounded, exact, atol=ulp, rtol=0)


@pytest.mark.parametrize("protocol", sorted(FRACTIONAL))
def test_a_python_shift_moves_a_float64_image_at_float64_precision(protocol):
    x = torch.zeros(2, 1, 24, 24, dtype=torch.float64)
    x[..., :, 6:] = 1.0
    given = torch.tensor(10.3, dtype=torch.float64)
    assert torch.equal(shift(x, 10.3, -0.7, protocol), shift(x, given, -0.7, protocol))
    assert not torch.equal(
        shift(x, 10.3, 0, protocol), shift(x, torch.tensor(10.3).double(), 0, protocol)
    )  # 10.3 read as float32 first is another shift


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bfloat16, torch.float32, torch.int64])
@pytest.mark.parametrize("protocol", ["zero", "placement"])
def test_zero_fill_keeps_the_images_dtype(dtype, protocol):
    x = (torch.arange(2 * 3 * 5 * 5) % 7 + 1).view(2, 3, 5, 5).to(dtype)
    moved = shift(x, torch.tensor([2, -1]), torch.tensor([0, 3]), protocol)
    assert moved.dtype == dtype
    assert (moved[0, :, :, :2] == 0).all() and (moved[1, :, :3, :] == 0).all()
    assert torch.equal(moved[0, :, :, 2:], x[0, :, :, :3])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_subpixel_returns_half_precision_images_in_their_dtype(dtype):
    # the offsets reach the interpolation in float32 (_offset_dtype); the weights, and so the
    # result, are in the images' dtype
    x = images(dtype)
    moved = shift(x, 0.5, -0.25, "subpixel")
    assert moved.dtype == dtype
    expected = shift(x.float(), 0.5, -0.25, "subpixel").to(dtype)
    torch.testing.assert_close(moved, expected)
