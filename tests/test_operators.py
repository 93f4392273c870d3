"""The downsampling operators one by one, and the shift behaviour of their networks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from poolstudy.evaluate import shift_consistency
from poolstudy.models import ModelSpec, build_model
from poolstudy.pooling import OPERATORS, binomial_filter, build_operator

CHANNELS = 3
REPO = Path(__file__).resolve().parents[1]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
    ),
]


def test_registry_order():
    assert list(OPERATORS) == [
        "none",
        "max",
        "avg",
        "lp",
        "stride",
        "subsample",
        "blur",
        "aps",
        "fracmax",
        "maxbroadcast",
        "none_rf",
        "none_deep",
        "convpool",
        "maxdil",
    ]


def test_every_source_is_a_key_of_the_bibliography():
    bibliography = (REPO / "paper" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,\s]+),", bibliography, flags=re.MULTILINE))
    sources = {name: OPERATORS[name].source for name in OPERATORS}
    assert {name: key for name, key in sources.items() if key and key not in keys} == {}


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("size", [7, 9, 15])
@pytest.mark.parametrize("device", DEVICES)
def test_odd_sizes_batch_of_one_finite_outputs_and_gradients(name, size, device):
    torch.manual_seed(0)
    operator = build_operator(name, CHANNELS).to(device).train()
    x = torch.randn(1, CHANNELS, size, size, device=device, requires_grad=True)
    y = operator(x)
    assert y.shape[:2] == (1, CHANNELS)
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    for parameter in operator.parameters():
        assert torch.isfinite(parameter.grad).all()
    with torch.no_grad():
        assert torch.isfinite(operator.eval()(x)).all()


@pytest.mark.parametrize("name", list(OPERATORS))
def test_only_operators_with_weights_or_random_regions_depend_on_the_seed(name):
    """In training, the same seed gives the same output and input gradient; another seed
    gives others exactly when the operator has weights to initialise or (fracmax) draws its
    pooling regions."""
    x = torch.randn(2, CHANNELS, 15, 15)
    runs = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        operator = build_operator(name, CHANNELS).train()
        inputs = x.clone().requires_grad_(True)
        y = operator(inputs)
        y.square().sum().backward()
        runs.append((y.detach(), inputs.grad))
        drawn = bool(list(operator.parameters())) or name == "fracmax"
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert (not torch.equal(runs[0][0], runs[2][0])) == drawn


def test_subsample_keeps_every_second_pixel():
    x = torch.randn(2, CHANNELS, 9, 8)
    assert torch.equal(build_operator("subsample", CHANNELS)(x), x[..., ::2, ::2])


# ---- Lp pooling -------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize("size", [8, 9])
def test_lp_equals_lppool2d_on_non_negative_inputs(p, size):
    x = torch.rand(2, CHANNELS, size, size) + 0.01
    expected = nn.LPPool2d(p, kernel_size=2, stride=2)(x)
    torch.testing.assert_close(build_operator("lp", CHANNELS, p=p)(x), expected)


def test_lp_default_is_the_l2_norm_of_each_window():
    x = torch.randn(1, 1, 2, 2)
    y = build_operator("lp", 1)(x)
    torch.testing.assert_close(y.flatten(), x.flatten().norm().reshape(1))


def test_lp_gradient_is_finite_on_zeros():
    x = torch.zeros(2, CHANNELS, 8, 8, requires_grad=True)
    y = build_operator("lp", CHANNELS)(x)
    assert torch.all(y.abs() < 1e-12)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad, torch.zeros_like(x))


def test_lp_gradient_is_finite_after_relu_with_zero_windows():
    x = torch.randn(2, CHANNELS, 8, 8)
    x[..., :4, :4] = -1.0
    x.requires_grad_(True)
    build_operator("lp", CHANNELS)(torch.relu(x)).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_lp_rejects_p_below_one():
    with pytest.raises(ValueError, match="p >= 1"):
        build_operator("lp", CHANNELS, p=0.5)


# ---- blur pooling -----------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 8))
def test_blur_filter_is_the_normalised_binomial(size):
    kernel = binomial_filter(size)
    row = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float64)
    expected = torch.outer(row, row) / 4 ** (size - 1)
    assert kernel.shape == (size, size)
    torch.testing.assert_close(kernel.double(), expected, rtol=0, atol=1e-7)
    torch.testing.assert_close(kernel.sum(), torch.tensor(1.0))
    assert torch.equal(kernel, kernel.T)
    assert torch.equal(kernel, kernel.flip(0))
    operator = build_operator("blur", CHANNELS, filter_size=size)
    assert torch.equal(operator.filter, kernel.expand(CHANNELS, 1, size, size))
    assert "filter" in dict(operator.named_buffers())
    assert not list(operator.parameters())


@pytest.mark.parametrize("size", [0, 8, 2.0])
def test_blur_rejects_bad_filter_sizes(size):
    with pytest.raises(ValueError, match="1 to 7"):
        build_operator("blur", CHANNELS, filter_size=size)


def blur_by_hand(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Zhang's max-blur-pool written out: max 2x2 stride 1, pad, binomial filter, stride 2."""
    if mode == "circular":
        x = F.pad(x, (0, 1, 0, 1), mode="circular")
    x = F.max_pool2d(x, kernel_size=2, stride=1)
    row = torch.tensor([float(math.comb(size - 1, i)) for i in range(size)])
    kernel = torch.outer(row, row) / row.sum() ** 2
    left, right = (size - 1) // 2, size // 2
    x = F.pad(x, (left, right, left, right), mode=mode)
    weight = kernel.expand(x.shape[1], 1, size, size)
    return F.conv2d(x, weight, stride=2, groups=x.shape[1])


@pytest.mark.parametrize("filter_size", [2, 3, 4, 5])
@pytest.mark.parametrize("size", [8, 9, 16])
@pytest.mark.parametrize(
    ("padding_mode", "pad_mode"),
    [("zeros", "reflect"), ("circular", "circular"), ("replicate", "replicate")],
)
def test_blur_equals_zhangs_recipe(filter_size, size, padding_mode, pad_mode):
    x = torch.randn(2, CHANNELS, size, size)
    operator = build_operator("blur", CHANNELS, padding_mode, filter_size=filter_size)
    torch.testing.assert_close(operator(x), blur_by_hand(x, filter_size, pad_mode))


@pytest.mark.parametrize("size", [8, 9])
def test_blur_of_size_one_is_max_pooling(size):
    x = torch.randn(2, CHANNELS, size, size)
    y = build_operator("blur", CHANNELS, filter_size=1)(x)
    assert torch.equal(y, F.max_pool2d(x, kernel_size=2, stride=2))


def test_blur_smooths_a_checkerboard_that_subsampling_aliases():
    rows = torch.arange(16)
    board = ((rows[:, None] + rows[None, :]) % 2).float().expand(1, 1, 16, 16)
    shifted = torch.roll(board, 1, dims=-1)
    blur = build_operator("blur", 1, "circular")
    torch.testing.assert_close(blur(board), blur(shifted))
    subsample = build_operator("subsample", 1)
    assert not torch.equal(subsample(board), subsample(shifted))


# ---- adaptive polyphase sampling --------------------------------------------------------


def test_aps_keeps_the_component_with_the_largest_norm_per_sample():
    torch.manual_seed(0)
    x = torch.rand(4, CHANNELS, 8, 8)
    phases = [(0, 0), (0, 1), (1, 0), (1, 1)]
    for sample, (i, j) in enumerate(phases):
        x[sample, :, i::2, j::2] += 1.0
    y = build_operator("aps", CHANNELS)(x)
    for sample, (i, j) in enumerate(phases):
        assert torch.equal(y[sample], x[sample, :, i::2, j::2])


def test_aps_ties_go_to_the_first_phase():
    x = torch.ones(2, CHANNELS, 6, 6)
    x[1, :, 1::2, 1::2] = -1.0
    y = build_operator("aps", CHANNELS)(x)
    assert torch.equal(y, x[..., ::2, ::2])


@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_aps_pads_odd_sizes_circularly(padding_mode):
    torch.manual_seed(0)
    x = torch.rand(3, CHANNELS, 7, 9)
    y = build_operator("aps", CHANNELS, padding_mode)(x)
    padded = F.pad(x, (0, 1, 0, 1), mode="circular")
    candidates = [padded[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
    assert y.shape == (3, CHANNELS, 4, 5)
    for sample in range(3):
        norms = [c[sample].norm() for c in candidates]
        assert torch.equal(y[sample], candidates[int(torch.stack(norms).argmax())][sample])


def test_aps_with_blur_blurs_first():
    torch.manual_seed(0)
    x = torch.rand(2, CHANNELS, 8, 8)
    operator = build_operator("aps", CHANNELS, "circular", blur_size=3)
    weight = binomial_filter(3).expand(CHANNELS, 1, 3, 3)
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), weight, groups=CHANNELS)
    expected = build_operator("aps", CHANNELS, "circular")(blurred)
    torch.testing.assert_close(operator(x), expected)


@pytest.mark.parametrize("shift", [(0, 1), (1, 0), (1, 1), (3, 2)])
def test_aps_output_is_a_circular_shift_of_the_unshifted_output(shift):
    torch.manual_seed(0)
    x = torch.rand(2, CHANNELS, 8, 8)
    aps = build_operator("aps", CHANNELS)
    y, z = aps(x), aps(torch.roll(x, shift, dims=(-2, -1)))
    for sample in range(2):
        assert any(
            torch.equal(torch.roll(y[sample], (a, b), dims=(-2, -1)), z[sample])
            for a in range(4)
            for b in range(4)
        )


def circular_net(operator: str, **changes) -> nn.Module:
    values = dict(
        operator=operator,
        in_channels=1,
        num_classes=5,
        image_size=32,
        widths=(4, 8, 8),
        padding_mode="circular",
        head="gap",
    )
    values.update(changes)
    torch.manual_seed(0)
    return build_model(ModelSpec(**values)).eval()


SHIFTS = [(1, 3), (3, 1), (1, 0), (0, 5), (2, 2), (5, 7), (8, 0), (0, 8), (8, 16), (-8, 24)]


def logit_change(model: nn.Module, x: torch.Tensor, shift: tuple[int, int]) -> float:
    with torch.no_grad():
        moved = model(torch.roll(x, shift, dims=(-2, -1)))
        return float((moved - model(x)).abs().max())


@pytest.mark.parametrize("shift", SHIFTS)
def test_circular_aps_network_is_invariant_to_every_circular_shift(shift):
    x = torch.rand(8, 1, 32, 32)
    assert logit_change(circular_net("aps"), x, shift) < 1e-5


def test_circular_max_network_is_not_invariant_to_every_shift():
    x = torch.rand(8, 1, 32, 32)
    model = circular_net("max")
    assert logit_change(model, x, (8, 16)) < 1e-5
    assert max(logit_change(model, x, shift) for shift in SHIFTS) > 1e-3


def test_circular_aps_network_is_fully_consistent():
    images = torch.rand(256, 1, 32, 32)
    value = shift_consistency(
        circular_net("aps"), images, "circular", 4, 0, 512, torch.device("cpu")
    )
    assert value == 100.0


@pytest.mark.parametrize("operator", list(OPERATORS))
def test_circular_networks_are_equivariant_to_shifts_by_the_total_stride(operator):
    x = torch.rand(4, 1, 32, 32)
    model = circular_net(operator)
    for shift in [(8, 0), (0, 8), (8, 24), (16, -8)]:
        assert logit_change(model, x, shift) < 1e-5


@pytest.mark.parametrize("operator", ["blur", "stride", "aps", "none_rf"])
def test_zero_padded_networks_are_not_circular(operator):
    x = torch.rand(4, 1, 32, 32)
    model = circular_net(operator, padding_mode="zeros")
    assert logit_change(model, x, (8, 8)) > 1e-5


# ---- fractional max pooling -------------------------------------------------------------


def test_fracmax_eval_is_deterministic_and_independent_of_the_batch():
    torch.manual_seed(0)
    operator = build_operator("fracmax", CHANNELS).eval()
    x = torch.randn(1, CHANNELS, 15, 15)
    batch = torch.cat([x, torch.randn(2, CHANNELS, 15, 15), x])
    with torch.no_grad():
        alone, again, together = operator(x), operator(x), operator(batch)
    assert torch.equal(alone, again)
    assert torch.equal(together[0], together[3])
    assert torch.equal(together[:1], alone)
    torch.manual_seed(1)
    other = build_operator("fracmax", CHANNELS).eval()
    with torch.no_grad():
        assert torch.equal(other(x), alone)


def test_fracmax_training_draws_new_regions():
    torch.manual_seed(0)
    operator = build_operator("fracmax", CHANNELS).train()
    x = torch.randn(4, CHANNELS, 15, 15)
    with torch.no_grad():
        outputs = [operator(x) for _ in range(4)]
    assert outputs[0].shape == (4, CHANNELS, 7, 7)
    assert any(not torch.equal(outputs[0], y) for y in outputs[1:])


@pytest.mark.parametrize("training", [False, True])
def test_fracmax_on_even_sizes_is_max_pooling(training):
    # Output ratio 1/2 and 2x2 regions on an even side: the region starts advance by
    # alpha = (n - 2) / (n / 2 - 1) = 2 exactly, so the regions are the regular grid.
    x = torch.randn(2, CHANNELS, 16, 16)
    y = build_operator("fracmax", CHANNELS).train(training)(x)
    assert torch.equal(y, F.max_pool2d(x, kernel_size=2, stride=2))


def test_fracmax_with_overlapping_regions_differs_from_max():
    torch.manual_seed(0)
    x = torch.randn(2, CHANNELS, 16, 16)
    y = build_operator("fracmax", CHANNELS, kernel_size=3).eval()(x)
    assert y.shape == (2, CHANNELS, 8, 8)
    assert not torch.equal(y, F.max_pool2d(x, kernel_size=2, stride=2))


# ---- max without downsampling -----------------------------------------------------------


@pytest.mark.parametrize("size", [8, 16])
def test_maxbroadcast_equals_upsampled_max_pooling(size):
    x = torch.randn(2, CHANNELS, size, size)
    y = build_operator("maxbroadcast", CHANNELS)(x)
    expected = F.interpolate(F.max_pool2d(x, 2), scale_factor=2, mode="nearest")
    assert torch.equal(y, expected)


@pytest.mark.parametrize(("height", "width"), [(7, 9), (9, 9), (15, 8)])
def test_maxbroadcast_keeps_odd_shapes_and_handles_the_partial_window(height, width):
    x = torch.randn(2, CHANNELS, height, width)
    y = build_operator("maxbroadcast", CHANNELS)(x)
    assert y.shape == x.shape
    padded = F.pad(x, (0, width % 2, 0, height % 2), value=-math.inf)
    expected = F.interpolate(F.max_pool2d(padded, 2), scale_factor=2, mode="nearest")
    assert torch.equal(y, expected[..., :height, :width])


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_maxbroadcast_with_larger_windows(kernel_size):
    x = torch.randn(1, CHANNELS, 47, 45)
    y = build_operator("maxbroadcast", CHANNELS, kernel_size=kernel_size)(x)
    pooled = F.max_pool2d(x, kernel_size, ceil_mode=True)
    wide = pooled.repeat_interleave(kernel_size, -2).repeat_interleave(kernel_size, -1)
    assert torch.equal(y, wide[..., :47, :45])


# ---- no downsampling, dilated convolutions ----------------------------------------------


def test_none_rf_operator_is_the_identity():
    x = torch.randn(2, CHANNELS, 7, 9)
    assert torch.equal(build_operator("none_rf", CHANNELS)(x), x)
    assert OPERATORS["none_rf"].dilation_reference == "max"


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_every_network_runs_on_a_device_other_than_the_cpu(name, mode):
    """On PyTorch's ``meta`` device (shapes without data): a tensor that a layer makes on the
    CPU instead of its input's device fails here as it would on a GPU (fractional max pooling's
    regions, in evaluation, once did)."""
    spec = ModelSpec(operator=name, in_channels=1, num_classes=10, image_size=16, widths=[4, 8])
    model = getattr(build_model(spec).to("meta"), mode)()
    with torch.set_grad_enabled(mode == "train"):
        out = model(torch.zeros(2, 1, 16, 16, device="meta"))
    assert out.device.type == "meta" and out.shape == (2, 10)
