"""The downsampling-operator registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

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
    for name in OPERATORS:
        assert name in message


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
