"""Shift protocols: a batch of images and one shift per image in, shifted images out.

Positive ``dx`` moves the content right, positive ``dy`` moves it down. Every protocol works
on the whole batch at once on the batch's device (gathers or FFTs over the batch, no Python
loop per image). Integer protocols take integer shifts and keep the images' dtype; fractional
protocols (``FRACTIONAL``) take real-valued shifts and return floating-point images (the input
dtype when it is floating, float32 for integer images, on the same 0-255 or 0-1 scale).

Integer protocols:

- ``circular``: ``torch.roll``: what leaves one side enters on the other. This is the shift
  under which adaptive polyphase sampling is exactly invariant (Chaman & Dokmanić, "Truly
  Shift-Invariant Convolutional Neural Networks", CVPR 2021; their CIFAR-10 consistency uses
  ``torch.roll`` shifts).
- ``zero``: what leaves is lost, what enters is zero (black): the image moves inside its own
  frame, so content that reaches a border is cut off. (The "black background" protocol of
  Azulay & Weiss, "Why do deep convolutional networks generalize so poorly to small image
  transformations?", JMLR 2019, moves a small image inside a larger black canvas, where
  nothing is cut off: that is ``placement`` below.)
- ``reflect``: what leaves is lost, what enters is the mirror image of the border, without
  repeating the edge pixel (as ``F.pad(..., mode="reflect")`` followed by a crop). It stands in
  for the "crop" protocol of Azulay & Weiss (2019) and the random-crop consistency of Zhang,
  "Making Convolutional Networks Shift-Invariant Again", ICML 2019, where real image content
  enters the window, when no larger image exists. A reflection can supply at most ``size - 1``
  new pixels, so shifts are clamped to ``[-(size - 1), size - 1]`` per axis; a shift of
  ``size - 1`` (or more) gives the mirrored image.

- ``crop``: a window of the image's size moves over a larger scene: the realistic shift of
  Azulay & Weiss (2019), whose "crop" protocol moves the window over the full ImageNet image.
  Its input is not the image but its scene (``context_scenes``): the image with a ``margin``
  of real data around it, so that what enters the window is data, not zeros or a mirror. The
  scene is cut from a 3x3 mosaic whose centre tile is the image and whose eight outer tiles
  are other images of the same set. Shifts beyond the margin are an error.

- ``placement``: the ``zero`` protocol, for images already centred on a canvas larger than
  the object (``poolstudy.placement``): the evaluation moves the object to every position of
  that canvas, the black-background protocol of Azulay & Weiss (2019).

Fractional protocols (sub-pixel extensions of the two integer ones above):

- ``subpixel``: bilinear interpolation with zero fill outside the image, the same sampling as
  ``F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False)`` at the points
  ``(x - dx, y - dy)``, computed as an exact separable two-tap filter so that integer shifts
  give exactly the ``zero`` protocol.
- ``subpixel_fourier``: the shift theorem of the 2-D discrete Fourier transform (a linear phase
  ramp on the spectrum): band-limited (trigonometric) interpolation, circular by nature. The
  integer part of each shift is applied as an exact ``circular`` roll, the fractional part as a
  phase ramp, so integer shifts give exactly the ``circular`` protocol. For an even size the
  Nyquist row/column of the spectrum cannot be shifted by a fraction and stay real: it is
  scaled by ``cos(pi * fraction)``, the fraction along its axis (as taking the real part after
  ``scipy.ndimage.fourier_shift`` does), and the one coefficient that is Nyquist along both
  axes by ``cos(pi * (fraction_x + fraction_y))``; so a fractional shift followed by its
  inverse returns the input exactly only when those components are zero; for odd sizes the
  shift is exactly invertible.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from poolstudy.translate import gather_pixels, shift_zero, source_indices


def _float_dtype(images: torch.Tensor) -> torch.dtype:
    """The dtype fractional protocols compute and return in."""
    return images.dtype if images.is_floating_point() else torch.float32


def _offset_dtype(images: torch.Tensor) -> torch.dtype:
    """The dtype fractional shifts are split into whole and fractional parts in: at least
    float32, so that a half-precision image is not moved by a whole shift rounded to its dtype
    (10.3 in bfloat16 is 10.3125); only the fraction, an interpolation weight, is cast to the
    images' dtype, whose arithmetic it then shares."""
    return torch.promote_types(_float_dtype(images), torch.float32)


def shift_circular(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    rows = source_indices(height, dy) % height
    cols = source_indices(width, dx) % width
    return gather_pixels(images, rows, cols)


def _reflect_indices(size: int, offset: torch.Tensor) -> torch.Tensor:
    """Source coordinates with mirror reflection about the border pixels: [B, size]."""
    last = size - 1
    source = source_indices(size, offset.clamp(-last, last)).abs()
    return torch.where(source > last, 2 * last - source, source)


def shift_reflect(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    return gather_pixels(images, _reflect_indices(height, dy), _reflect_indices(width, dx))


def shift_crop(
    scenes: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, margin: int
) -> torch.Tensor:
    """The window of the scene's size minus ``2 * margin`` per axis, moved so that the content
    moves by (dx, dy): at (0, 0) the window is the original image."""
    height, width = scenes.shape[-2] - 2 * margin, scenes.shape[-1] - 2 * margin
    if height < 1 or width < 1:
        raise ValueError(f"scenes of size {tuple(scenes.shape[-2:])} have no margin {margin}")
    largest = int(max(dx.abs().max(), dy.abs().max())) if dx.numel() else 0
    if largest > margin:
        raise ValueError(f"crop shift of {largest} px exceeds the scene's margin of {margin} px")
    rows = source_indices(height, dy) + margin
    cols = source_indices(width, dx) + margin
    return gather_pixels(scenes, rows, cols)


def context_scenes(images: torch.Tensor, margin: int, seed: int = 0) -> torch.Tensor:
    """Every image with a ``margin`` of context from other images of the set: the centre of a
    3x3 mosaic whose eight outer tiles are the images 1..8 places further in a seeded random
    cyclic order (so no image borders itself when there are more than eight). [B, C, H + 2m,
    W + 2m]; ``shift_crop`` moves a window over it."""
    count, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    if margin > min(height, width):
        raise ValueError(f"margin {margin} is larger than the images ({height}x{width})")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    place = torch.empty_like(order)
    place[order] = torch.arange(count)
    bands = {
        -1: slice(-margin, None) if margin else slice(0, 0),
        0: slice(None),
        1: slice(0, margin),
    }
    rows = []
    slot = 0
    for oy in (-1, 0, 1):
        tiles = []
        for ox in (-1, 0, 1):
            if (oy, ox) == (0, 0):
                source = images
            else:
                slot += 1
                source = images[order[(place + slot) % count].to(images.device)]
            tiles.append(source[..., bands[oy], bands[ox]])
        rows.append(torch.cat(tiles, dim=-1))
    return torch.cat(rows, dim=-2).contiguous()


def _linear_along(images: torch.Tensor, offset: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift along ``dim`` (2: rows, 3: columns) by a real offset per image: linear
    interpolation between the two nearest source samples, zero outside the image."""
    size = images.shape[dim]
    whole = torch.floor(offset)
    fraction = (offset - whole).to(images.dtype).view(-1, 1, 1, 1)
    shape = [images.shape[0], 1, 1, 1]
    shape[dim] = size
    near = source_indices(size, whole.to(torch.long))
    taps = []
    for source in (near, near - 1):
        inside = ((source >= 0) & (source < size)).view(shape)
        index = source.clamp(0, size - 1).view(shape).expand_as(images)
        taps.append(torch.where(inside, images.gather(dim, index), 0))
    return (1 - fraction) * taps[0] + fraction * taps[1]


def shift_subpixel(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    dtype, offsets = _float_dtype(images), _offset_dtype(images)
    moved = _linear_along(images.to(dtype), dx.to(offsets), 3)
    return _linear_along(moved, dy.to(offsets), 2).contiguous()


def _phase_shift(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Shift by multiplying the 2-D DFT by a linear phase ramp; the real part comes back.
    Half-precision images are shifted in float32 (the FFT takes float32 and float64)."""
    height, width = images.shape[-2:]
    work = images if images.dtype in (torch.float32, torch.float64) else images.float()
    options = {"device": work.device, "dtype": work.dtype}
    freq_y = torch.fft.fftfreq(height, **options)[None, :, None]
    freq_x = torch.fft.fftfreq(width, **options)[None, None, :]
    dy = dy.to(work.dtype)[:, None, None]
    dx = dx.to(work.dtype)[:, None, None]
    angle = -2.0 * math.pi * (freq_y * dy + freq_x * dx)
    ramp = torch.polar(torch.ones_like(angle), angle).unsqueeze(1)
    return torch.fft.ifft2(torch.fft.fft2(work) * ramp).real.to(images.dtype)


def shift_subpixel_fourier(
    images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor
) -> torch.Tensor:
    dtype = _float_dtype(images)
    dx, dy = dx.to(_offset_dtype(images)), dy.to(_offset_dtype(images))
    whole_x, whole_y = torch.round(dx), torch.round(dy)
    rolled = shift_circular(images.to(dtype), whole_x.to(torch.long), whole_y.to(torch.long))
    fraction_x, fraction_y = dx - whole_x, dy - whole_y
    fractional = ((fraction_x != 0) | (fraction_y != 0)).view(-1, 1, 1, 1)
    moved = _phase_shift(rolled, fraction_x, fraction_y)
    return torch.where(fractional, moved, rolled).contiguous()


ShiftFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PROTOCOLS: dict[str, ShiftFn] = {
    "circular": shift_circular,
    "zero": shift_zero,
    "reflect": shift_reflect,
    "crop": shift_crop,
    "placement": shift_zero,
    "subpixel": shift_subpixel,
    "subpixel_fourier": shift_subpixel_fourier,
}

FRACTIONAL = frozenset({"subpixel", "subpixel_fourier"})
"""Protocols that take real-valued shifts; the others take integer shifts."""

IN_CONTEXT = frozenset({"crop"})
"""Protocols whose input is a scene with a margin (``context_scenes``), not the image."""


def shift(images: torch.Tensor, dx, dy, protocol: str, margin: int = 0) -> torch.Tensor:
    """Shift every image by its own (dx, dy); scalars apply the same shift to all.

    Integer protocols take integer shifts (a floating value that is not a whole number raises
    ``ValueError``); protocols in ``FRACTIONAL`` take any real shift. Protocols in
    ``IN_CONTEXT`` take scenes with a ``margin`` of context (``context_scenes``) instead of
    images and return windows of the image size.
    """
    try:
        function = PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(
            f"unknown shift protocol {protocol!r}; registered: {', '.join(PROTOCOLS)}"
        ) from None
    batch = images.shape[0]
    dtype = _offset_dtype(images) if protocol in FRACTIONAL else torch.long
    offsets = []
    for name, value in (("dx", dx), ("dy", dy)):
        # a Python number given to a fractional protocol is read at the offsets' precision
        # (as_tensor would read 10.3 as float32, short of a float64 image's)
        exact = dtype if protocol in FRACTIONAL and not torch.is_tensor(value) else None
        value = torch.as_tensor(value, dtype=exact, device=images.device)
        if dtype == torch.long and value.is_floating_point() and (value != value.round()).any():
            raise ValueError(
                f"protocol {protocol!r} takes integer shifts but {name} has fractional values; "
                f"fractional protocols: {', '.join(sorted(FRACTIONAL))}"
            )
        offsets.append(value.to(dtype).expand(batch))
    if protocol in IN_CONTEXT:
        return function(images, *offsets, margin)
    return function(images, *offsets)
