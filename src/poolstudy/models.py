"""A small VGG-style family whose downsampling operator comes from the registry.

``stages`` of (conv-BN-ReLU) x ``convs_per_stage``, the registered operator after each stage,
then a head: ``gap`` (global average pooling + linear) or ``flatten`` (flatten + linear,
whose size grows with the final feature map, so it is large without pooling).
The network standardises its own input (mean/std buffers from the training split), so it
takes images as floats in [0, 1] and every shift protocol can work on those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

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


def conv_block(c_in: int, c_out: int, kernel_size: int, padding_mode: str) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            c_in,
            c_out,
            kernel_size,
            padding=kernel_size // 2,
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
        for width in spec.widths:
            layers = []
            for _ in range(spec.convs_per_stage):
                layers.append(conv_block(c_in, width, spec.kernel_size, spec.padding_mode))
                c_in = width
            layers.append(
                build_operator(
                    spec.operator, width, padding_mode=spec.padding_mode, **spec.operator_options
                )
            )
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        final_size = feature_map_sizes_of(self.stages, spec)[-1]
        if spec.head == "gap":
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, spec.num_classes)
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
        return self.head(self.features(x))


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
    """Receptive field (pixels, one side) of a unit after the last stage, computed analytically.

    Each layer with kernel k adds (k - 1) * jump, where jump is the product of the strides
    before it (Araujo et al., "Computing receptive fields of CNNs", Distill 2019).
    """
    operator = OPERATORS[spec.operator]
    field_size, jump = 1, 1
    for _ in spec.widths:
        for _ in range(spec.convs_per_stage):
            field_size += (spec.kernel_size - 1) * jump
        field_size += (operator.rf_kernel - 1) * jump
        jump *= operator.rf_stride
    return field_size


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: PoolNet) -> int:
    """Forward FLOPs per image (2 per multiply-add; pooling, BN and activations not counted)."""
    spec = model.spec
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size))
    model.train(was_training)
    return int(counter.get_total_flops())


def describe(model: PoolNet) -> dict:
    """Accounting for the paper: parameters, FLOPs, receptive field, feature-map sizes."""
    return {
        "parameters": count_parameters(model),
        "flops": count_flops(model),
        "receptive_field": receptive_field(model.spec),
        "feature_map_sizes": feature_map_sizes_of(model.stages, model.spec),
    }
