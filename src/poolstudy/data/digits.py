"""scikit-learn's bundled handwritten digits (Alpaydin & Kaynak, UCI 1998): 1,797 images of
8x8 pixels with 17 grey levels. Available offline, so it is the default dataset.

The 8x8 images are upsampled (bilinear) to ``size`` pixels and centred on a black ``canvas``:
the margin, ``(canvas - size) / 2``, says how far an image can move before a stroke reaches the
border (the default config leaves 2 pixels, so shifts of 3 cut strokes and the shift protocols
differ).

In the source every digit touches the top and bottom rows of its 8x8 grid, while its
horizontal position varies (narrow digits sit anywhere across it): without correction, training
digits all sit at the same height and a one-pixel vertical shift is out of distribution where a
horizontal one is not. So each upsampled digit is moved (whole pixels) to centre its ink's
bounding box on both axes (:func:`centre_ink`), as MNIST centres its digits: the two axes are
then alike, and every position the shift protocols test is equally new.
"""

from __future__ import annotations

from pathlib import Path

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

N_IMAGES = 1797
DEFAULT_SIZE = 24  # side of the upsampled digit when ``options`` has no ``size``
OPTIONS = ("size", "canvas")  # ``canvas`` is the preparation's (``prepare.place_on_canvas``)


def digit_size(options: dict) -> int:
    """The side of the upsampled digits: ``options["size"]``, a whole number of pixels (at
    least 1), else :data:`DEFAULT_SIZE`. Options other than :data:`OPTIONS` are refused."""
    check_option_names("digits", options, OPTIONS)
    given = options.get("size", DEFAULT_SIZE)
    size = whole_number(given)
    if size is None or size < 1:
        raise ConfigError(
            f"digits size must be a whole number of pixels (at least 1), not {given!r}"
        )
    return size


def centre_ink(images: torch.Tensor) -> torch.Tensor:
    """Each image [N, C, H, W] rolled by whole pixels so that the bounding box of its non-zero
    pixels is centred (to within half a pixel, rounding towards the top left); blank images are
    left as they are. The roll only moves blank rows and columns across the border."""
    out = images.clone()
    for i, image in enumerate(images):
        ink = image.amax(dim=0) > 0
        if not ink.any():
            continue
        shifts = []
        for axis in (0, 1):  # rows, then columns
            used = torch.nonzero(ink.any(dim=1 - axis)).flatten()
            first, last = int(used[0]), int(used[-1])
            shifts.append((ink.shape[axis] - 1 - last - first) // 2)
        out[i] = torch.roll(image, shifts=tuple(shifts), dims=(1, 2))
    return out


def load_digits(raw_dir: Path, mirror: Path | None, options: dict) -> RawDataset:
    from sklearn.datasets import load_digits as sklearn_digits

    size = digit_size(options)
    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = centre_ink((images.clamp(0, 1) * 255).round().to(torch.uint8))
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    return RawDataset(images=images, labels=labels, classes=[str(d) for d in range(10)])


def digits_shape(options: dict) -> RawShape:
    """N_IMAGES greyscale digits of ``size`` pixels in 10 classes, no official test split."""
    return RawShape(
        images=N_IMAGES, official_test=None, channels=1, size=digit_size(options), classes=10
    )


DIGITS = DatasetEntry(
    name="digits",
    summary="scikit-learn's 1,797 handwritten digits, 8x8 upsampled, ink centred",
    source="alpaydin1998digits",
    load=load_digits,
    shape=digits_shape,
    downloads=False,  # scikit-learn's own copy
)
