"""A small VGG-style family whose downsampling operator comes from the registry.

``stages`` of (conv-BN-ReLU) x ``convs_per_stage``, the registered operator after each stage,
then a head: ``gap`` (global average pooling + linear) or ``flatten`` (flatten + linear,
whose size grows with the final feature map, so it is large without pooling).
The network standardises its own input (mean/std buffers from the training split), so it
takes images as floats in [0, 1] and every shift protocol can work on those.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from poolstudy.pooling import OPERATORS, build_operator

HEADS = ("gap", "flatten")


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a network: saved beside its weights."""

    operator: str
    in_channels: int
    num_classes: int
    image_size: int
    widths: tuple[int, ...] = (16, 32, 64)
    convs_per_stage: int = 1
    kernel_size: int = 3
    head: str = "gap"
    padding_mode: str = "zeros"
    operator_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(
                f"unknown pooling operator {self.operator!r}; registered: {', '.join(OPERATORS)}"
            )
        if self.head not in HEADS:
            raise ValueError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        return cls(**data)


class _SpatialMean(torch.autograd.Function):
    """The mean over height and width, whose gradient keeps the input's memory format."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        ctx.memory_format = (
            torch.channels_last
            if x.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        return x.mean((-1, -2), keepdim=True)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        n, c, h, w = ctx.shape
        # the values of mean's own backward (the gradient divided by h * w, spread over the map)
        return (grad / (h * w)).expand(n, c, h, w).contiguous(memory_format=ctx.memory_format)


class GlobalAvgPool(nn.Module):
    """Global average pooling to a 1x1 map: ``nn.AdaptiveAvgPool2d(1)``'s values, in both
    directions, with a gradient in the input's memory format. PyTorch's backward of the mean
    returns NCHW whatever the input's layout, so on channels_last features every layer below
    converts it back: measured on the CPU (1 thread, batch 64), that cost a full-resolution
    network (``maxdil``, ``none_rf``) about 30 % of its training step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SpatialMean.apply(x)


def conv_block(
    c_in: int, c_out: int, kernel_size: int, padding_mode: str, dilation: int
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            c_in,
            c_out,
            kernel_size,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            bias=False,
            padding_mode=padding_mode,
        ),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class PoolNet(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.register_buffer("mean", torch.zeros(1, spec.in_channels, 1, 1))
        self.register_buffer("std", torch.ones(1, spec.in_channels, 1, 1))
        stages = []
        c_in = spec.in_channels
        deep = OPERATORS[spec.operator].deep_stages
        for width, dilation in zip(spec.widths, stage_dilations(spec), strict=True):
            layers = []
            # d undilated convolutions widen the receptive field as much as one dilated by d.
            repeats, conv_dilation = (dilation, 1) if deep else (1, dilation)
            for _ in range(spec.convs_per_stage * repeats):
                layers.append(
                    conv_block(c_in, width, spec.kernel_size, spec.padding_mode, conv_dilation)
                )
                c_in = width
            layers.append(
                build_operator(
                    spec.operator,
                    width,
                    padding_mode=spec.padding_mode,
                    dilation=dilation,
                    **spec.operator_options,
                )
            )
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        # operators that pool fixed random regions in evaluation: each layer its own seed
        drawing = [m for m in self.stages.modules() if hasattr(m, "draw_for_evaluation")]
        for seed, module in enumerate(drawing):
            module.draw_for_evaluation(seed)
        # operators that average several test-time draws (a plain list: not registered twice)
        self.drawing_operators = [
            m for m in self.stages.modules() if getattr(m, "test_draws", 1) > 1
        ]
        final_size = feature_map_sizes_of(self.stages, spec)[-1]
        if spec.head == "gap":
            self.head = nn.Sequential(
                GlobalAvgPool(), nn.Flatten(), nn.Linear(c_in, spec.num_classes)
            )
        else:
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(c_in * final_size * final_size, spec.num_classes)
            )

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean.reshape(self.mean.shape))
        self.std.copy_(std.reshape(self.std.shape))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.drawing_operators:
            return self.head(self.features(x))
        return self.averaged_over_draws(x, self.drawing_operators)

    def averaged_over_draws(self, x: torch.Tensor, operators: list[nn.Module]) -> torch.Tensor:
        """Log of the class probabilities averaged over the operators' test-time draws
        (Graham 2014 for fractional max pooling): every operator takes its ``k``-th draw in the
        ``k``-th pass. Log-probabilities are logits of the averaged probabilities."""
        count = max(m.test_draws for m in operators)
        passes = []
        try:
            for k in range(count):
                for m in operators:
                    m.draw = k % m.test_draws
                passes.append(torch.log_softmax(self.head(self.features(x)).float(), dim=1))
        finally:
            for m in operators:
                m.draw = 0
        return torch.logsumexp(torch.stack(passes), dim=0) - math.log(count)


def feature_map_sizes_of(stages: nn.ModuleList, spec: ModelSpec) -> list[int]:
    """Side length of the feature map after each stage, measured by a forward pass."""
    sizes = []
    with torch.no_grad():
        x = torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size)
        was_training = stages.training
        stages.eval()
        for stage in stages:
            x = stage(x)
            sizes.append(int(x.shape[-1]))
        stages.train(was_training)
    return sizes


def build_model(spec: ModelSpec) -> PoolNet:
    return PoolNet(spec)


def receptive_field(spec: ModelSpec) -> int:
    """Receptive field (pixels, one side) of a unit after the last stage, computed analytically:
    the largest extent of the input that one unit depends on, borders ignored.

    The rows a unit depends on are carried back through the layers: a convolution with kernel
    k and dilation d widens them by d * (k - 1); an operator maps them with its
    ``rf_input_span``. For the usual kernel/stride layers this is the recurrence of Araujo et
    al., "Computing receptive fields of CNNs" (Distill 2019), and every unit gets the same
    extent; where the extent depends on the unit's position (``maxbroadcast``'s aligned
    windows), the largest one over a full period of positions is taken, and where the
    operator's step depends on the map's size (``fracmax``), the largest one over the last
    map's positions, each operator bounding the union of its regions over every sample.
    """
    return _receptive_field(spec, stage_dilations(spec))


def _receptive_field(spec: ModelSpec, dilations) -> int:
    operator = OPERATORS[spec.operator]
    options = spec.operator_options
    kernel = spec.kernel_size
    positions = max(operator.rf_kernel_for(options), operator.rf_stride) ** len(dilations)
    sizes: list[int | None] = [None] * len(dilations)
    if operator.rf_depends_on_size:
        # the side of each stage's operator input (convolutions keep it), and the positions
        # of the last map: the extent does not repeat with a period. Building the network
        # draws its weights from the global generator, which a training run about to start
        # must find as its seed left it.
        with torch.random.fork_rng(devices=[]):
            outputs = feature_map_sizes_of(build_model(spec).stages, spec)
        sizes = [spec.image_size, *outputs[:-1]]
        positions = outputs[-1]
    largest = 0
    for position in range(positions):
        lo = hi = position
        for dilation, size in zip(reversed(dilations), reversed(sizes), strict=True):
            lo, hi = operator.rf_input_span(lo, hi, options, dilation, size)
            lo -= spec.convs_per_stage * dilation * (kernel // 2)
            hi += spec.convs_per_stage * dilation * (kernel - 1 - kernel // 2)
        largest = max(largest, hi - lo + 1)
    return largest


def stage_dilations(spec: ModelSpec) -> tuple[int, ...]:
    """Dilation of the convolutions of each stage.

    1 everywhere, unless the operator names a ``dilation_reference``: then, stage after stage,
    the smallest dilation (>= 1) with which the receptive field after that stage is at least
    that of the reference operator's network (same spec, default options) after the same
    stage, which is the closest reachable value at or above it. Where one more dilation adds
    ``convs_per_stage * (kernel_size - 1)`` to the field, a stage overshoots by less than that
    step, and the final receptive field equals the reference's when the difference is a
    multiple of it (with odd kernels and 2x2 max pooling the reference's field is even and
    a dilated network's is odd, so it ends up exactly one pixel larger); ``maxbroadcast``'s
    aligned windows make the field grow in larger jumps (its network can end a step or more
    above max pooling's).
    """
    operator = OPERATORS[spec.operator]
    reference = operator.dilation_reference
    count = len(spec.widths)
    if operator.doubling_dilation:
        return tuple(2**stage for stage in range(count))
    if reference is None or spec.kernel_size == 1:
        return (1,) * count
    dilations: list[int] = []
    for stage in range(1, count + 1):
        widths = spec.widths[:stage]
        target = receptive_field(
            replace(spec, operator=reference, operator_options={}, widths=widths)
        )
        dilation = 1
        while _receptive_field(spec, (*dilations, dilation)) < target:
            dilation += 1
        dilations.append(dilation)
    return tuple(dilations)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: PoolNet) -> int:
    """Forward FLOPs per image at test time (2 per multiply-add; pooling, BN and activations
    not counted), counted on one zero image by PyTorch's own formulas
    (``torch.utils.flop_counter``): every pass of the test-time draws that the network
    averages (``test_draws``), as its evaluation runs them."""
    spec = model.spec
    was_training = model.training
    model.eval()
    counter = _flop_counting_mode()
    with counter, torch.no_grad():
        model(torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size))
    model.train(was_training)
    return int(counter.total)


def draw_count(model: PoolNet) -> int:
    """Forward passes per image at test time: the most test-time draws of an operator of the
    network (``PoolNet.averaged_over_draws``), 1 without such operators."""
    return max((m.test_draws for m in model.drawing_operators), default=1)


def flop_counts(model: PoolNet) -> tuple[int, int]:
    """Forward FLOPs per image at test time (``count_flops``) and of one pass, as training
    runs it: the first over the test-time draws, each a full pass of the same network;
    counted once."""
    flops = count_flops(model)
    return flops, flops // draw_count(model)


def _flop_counting_mode():
    """A dispatch mode that adds up what ``FlopCounterMode`` would count: the operators in
    PyTorch's FLOP registry, others decomposed where they can be, as that mode does. It
    tracks no modules (only the total is needed), and its dispatch is not wrapped to keep
    Dynamo out (nothing here is compiled): that wrapper imports Dynamo on first use, a second
    of every training job's start. Imported here: the FLOP counter's module pulls in triton,
    which would cost every evaluation job a third of a second."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopCounting(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False

        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func not in flop_registry and func is not torch.ops.prim.device.default:
                with self:
                    decomposed = func.decompose(*args, **kwargs)
                if decomposed is not NotImplemented:
                    return decomposed
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return FlopCounting()


def describe(model: PoolNet) -> dict:
    """Accounting for the paper: parameters, FLOPs, receptive field, feature-map sizes."""
    return {
        "parameters": count_parameters(model),
        "flops": count_flops(model),
        "receptive_field": receptive_field(model.spec),
        "feature_map_sizes": feature_map_sizes_of(model.stages, model.spec),
    }
