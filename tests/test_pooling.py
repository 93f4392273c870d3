"""The downsampling-operator registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from poolstudy import maxima
from poolstudy.maxima import fractional_max, max_2x2
from poolstudy.pooling import OPERATORS, Downsample, build_operator

CHANNELS = 3


FLOOR = ("max", "avg", "lp", "blur", "fracmax", "convpool")
CEIL = ("stride", "subsample", "aps")


def expected_side(name: str, size: int) -> int:
    stride = OPERATORS[name].rf_stride
    if stride == 1:
        return size
    if name in FLOOR:
        return size // stride
    if name in CEIL:
        return -(-size // stride)
    raise AssertionError(f"no expected size for operator {name!r}; add it to this test")


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("size", [8, 9, 7])
def test_output_shape_shrinks_by_the_declared_stride(name, size):
    """Evaluation on a batch, and training on a batch of one (batch norm and random regions
    must cope), give the side ``rf_stride`` declares: floor or ceiling by operator."""
    torch.manual_seed(0)
    operator = build_operator(name, CHANNELS)
    x = torch.rand(2, CHANNELS, size, size + 1)
    expected = (expected_side(name, size), expected_side(name, size + 1))
    with torch.no_grad():
        assert operator.eval()(x).shape == (2, CHANNELS, *expected)
    assert operator.train()(x[:1]).shape == (1, CHANNELS, *expected)


def test_none_is_identity():
    x = torch.randn(2, CHANNELS, 7, 9)
    y = build_operator("none", CHANNELS)(x)
    assert torch.equal(y, x)


@pytest.mark.parametrize("size", [8, 9, 7])
def test_max_equals_functional(size):
    x = torch.randn(2, CHANNELS, size, size)
    y = build_operator("max", CHANNELS)(x)
    assert torch.equal(y, F.max_pool2d(x, kernel_size=2, stride=2))


def awkward_maps(height: int, width: int) -> torch.Tensor:
    """Maps with ties (ReLU's zeros), NaN and infinities, in channels-last memory."""
    x = torch.randn(3, CHANNELS, height, width).relu()
    x[0, 0, 0, 0] = float("nan")
    x[1, 1, -1, -1] = float("-inf")
    x[2, 2, 1, 0] = float("inf")
    return x.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(("stride", "dilation"), [(2, 1), (1, 1), (1, 2), (1, 4)])
@pytest.mark.parametrize(("height", "width"), [(8, 8), (9, 7), (5, 6), (6, 5)])
def test_max_2x2_without_gradient_equals_max_pooling(stride, dilation, height, width):
    x = awkward_maps(height, width)
    expected = F.max_pool2d(x, kernel_size=2, stride=stride, dilation=dilation)
    with torch.no_grad():
        y = max_2x2(x, stride=stride, dilation=dilation)
    assert y.shape == expected.shape
    assert torch.equal(y.nan_to_num(), expected.nan_to_num())
    assert torch.equal(y.isnan(), expected.isnan())


def refuse_the_pooling_kernel(monkeypatch):
    """From here on, a call of PyTorch's max pooling in ``pooling`` fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the pooling kernel ran")

    monkeypatch.setattr(maxima.F, "max_pool2d", refuse)


def test_max_2x2_without_gradient_does_not_run_the_pooling_kernel(monkeypatch):
    x = awkward_maps(8, 8).requires_grad_(True)
    expected = F.max_pool2d(x, kernel_size=2, stride=2).detach()
    refuse_the_pooling_kernel(monkeypatch)
    with torch.no_grad():
        y = max_2x2(x, stride=2)
    assert torch.equal(y.nan_to_num(), expected.nan_to_num())
    with pytest.raises(AssertionError, match="kernel ran"):
        max_2x2(x, stride=2)  # a gradient is needed: PyTorch's kernel
    # the benchmarks' baselines: PyTorch's kernel everywhere, until the context ends
    with pytest.raises(AssertionError, match="kernel ran"), torch.no_grad():
        with maxima.pooling_kernel_everywhere():
            max_2x2(x, stride=2)
    with torch.no_grad():
        assert torch.equal(max_2x2(x, stride=2).nan_to_num(), expected.nan_to_num())


@pytest.mark.parametrize(("stride", "dilation"), [(2, 1), (1, 2)])
def test_max_2x2_sends_the_gradient_where_max_pooling_does(stride, dilation):
    x = torch.randn(2, CHANNELS, 7, 8).relu().requires_grad_(True)  # ties at zero
    weights = torch.randn_like(F.max_pool2d(x, 2, stride=stride, dilation=dilation))
    (ours,) = torch.autograd.grad((max_2x2(x, stride, dilation) * weights).sum(), x)
    (theirs,) = torch.autograd.grad(
        (F.max_pool2d(x, 2, stride=stride, dilation=dilation) * weights).sum(), x
    )
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize(("stride", "dilation"), [(2, 1), (1, 1), (1, 2)])
@pytest.mark.parametrize("tall", [False, True])
def test_max_2x2_of_the_smallest_maps_takes_the_views_too(stride, dilation, tall, monkeypatch):
    # one output row (or column): the views, not PyTorch's kernel, still compute it
    x = awkward_maps(*((dilation + 2, dilation + 1) if tall else (dilation + 1, dilation + 2)))
    expected = F.max_pool2d(x, 2, stride=stride, dilation=dilation)
    too_small = x[..., :dilation] if tall else x[..., :dilation, :]
    with pytest.raises(RuntimeError), torch.no_grad():  # smaller than the window
        max_2x2(too_small, stride, dilation)
    refuse_the_pooling_kernel(monkeypatch)
    with torch.no_grad():
        y = max_2x2(x, stride, dilation)
    assert y.shape == expected.shape
    assert torch.equal(y.nan_to_num(), expected.nan_to_num())


def test_maxbroadcast_without_gradient_does_not_run_the_pooling_kernel(monkeypatch):
    x = awkward_maps(8, 6).requires_grad_(True)
    operator = build_operator("maxbroadcast", CHANNELS)
    expected = operator(x)  # a gradient is needed: PyTorch's kernel
    refuse_the_pooling_kernel(monkeypatch)
    with torch.no_grad():
        y = operator(x)
    assert torch.equal(y.nan_to_num(), expected.detach().nan_to_num())
    with pytest.raises(AssertionError, match="kernel ran"), torch.no_grad():
        operator(x[..., :7, :])  # a partial window: PyTorch's kernel (ceil mode)


def fractional_samples(channels: int, seed: int) -> torch.Tensor:
    return torch.rand(channels, 2, generator=torch.Generator().manual_seed(seed))


def pytorch_fractional_max(x, kernel_size, samples):
    repeated = samples.expand(x.shape[0], -1, -1).contiguous()
    return F.fractional_max_pool2d(
        x, kernel_size, output_ratio=(0.5, 0.5), _random_samples=repeated
    )


@pytest.mark.parametrize("kernel_size", [2, 3])
@pytest.mark.parametrize(("height", "width"), [(16, 16), (15, 17), (32, 9), (5, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fractional_max_equals_pytorchs_kernel(kernel_size, height, width, dtype):
    # many draws: the regions' boundaries come from float arithmetic that must round as
    # PyTorch's does, or some draws move a boundary by one pixel
    x = awkward_maps(height, width).to(dtype)
    for seed in range(40):
        samples = fractional_samples(CHANNELS, seed).to(dtype)
        expected = pytorch_fractional_max(x, kernel_size, samples)
        with torch.no_grad():
            y = fractional_max(x, kernel_size, samples)
        assert y.shape == expected.shape and y.dtype == dtype
        assert torch.equal(y.isnan(), expected.isnan())
        assert torch.equal(y.nan_to_num(), expected.nan_to_num()), seed


def test_fractional_max_rounds_the_region_boundaries_in_float32_as_pytorch_does():
    # rare draws put a boundary one pixel elsewhere when the arithmetic is done in float64:
    # find some on a 32-pixel map, then compare with PyTorch's kernel on exactly those
    draws = torch.rand(200_000, generator=torch.Generator().manual_seed(1))
    single = maxima.fractional_region_starts(draws, 32, 16, 3)
    double = maxima.fractional_region_starts(draws.double(), 32, 16, 3)
    sensitive = draws[(single != double).any(dim=1)]
    assert len(sensitive) >= 1
    samples = torch.stack([sensitive[:1].expand(CHANNELS), torch.full((CHANNELS,), 0.5)], 1)
    x = torch.randn(2, CHANNELS, 32, 32)
    with torch.no_grad():
        y = fractional_max(x, 3, samples)
        y_double = fractional_max(x.double(), 3, samples.double())
    assert torch.equal(y, pytorch_fractional_max(x, 3, samples))
    # in float64 PyTorch's arithmetic is float64's, and the boundary moves with it
    assert torch.equal(y_double, pytorch_fractional_max(x.double(), 3, samples.double()))
    assert not torch.equal(y_double, y.double())
    assert torch.equal(y.transpose(-2, -1), fractional_max(x.transpose(-2, -1), 3, samples.flip(1)))


def test_fractional_max_runs_pytorchs_kernel_only_where_it_must(monkeypatch):
    x = awkward_maps(12, 12).requires_grad_(True)
    samples = fractional_samples(CHANNELS, 0)
    expected = pytorch_fractional_max(x, 3, samples).detach()
    # with a gradient, PyTorch's kernel pools the same regions
    assert torch.equal(fractional_max(x, 3, samples).detach().nan_to_num(), expected.nan_to_num())

    def refuse(*args, **kwargs):
        raise AssertionError("the fractional kernel ran")

    monkeypatch.setattr(maxima.F, "fractional_max_pool2d", refuse)
    with torch.no_grad():
        assert torch.equal(fractional_max(x, 3, samples).nan_to_num(), expected.nan_to_num())
    with pytest.raises(AssertionError, match="kernel ran"):
        fractional_max(x, 3, samples)  # a gradient is needed
    with pytest.raises(AssertionError, match="kernel ran"), torch.no_grad():
        with maxima.pooling_kernel_everywhere():
            fractional_max(x, 3, samples)
    with pytest.raises(AssertionError, match="kernel ran"), torch.no_grad():
        fractional_max(x[..., :2, :2], 3, samples)  # no region fits: PyTorch says why


@pytest.mark.parametrize(
    ("kernel_size", "height", "width", "fits"),
    [(2, 2, 2, True), (3, 3, 3, True), (3, 4, 4, True), (3, 4, 2, False), (3, 2, 4, False)],
)
def test_fractional_max_takes_the_views_exactly_where_every_region_fits(
    kernel_size, height, width, fits, monkeypatch
):
    # a region fits when (output - 1) + kernel <= input, with output = input // 2
    x = awkward_maps(height, width)
    samples = fractional_samples(CHANNELS, 1)
    expected = pytorch_fractional_max(x, kernel_size, samples) if fits else None

    def refuse(*args, **kwargs):
        raise AssertionError("the fractional kernel ran")

    monkeypatch.setattr(maxima.F, "fractional_max_pool2d", refuse)
    with torch.no_grad():
        if fits:
            y = fractional_max(x, kernel_size, samples)
            assert torch.equal(y.nan_to_num(), expected.nan_to_num())
        else:
            with pytest.raises(AssertionError, match="kernel ran"):
                fractional_max(x, kernel_size, samples)


def test_fracmax_evaluates_with_its_fixed_draw_as_pytorchs_kernel_does():
    operator = build_operator("fracmax", 4, kernel_size=3, test_draws=2).eval()
    x = awkward_maps(14, 14)[:, :1].expand(-1, 4, -1, -1).contiguous()
    for draw in range(2):
        operator.draw = draw
        expected = pytorch_fractional_max(x, 3, operator.eval_samples[draw])
        y = operator(x)
        assert torch.equal(y.nan_to_num(), expected.nan_to_num())
    assert not torch.equal(y, operator.train()(x))  # training draws its own regions


@pytest.mark.parametrize("size", [8, 9, 7])
def test_avg_equals_functional(size):
    x = torch.randn(2, CHANNELS, size, size)
    y = build_operator("avg", CHANNELS)(x)
    torch.testing.assert_close(y, F.avg_pool2d(x, kernel_size=2, stride=2), rtol=0, atol=0)


def test_unknown_operator_names_registered_ones():
    with pytest.raises(ValueError) as info:
        build_operator("no-such-operator", CHANNELS)
    message = str(info.value)
    assert "no-such-operator" in message
    assert f"registered: {', '.join(OPERATORS)}" in message


@pytest.mark.parametrize("name", list(OPERATORS))
def test_class_attributes_and_constructor_arguments(name):
    cls = OPERATORS[name]
    assert issubclass(cls, Downsample)
    assert isinstance(cls.summary, str) and cls.summary.strip()
    assert isinstance(cls.source, str)
    assert isinstance(cls.rf_kernel, int) and cls.rf_kernel >= 1
    assert isinstance(cls.rf_stride, int) and cls.rf_stride >= 1
    operator = build_operator(name, 5, padding_mode="circular")
    assert type(operator) is cls
    assert operator.channels == 5
    assert operator.padding_mode == "circular"


@pytest.mark.parametrize("name", list(OPERATORS))
def test_every_operator_defaults_to_zero_padding(name):
    # the module's contract: zeros unless the network is built otherwise, in which case an
    # operator that pads uses its paper's padding
    assert OPERATORS[name](CHANNELS).padding_mode == "zeros"


@pytest.mark.parametrize(("mode", "expected"), [("zeros", "constant"), ("reflect", "reflect")])
def test_the_base_class_pads_with_the_paper_padding_or_the_networks(mode, expected):
    x = torch.randn(1, CHANNELS, 5, 6)
    operator = Downsample(CHANNELS, padding_mode=mode)
    pads = (1, 0, 2, 1)
    assert torch.equal(operator.pad(x, pads), F.pad(x, pads, mode=expected))
    assert operator.pad(x, (0, 0, 0, 0)) is x


@pytest.mark.parametrize("name", ["blur", "aps", "fracmax"])
def test_fixed_filters_and_draws_stay_out_of_the_model_files(name):
    # blur filters and fractional max pooling's test-time draws are rebuilt from the
    # config, so the saved weights (and their keys) are the learned parameters alone
    operator = build_operator(name, CHANNELS)
    assert set(operator.state_dict()) == {key for key, _ in operator.named_parameters()}
    assert len(list(operator.buffers())) == 1


def test_maxdil_by_default_is_an_undilated_2x2_max_with_stride_1():
    # all negative, so a window past the border must take the max of what is inside it
    x = -1.0 - torch.rand(2, CHANNELS, 6, 7)
    expected = F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, stride=1)
    assert torch.equal(build_operator("maxdil", CHANNELS)(x), expected)
    assert torch.equal(OPERATORS["maxdil"](CHANNELS)(x), expected)
    assert torch.equal(expected[..., -1, -1], x[..., -1, -1])


def test_maxdil_pads_with_minus_infinity_at_every_dilation():
    x = -1.0 - torch.rand(1, CHANNELS, 8, 8)
    y = build_operator("maxdil", CHANNELS, dilation=2)(x)
    assert y.shape == x.shape
    # the bottom-right unit's window holds only itself
    assert torch.equal(y[..., -1, -1], x[..., -1, -1])
    assert torch.equal(y[..., 0, 0], x[..., 0:3:2, 0:3:2].amax(dim=(-2, -1)))


def test_fractional_max_pooling_takes_bfloat16_at_test_time():
    # the GPU path evaluates under bf16 autocast: the regions must be float32's (PyTorch
    # computes them in the input's dtype, and bf16 moves their boundaries)
    operator = build_operator("fracmax", CHANNELS).eval()
    x = torch.rand(2, CHANNELS, 16, 16).bfloat16()
    y = operator(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y.float(), operator(x.float()))


def test_fractional_max_pooling_keeps_float64():
    operator = build_operator("fracmax", CHANNELS).eval()
    x = torch.rand(2, CHANNELS, 15, 15)
    y = operator(x.double())
    assert y.dtype == torch.float64 and torch.equal(y, operator(x).double())


def test_fractional_max_pooling_trains_in_bfloat16_with_float32_regions():
    operator = build_operator("fracmax", CHANNELS).train()
    x = torch.rand(2, CHANNELS, 15, 15).bfloat16().requires_grad_(True)
    torch.manual_seed(3)
    y = operator(x)
    torch.manual_seed(3)
    assert torch.equal(y.float(), operator(x.detach().float()))
    y.sum().backward()
    assert x.grad.dtype == torch.bfloat16 and x.grad.sum() == y.numel()
