"""The placement experiment: objects on a canvas larger than themselves, trained in one region
and tested at every position (Kauderer-Abrams, "Quantifying translation-invariance in
convolutional neural networks", 2017, trained centred and tested off-centre; Biscione &
Bowers, "Convolutional neural networks are not invariant to translation, but they can learn
to be", JMLR 2021, trained on one side of the canvas and tested on the other).

Each image is put at the centre of a black ``canvas`` x ``canvas`` field; an offset (dx, dy)
then moves it with the ``zero`` protocol, so the object never leaves the field as long as
``|dx|, |dy| <= reach`` with ``reach = (canvas - size) / 2``. The training ``region`` says
which offsets training draws from:

- ``centre``: only (0, 0), the object always in the middle;
- ``left``: ``dx`` in ``[-reach, 0]`` and any ``dy``: the object's centre in the left half;
- ``everywhere``: any offset (the control: the network sees every position).

Evaluation places every test image at every offset of a grid with spacing ``step`` that covers
``[-reach, reach]`` on both axes (``position_grid``), as one batched pass (protocol
``placement`` in ``poolstudy.shifts``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from poolstudy.config import section_defaults
from poolstudy.device import to_device
from poolstudy.translate import shift_zero

DEFAULTS = section_defaults("placement")

REGIONS = ("centre", "left", "everywhere")
POSITION_SEED = 12345
"""Seed of the fixed positions of validation and clean test images (the same for every run)."""


@dataclass(frozen=True)
class PlacementConfig:
    """``config['placement']``; ``canvas: None`` means no placement (images as they are). The
    schema is the one home of the defaults, which a field left out takes."""

    canvas: int | None = DEFAULTS["canvas"]
    region: str = DEFAULTS["region"]
    step: int = DEFAULTS["step"]

    @classmethod
    def from_dict(cls, data: dict | None) -> PlacementConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    @property
    def active(self) -> bool:
        return self.canvas is not None

    def reach(self, size: int) -> int:
        """How far the object can move from the centre each way on this canvas."""
        margin = self.canvas - size
        if margin < 0 or margin % 2:
            raise ValueError(
                f"placement canvas {self.canvas} must exceed the image size {size} by an even "
                "number of pixels, so that the image has a centre position"
            )
        return margin // 2


def to_canvas(images: torch.Tensor, canvas: int) -> torch.Tensor:
    """Images centred on a black canvas x canvas field (``reach`` checks the sizes)."""
    pad = (canvas - images.shape[-1]) // 2
    return F.pad(images, (pad, pad, pad, pad))


def region_offsets(
    region: str, reach: int, count: int, generator: torch.Generator, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random integer offsets (dx, dy) inside the training ``region``, drawn on the CPU."""
    if region not in REGIONS:
        raise ValueError(f"unknown placement region {region!r}; choose one of: {REGIONS}")
    if region == "centre":
        zeros = torch.zeros((2, count), dtype=torch.long, device=device)
        return zeros[0], zeros[1]
    dy = torch.randint(-reach, reach + 1, (count,), generator=generator)
    high = 0 if region == "left" else reach
    dx = torch.randint(-reach, high + 1, (count,), generator=generator)
    offsets = to_device(torch.stack([dx, dy]), device)
    return offsets[0], offsets[1]


def in_region(region: str, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Whether each offset is one that training in ``region`` could draw."""
    if region == "centre":
        return (dx == 0) & (dy == 0)
    if region == "left":
        return dx <= 0
    return torch.ones_like(dx, dtype=torch.bool)


def position_grid(reach: int, step: int) -> torch.Tensor:
    """Offsets (dx, dy) from -reach to reach in steps of ``step`` on both axes, always with the
    centre and both ends: [S, 2]."""
    half = {*range(0, reach + 1, step), reach}
    values = sorted(half | {-v for v in half})
    return torch.tensor([(dx, dy) for dx in values for dy in values], dtype=torch.long)


def placed_in_region(
    canvas_images: torch.Tensor, placement: PlacementConfig, reach: int, seed: int = POSITION_SEED
) -> torch.Tensor:
    """Centred canvas images moved to positions drawn from the training region with a fixed
    seed: how validation and clean test accuracy see a placement model."""
    generator = torch.Generator().manual_seed(seed)
    count = canvas_images.shape[0]
    dx, dy = region_offsets(placement.region, reach, count, generator, canvas_images.device)
    return shift_zero(canvas_images, dx, dy)
