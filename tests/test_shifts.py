"""Shift protocols."""

from __future__ import annotations

import pytest
import torch

from poolstudy.shifts import PROTOCOLS, random_offsets, shift

SHIFTS = [(0, 0), (1, 0), (0, 1), (2, -3), (-1, -1), (3, 2)]


def images(dtype=torch.float32, batch=3, channels=2, height=6, width=7) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if dtype == torch.uint8:
        return torch.randint(1, 256, (batch, channels, height, width), generator=generator).to(
            torch.uint8
        )
    return 1.0 + torch.rand(batch, channels, height, width, generator=generator).to(dtype)


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
    assert torch.equal(shift(x, 0, 0, protocol), x)
    zeros = torch.zeros(x.shape[0], dtype=torch.long)
    assert torch.equal(shift(x, zeros, zeros, protocol), x)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_scalar_shift_applies_to_every_image(protocol):
    x = images()
    dx = torch.full((x.shape[0],), 2)
    dy = torch.full((x.shape[0],), -1)
    assert torch.equal(shift(x, 2, -1, protocol), shift(x, dx, dy, protocol))


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_non_square_single_channel(protocol):
    x = images(batch=1, channels=1, height=5, width=9)
    out = shift(x, 1, 1, protocol)
    assert out.shape == x.shape
    assert torch.equal(out[..., 1:, 1:], x[..., :-1, :-1])


def test_unknown_protocol_raises():
    with pytest.raises(ValueError) as info:
        shift(images(), 1, 1, "no-such-protocol")
    for name in PROTOCOLS:
        assert name in str(info.value)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_dtype_is_kept(protocol, dtype):
    x = images(dtype)
    out = shift(x, 1, -2, protocol)
    assert out.dtype == dtype
    assert out.shape == x.shape
    assert out.is_contiguous()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_uint8_and_float_agree(protocol):
    x = images(torch.uint8)
    out_uint8 = shift(x, 2, 1, protocol)
    out_float = shift(x.float(), 2, 1, protocol)
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
