"""The downsampling-operator registry: name -> ``nn.Module`` class, one class per operator.

Every class takes the number of channels of the map it downsamples and keyword options from
``config['model']['operator_options'][name]``. Its class attributes say what it is for the
paper's operator table (``summary``, ``source``: a BibTeX key in ``paper/references.bib``) and
for the receptive-field analysis (``rf_kernel``: the window it reads, ``rf_stride``: the
factor by which it shrinks the map).

Adding an operator is one class below plus one line in ``OPERATORS``; the config check,
the figures and the paper pick it up from the registry.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn


class Downsample(nn.Module):
    """Base class of the registry entries."""

    name: ClassVar[str]
    summary: ClassVar[str]
    source: ClassVar[str] = ""
    rf_kernel: ClassVar[int] = 1
    rf_stride: ClassVar[int] = 1

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.channels = channels
        self.padding_mode = padding_mode


class NoPool(Downsample):
    """No downsampling at all: the identity. The baseline every operator is compared with."""

    name = "none"
    summary = "identity: no downsampling"

    def forward(self, x):
        return x


class MaxPool(Downsample):
    """2x2 max pooling with stride 2 (LeCun et al. 1998; compared with subsampling by
    Scherer, Mueller and Behnke, ICANN 2010)."""

    name = "max"
    summary = "2x2 max pooling, stride 2"
    source = "scherer2010evaluation"
    rf_kernel = 2
    rf_stride = 2

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__(channels, padding_mode)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)

    def forward(self, x):
        return self.pool(x)


class AvgPool(Downsample):
    """2x2 average pooling with stride 2."""

    name = "avg"
    summary = "2x2 average pooling, stride 2"
    rf_kernel = 2
    rf_stride = 2

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__(channels, padding_mode)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x):
        return self.pool(x)


class StridedConv(Downsample):
    """A learned 3x3 convolution with stride 2 (+ BN + ReLU) in place of the pool
    (Springenberg et al., "Striving for Simplicity: The All Convolutional Net", 2015)."""

    name = "stride"
    summary = "3x3 convolution, stride 2, replaces the pool"
    source = "springenberg2015striving"
    rf_kernel = 3
    rf_stride = 2

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__(channels, padding_mode)
        self.conv = nn.Conv2d(
            channels, channels, 3, stride=2, padding=1, bias=False, padding_mode=padding_mode
        )
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


OPERATORS: dict[str, type[Downsample]] = {
    cls.name: cls
    for cls in (
        NoPool,
        MaxPool,
        AvgPool,
        StridedConv,
    )
}


def build_operator(name: str, channels: int, padding_mode: str = "zeros", **options) -> Downsample:
    """Instantiate the registered operator ``name`` for a map with ``channels`` channels."""
    try:
        cls = OPERATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown pooling operator {name!r}; registered: {', '.join(OPERATORS)}"
        ) from None
    return cls(channels, padding_mode=padding_mode, **options)
