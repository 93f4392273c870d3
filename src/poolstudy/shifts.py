"""Shift protocols: a batch of images and one integer shift per image in, shifted images out.

Positive ``dx`` moves the content right, positive ``dy`` moves it down. Every protocol works
on the whole batch at once on the batch's device (one gather, no Python loop per image).

- ``circular``: ``torch.roll``: what leaves one side enters on the other.
- ``zero``: what leaves is lost, what enters is zero (black).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def _source_indices(size: int, offset: torch.Tensor) -> torch.Tensor:
    """For each image, the source coordinate of every output coordinate: [B, size]."""
    return torch.arange(size, device=offset.device).unsqueeze(0) - offset.unsqueeze(1)


def _gather(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    batch = torch.arange(images.shape[0], device=images.device)[:, None, None]
    # Advanced indices split by a slice put the batch/row/col dims first: [B, H, W, C].
    picked = images[batch, :, rows[:, :, None], cols[:, None, :]]
    return picked.permute(0, 3, 1, 2).contiguous()


def shift_circular(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    rows = _source_indices(height, dy) % height
    cols = _source_indices(width, dx) % width
    return _gather(images, rows, cols)


def shift_zero(images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    rows = _source_indices(height, dy)
    cols = _source_indices(width, dx)
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None]
    shifted = _gather(images, rows.clamp(0, height - 1), cols.clamp(0, width - 1))
    return torch.where(inside.unsqueeze(1), shifted, torch.zeros((), dtype=shifted.dtype))


ShiftFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

PROTOCOLS: dict[str, ShiftFn] = {
    "circular": shift_circular,
    "zero": shift_zero,
}


def shift(images: torch.Tensor, dx, dy, protocol: str) -> torch.Tensor:
    """Shift every image by its own (dx, dy); scalars apply the same shift to all."""
    try:
        function = PROTOCOLS[protocol]
    except KeyError:
        raise ValueError(
            f"unknown shift protocol {protocol!r}; registered: {', '.join(PROTOCOLS)}"
        ) from None
    batch = images.shape[0]
    dx = torch.as_tensor(dx, device=images.device).to(torch.long).expand(batch)
    dy = torch.as_tensor(dy, device=images.device).to(torch.long).expand(batch)
    return function(images, dx, dy)


def random_offsets(
    count: int, max_shift: int, generator: torch.Generator, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent integer offsets (dx, dy), each uniform in {-max_shift..max_shift}."""
    offsets = torch.randint(-max_shift, max_shift + 1, (2, count), generator=generator)
    return offsets[0].to(device), offsets[1].to(device)
