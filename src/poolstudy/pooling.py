"""The downsampling-operator registry: name -> ``nn.Module`` class, one class per operator.

Every class takes the number of channels of the map it downsamples, the network's
``padding_mode`` and keyword options from ``config['model']['operator_options'][name]``. Its
class attributes say what it is for the paper's operator table (``summary``, ``source``: a
BibTeX key in ``paper/references.bib``) and for the receptive-field analysis (``rf_kernel``: the
window it reads, ``rf_stride``: the factor by which it shrinks the map, both for the default
options; ``rf_kernel_for`` and ``rf_input_span`` take the options into account).

Where an operator pads, it uses the network's ``padding_mode``; with the default ``zeros`` it
uses the padding of its paper instead (``paper_padding``), so a network built with
``padding_mode="circular"`` is circular throughout.

Adding an operator is one class below plus one line in ``OPERATORS``; the config check,
the figures and the paper pick it up from the registry.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from poolstudy.maxima import fractional_max, max_2x2


class Downsample(nn.Module):
    """Base class of the registry entries."""

    name: ClassVar[str]
    summary: ClassVar[str]
    source: ClassVar[str] = ""
    rf_kernel: ClassVar[int] = 1
    rf_stride: ClassVar[int] = 1
    paper_padding: ClassVar[str] = "zeros"
    dilation_reference: ClassVar[str | None] = None
    """Name of the operator whose network's receptive field this operator's network must reach
    by dilating its convolutions (``models.stage_dilations``); None: no dilation."""
    rf_depends_on_size: ClassVar[bool] = False
    """Whether ``rf_input_span`` needs the side of the operator's input map (``fracmax``,
    whose regions' step depends on it)."""
    deep_stages: ClassVar[bool] = False
    """With a ``dilation_reference``: reach it with undilated convolutions, each stage repeating
    its convolutions as many times as it would be dilated (the same receptive field)."""
    doubling_dilation: ClassVar[bool] = False
    """The network dilates stage ``s`` (from 0) by ``2**s``, its convolutions and this operator
    alike (the operator then takes a ``dilation`` argument): the "a trous" network of Giusti
    et al. (2013), which computes max pooling's network at every position."""

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__()
        self.channels = channels
        self.padding_mode = padding_mode

    @classmethod
    def rf_kernel_for(cls, options: dict) -> int:
        """The window read per output unit with these options (``rf_kernel`` by default)."""
        return cls.rf_kernel

    @classmethod
    def rf_input_span(
        cls, lo: int, hi: int, options: dict, dilation: int, size: int | None
    ) -> tuple[int, int]:
        """Input rows ``[lo', hi']`` that output rows ``[lo, hi]`` depend on (borders ignored);
        ``dilation`` is the stage's (used by operators with ``doubling_dilation``), ``size``
        the side of the operator's input map where ``rf_depends_on_size`` (else None)."""
        return lo * cls.rf_stride, hi * cls.rf_stride + cls.rf_kernel_for(options) - 1

    def pad(self, x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
        """``F.pad`` with the network's padding mode (the paper's one when that is ``zeros``)."""
        mode = self.paper_padding if self.padding_mode == "zeros" else self.padding_mode
        if not any(pads):
            return x
        if mode == "zeros":
            return F.pad(x, pads)
        return F.pad(x, pads, mode=mode)

    def blur(self, x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        """Depthwise convolution with ``weight`` [C, 1, k, k], padded so that stride 1 keeps
        the size."""
        size = weight.shape[-1]
        if size == 1:
            return x[..., ::stride, ::stride]
        left = (size - 1) // 2
        x = self.pad(x, (left, size - 1 - left, left, size - 1 - left))
        return F.conv2d(x, weight, stride=stride, groups=x.shape[1])


def binomial_filter(size: int) -> torch.Tensor:
    """The normalised 2-D binomial filter of side ``size`` (1..7): outer product of a row of
    Pascal's triangle, summing to 1."""
    if not isinstance(size, int) or not 1 <= size <= 7:
        raise ValueError(f"filter size must be an integer from 1 to 7, got {size!r}")
    row = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float64)
    return (torch.outer(row, row) / row.sum() ** 2).float()


def depthwise(kernel: torch.Tensor, channels: int) -> torch.Tensor:
    return kernel.expand(channels, 1, *kernel.shape).contiguous()


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

    def forward(self, x):
        return max_2x2(x, stride=2)


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
    conv_stride: ClassVar[int] = 2
    folds_batchnorm: ClassVar[tuple[str, str]] = ("conv", "bn")
    """The convolution and the batch normalisation that follows it, by attribute name:
    ``inference.fold_batchnorm`` folds them into one convolution for evaluation."""

    def __init__(self, channels: int, padding_mode: str = "zeros") -> None:
        super().__init__(channels, padding_mode)
        self.conv = nn.Conv2d(
            channels,
            channels,
            3,
            stride=self.conv_stride,
            padding=1,
            bias=False,
            padding_mode=padding_mode,
        )
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class LpPool(Downsample):
    """2x2 Lp pooling with stride 2, ``(sum |x|^p)^(1/p)`` over each window (Sermanet, Chintala
    and LeCun, "Convolutional Neural Networks Applied to House Numbers Digit Classification",
    ICPR 2012). Equals ``nn.LPPool2d`` for non-negative inputs; the sum is clamped to the
    smallest normal float before the root, so a window of zeros (common after ReLU) gets a zero
    gradient instead of NaN."""

    name = "lp"
    summary = "2x2 Lp pooling (p = 2), stride 2"
    source = "sermanet2012convolutional"
    rf_kernel = 2
    rf_stride = 2

    def __init__(self, channels: int, padding_mode: str = "zeros", p: float = 2.0) -> None:
        super().__init__(channels, padding_mode)
        if not p >= 1:
            raise ValueError(f"lp pooling needs p >= 1, got {p!r}")
        self.p = float(p)

    def forward(self, x):
        total = F.avg_pool2d(x.abs().pow(self.p), kernel_size=2, stride=2).mul(4.0)
        return total.clamp_min(torch.finfo(total.dtype).tiny).pow(1.0 / self.p)


class Subsample(Downsample):
    """Every second pixel, no filter: the aliasing baseline (subsampling layers as compared
    with max pooling by Scherer, Mueller and Behnke, ICANN 2010)."""

    name = "subsample"
    summary = "keep every second pixel, no filter"
    source = "scherer2010evaluation"
    rf_kernel = 1
    rf_stride = 2

    def forward(self, x):
        return x[..., ::2, ::2]


class BlurPool(Downsample):
    """Anti-aliased max pooling (Zhang, "Making Convolutional Networks Shift-Invariant Again",
    ICML 2019): 2x2 max with stride 1, then a depthwise normalised binomial blur of side
    ``filter_size`` (1..7; 1 is plain subsampling) with stride 2 and reflect padding. With
    circular networks the max wraps around and the blur pads circularly."""

    name = "blur"
    summary = "2x2 max, stride 1, then binomial blur (3x3) with stride 2"
    source = "zhang2019making"
    rf_kernel = 4
    rf_stride = 2
    paper_padding = "reflect"

    def __init__(self, channels: int, padding_mode: str = "zeros", filter_size: int = 3) -> None:
        super().__init__(channels, padding_mode)
        kernel = depthwise(binomial_filter(filter_size), channels)
        self.register_buffer("filter", kernel, persistent=False)

    @classmethod
    def rf_kernel_for(cls, options: dict) -> int:
        return options.get("filter_size", 3) + 1

    def forward(self, x):
        if self.padding_mode == "circular":
            x = F.pad(x, (0, 1, 0, 1), mode="circular")
        return self.blur(max_2x2(x, stride=1), self.filter, stride=2)


class AdaptivePolyphase(Downsample):
    """Adaptive polyphase sampling (Chaman and Dokmanic, "Truly Shift-Invariant Convolutional
    Neural Networks", CVPR 2021): of the four stride-2 polyphase components keep, per sample,
    the one with the largest L2 norm (ties: the first in ``PHASES``). Odd sizes are padded to
    even (circularly), and an optional binomial blur of side ``blur_size`` comes first."""

    name = "aps"
    summary = "adaptive polyphase sampling: keep the stride-2 phase of largest norm"
    source = "chaman2021truly"
    rf_kernel = 2
    rf_stride = 2
    paper_padding = "circular"
    PHASES: ClassVar[tuple[tuple[int, int], ...]] = ((0, 0), (0, 1), (1, 0), (1, 1))

    def __init__(self, channels: int, padding_mode: str = "zeros", blur_size: int = 1) -> None:
        super().__init__(channels, padding_mode)
        kernel = depthwise(binomial_filter(blur_size), channels)
        self.register_buffer("filter", kernel, persistent=False)

    @classmethod
    def rf_kernel_for(cls, options: dict) -> int:
        return options.get("blur_size", 1) + 1

    def forward(self, x):
        x = self.blur(x, self.filter, stride=1)
        x = self.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        phases = torch.stack([x[..., i::2, j::2] for i, j in self.PHASES], dim=1)
        norms = phases.float().pow(2).flatten(2).sum(2)
        batch = torch.arange(x.shape[0], device=x.device)
        return phases[batch, norms.argmax(dim=1)]


class FractionalMaxPool(Downsample):
    """Fractional max pooling (Graham, "Fractional Max-Pooling", arXiv:1412.6071, 2014) with
    ``nn.FractionalMaxPool2d(kernel_size, output_ratio=0.5)``. The pooling regions are drawn at
    random per forward pass in training; in evaluation they come from fixed samples (one per
    channel, drawn once from a generator seeded with the layer's index in its network), so
    evaluation is deterministic and the same image gives the same output wherever it is in a
    batch. With ``kernel_size=2`` and
    an even map the regions are the regular 2x2 grid (the sequence increments are all 2), so
    the operator equals 2x2 max pooling there; ``kernel_size=3`` gives overlapping random
    regions. Its receptive field is bounded by the union of the regions over every possible
    sample (``rf_input_span``): channels pool different regions, and the next convolution
    reads them all.

    Graham averages the network's output over several test-time draws of the regions:
    ``test_draws`` fixed draws (the first is the single draw above); the network
    (``models.PoolNet``) sets ``draw`` and averages its class probabilities over them."""

    name = "fracmax"
    summary = (
        "fractional max pooling: pseudo-random regions, output ratio 1/2; tested on the mean "
        "of test_draws draws"
    )
    source = "graham2014fractional"
    rf_kernel = 2
    rf_stride = 2
    rf_depends_on_size = True

    def __init__(
        self, channels: int, padding_mode: str = "zeros", kernel_size: int = 2, test_draws: int = 1
    ) -> None:
        super().__init__(channels, padding_mode)
        if test_draws < 1:
            raise ValueError(f"fracmax test_draws must be >= 1, got {test_draws}")
        self.kernel_size = kernel_size
        self.test_draws = test_draws
        self.draw = 0
        self.register_buffer("eval_samples", self.samples_for_evaluation(0), persistent=False)

    def samples_for_evaluation(self, seed: int) -> torch.Tensor:
        """``test_draws`` samples per channel, each a pair in [0, 1) (columns, rows), from a
        generator seeded with ``seed``: the regions this layer pools in evaluation."""
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(self.test_draws, self.channels, 2, generator=generator)

    def draw_for_evaluation(self, seed: int) -> None:
        """Draw the evaluation's regions again from ``seed``: ``models.PoolNet`` gives each
        layer of a network its own seed, so that its layers' regions are drawn independently,
        as Graham's are (with one seed, a layer's samples would repeat the first samples of
        the layer before)."""
        self.eval_samples = self.samples_for_evaluation(seed).to(self.eval_samples.device)

    @classmethod
    def rf_kernel_for(cls, options: dict) -> int:
        return options.get("kernel_size", 2)

    @classmethod
    def rf_input_span(
        cls, lo: int, hi: int, options: dict, dilation: int, size: int | None
    ) -> tuple[int, int]:
        """The union over every sample ``u`` in [0, 1) of PyTorch's regions: output row ``i``
        starts at ``floor((i + u) * a) - floor(u * a)`` with the step ``a = (size - k) /
        (out - 1)`` (``out = size // 2``), which lies between ``floor(a * i)`` and
        ``ceil(a * i)`` (in exact arithmetic); the last row starts at ``size - k``, no later
        than that. With ``k = 2`` on an even map the step is 2 and the regions are the 2x2
        grid's; otherwise the step differs from 2 and rows of different channels start up to
        one pixel apart."""
        k = cls.rf_kernel_for(options)
        out = size // 2
        if out <= 1:  # one region, the map's last k rows (borders ignored: one per map side)
            return lo * size + size - k, hi * size + size - 1
        step = Fraction(size - k, out - 1)
        return math.floor(step * lo), math.ceil(step * hi) + k - 1

    def forward(self, x):
        # PyTorch computes the regions' boundaries in the input's dtype; in bfloat16 (the GPU
        # path's autocast) they round away from float32's, so pool in at least float32
        # (exact for a maximum) and return the input's dtype.
        dtype = torch.promote_types(x.dtype, torch.float32)
        if self.training:
            pooled = F.fractional_max_pool2d(x.to(dtype), self.kernel_size, output_ratio=(0.5, 0.5))
        else:
            samples = self.eval_samples[self.draw].to(dtype)
            pooled = fractional_max(x.to(dtype), self.kernel_size, samples)
        return pooled.to(x.dtype)


class MaxBroadcast(Downsample):
    """Max without downsampling: the max of each non-overlapping ``kernel_size`` window is
    written back to every position of that window, so the resolution is unchanged (a partial
    window at the end of an odd side keeps its own max). Separates the nonlinearity of max
    pooling from its loss of resolution; the network dilates its later convolutions
    (``models.stage_dilations``) so that its receptive field reaches max pooling's."""

    name = "maxbroadcast"
    summary = (
        "2x2 window max written back to the window; later convolutions dilated to max "
        "pooling's receptive field"
    )
    rf_kernel = 2
    rf_stride = 1
    # As the answer that proposed it built it: the later layers see as far as after pooling.
    dilation_reference = "max"

    def __init__(self, channels: int, padding_mode: str = "zeros", kernel_size: int = 2) -> None:
        super().__init__(channels, padding_mode)
        self.kernel_size = kernel_size

    @classmethod
    def rf_kernel_for(cls, options: dict) -> int:
        return options.get("kernel_size", 2)

    @classmethod
    def rf_input_span(
        cls, lo: int, hi: int, options: dict, dilation: int, size: int | None
    ) -> tuple[int, int]:
        k = cls.rf_kernel_for(options)
        return lo // k * k, hi // k * k + k - 1

    def forward(self, x):
        k = self.kernel_size
        height, width = x.shape[-2:]
        if k == 2 and height % 2 == 0 and width % 2 == 0:
            pooled = max_2x2(x, stride=2)  # no partial windows: ceil_mode changes nothing
        else:
            pooled = F.max_pool2d(x, kernel_size=k, stride=k, ceil_mode=True)
        wide = F.interpolate(pooled, scale_factor=k, mode="nearest")
        return wide[..., :height, :width]


class DilatedNoPool(Downsample):
    """No downsampling, but the network dilates its convolutions (``models.stage_dilations``,
    as in Yu and Koltun's dilated convolutions, ICLR 2016) so that its receptive field reaches
    that of the max-pooling network of the same spec. The operator itself is the identity."""

    name = "none_rf"
    summary = "identity; dilated convolutions give the receptive field of max pooling"
    dilation_reference = "max"

    def forward(self, x):
        return x


class DeepNoPool(Downsample):
    """No downsampling; each stage repeats its (undilated) convolutions as many times as
    ``none_rf`` dilates them, so the network's receptive field reaches max pooling's with
    dense 3x3 kernels that weight every input pixel: the dense counterpart of ``none_rf``
    (VGG's stacks of 3x3 convolutions, Simonyan and Zisserman 2015), at the cost of depth,
    parameters and FLOPs. The operator itself is the identity."""

    name = "none_deep"
    summary = "identity; repeated 3x3 convolutions give the receptive field of max pooling"
    dilation_reference = "max"
    deep_stages = True

    def forward(self, x):
        return x


class ConvPool(StridedConv):
    """The ConvPool control of Springenberg et al. (2015, "Striving for Simplicity"): the same
    extra 3x3 convolution (+ BN + ReLU) as ``stride``, at stride 1, followed by 2x2 max
    pooling. Same parameters as ``stride``, so parameter count cannot be what ranks them."""

    name = "convpool"
    summary = "3x3 convolution (stride 1), then 2x2 max pooling: stride's parameters, max's pool"
    rf_kernel = 4  # the 3x3 convolution widens each 2x2 window by one pixel on each side
    rf_stride = 2
    conv_stride = 1

    def forward(self, x):
        return max_2x2(super().forward(x), stride=2)


class DilatedMax(Downsample):
    """2x2 max pooling with stride 1 and the stage's dilation, in a network whose stage ``s``
    is dilated by ``2**s`` ("a trous"): Giusti, Ciresan, Masci, Gambardella and Schmidhuber,
    "Fast image scanning with deep max-pooling convolutional neural networks" (ICIP 2013).
    It computes what max pooling's network computes, with the same weights, at every input
    position instead of every ``2**stages``-th: the same parameters, nonlinearity and
    receptive field as ``max``, without the loss of resolution. Windows reaching past the
    border are padded with -inf (so they take the max of what is inside)."""

    name = "maxdil"
    summary = "2x2 max pooling, stride 1, dilated 'a trous': max's network without downsampling"
    source = "giusti2013fast"
    rf_kernel = 2
    rf_stride = 1
    doubling_dilation = True

    def __init__(self, channels: int, padding_mode: str = "zeros", dilation: int = 1) -> None:
        super().__init__(channels, padding_mode)
        self.dilation = dilation

    @classmethod
    def rf_input_span(
        cls, lo: int, hi: int, options: dict, dilation: int, size: int | None
    ) -> tuple[int, int]:
        return lo, hi + dilation

    def forward(self, x):
        d = self.dilation
        if self.padding_mode == "circular":
            x = F.pad(x, (0, d, 0, d), mode="circular")
        else:
            x = F.pad(x, (0, d, 0, d), value=float("-inf"))
        return max_2x2(x, stride=1, dilation=d)


OPERATORS: dict[str, type[Downsample]] = {
    cls.name: cls
    for cls in (
        NoPool,
        MaxPool,
        AvgPool,
        LpPool,
        StridedConv,
        Subsample,
        BlurPool,
        AdaptivePolyphase,
        FractionalMaxPool,
        MaxBroadcast,
        DilatedNoPool,
        DeepNoPool,
        ConvPool,
        DilatedMax,
    )
}


def build_operator(
    name: str, channels: int, padding_mode: str = "zeros", dilation: int = 1, **options
) -> Downsample:
    """Instantiate the registered operator ``name`` for a map with ``channels`` channels;
    ``dilation`` (the stage's) reaches only operators with ``doubling_dilation``."""
    try:
        cls = OPERATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown pooling operator {name!r}; registered: {', '.join(OPERATORS)}"
        ) from None
    if cls.doubling_dilation:
        options = {**options, "dilation": dilation}
    return cls(channels, padding_mode=padding_mode, **options)
