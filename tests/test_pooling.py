"""The downsampling-operator registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from poolstudy.pooling import OPERATORS, Downsample, build_operator

CHANNELS = 3


FLOOR = ("max", "avg", "lp", "blur", "fracmax")
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
@pytest.mark.parametrize("batch", [1, 2])
def test_output_shape(name, size, batch):
    torch.manual_seed(0)
    operator = build_operator(name, CHANNELS).eval()
    x = torch.rand(batch, CHANNELS, size, size + 1)
    with torch.no_grad():
        y = operator(x)
    assert y.shape == (batch, CHANNELS, expected_side(name, size), expected_side(name, size + 1))


@pytest.mark.parametrize("name", list(OPERATORS))
def test_output_shape_in_training_mode_with_batch_of_one(name):
    torch.manual_seed(0)
    operator = build_operator(name, CHANNELS).train()
    y = operator(torch.rand(1, CHANNELS, 9, 9))
    assert y.shape[:2] == (1, CHANNELS)
    assert y.shape[-1] == expected_side(name, 9)


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


def test_registry_keys_are_class_names():
    for name, cls in OPERATORS.items():
        assert cls.name == name
        assert issubclass(cls, Downsample)


@pytest.mark.parametrize("name", list(OPERATORS))
def test_class_attributes(name):
    cls = OPERATORS[name]
    assert isinstance(cls.summary, str) and cls.summary.strip()
    assert isinstance(cls.source, str)
    assert isinstance(cls.rf_kernel, int) and cls.rf_kernel >= 1
    assert isinstance(cls.rf_stride, int) and cls.rf_stride >= 1


@pytest.mark.parametrize("name", list(OPERATORS))
def test_rf_stride_matches_shrink_factor(name):
    cls = OPERATORS[name]
    operator = build_operator(name, CHANNELS).eval()
    with torch.no_grad():
        y = operator(torch.rand(1, CHANNELS, 16, 16))
    assert 16 // y.shape[-1] == cls.rf_stride


@pytest.mark.parametrize("name", list(OPERATORS))
def test_channels_and_padding_mode_are_kept(name):
    operator = build_operator(name, 5, padding_mode="circular")
    assert operator.channels == 5
    assert operator.padding_mode == "circular"


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("training", [False, True])
def test_deterministic_for_fixed_seed(name, training):
    x = torch.randn(2, CHANNELS, 9, 9)
    outputs = []
    for _ in range(2):
        torch.manual_seed(123)
        operator = build_operator(name, CHANNELS).train(training)
        with torch.no_grad():
            outputs.append(operator(x.clone()))
    assert torch.equal(outputs[0], outputs[1])


def test_strided_conv_weights_depend_on_seed():
    torch.manual_seed(1)
    a = build_operator("stride", CHANNELS)
    torch.manual_seed(2)
    b = build_operator("stride", CHANNELS)
    assert not torch.equal(a.conv.weight, b.conv.weight)
