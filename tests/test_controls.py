"""The controls that each move one factor: receptive field (none_rf, none_deep), what pooling
computes against how much it shrinks (maxdil, maxbroadcast), learned downsampling at equal
parameters (stride, convpool). Oracles: hand counts and Giusti et al.'s equivalence."""

from __future__ import annotations

import pytest
import torch

from poolstudy.models import (
    ModelSpec,
    build_model,
    count_flops,
    count_parameters,
    feature_map_sizes_of,
    receptive_field,
    stage_dilations,
)


def spec(operator: str, **changes) -> ModelSpec:
    values = dict(operator=operator, in_channels=1, num_classes=3, image_size=16, widths=(4, 8))
    values.update(changes)
    return ModelSpec(**values)


def randomise_batchnorm(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.rand(size, generator=generator) - 0.5)


@pytest.mark.parametrize("widths", [(4,), (4, 4), (4, 6, 8)])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_maxdil_computes_max_poolings_network_at_every_position(widths, padding_mode):
    """Giusti et al. (2013): with the same weights, the 'a trous' network's map sampled every
    2**stages pixels is the max-pooling network's map."""
    torch.manual_seed(0)
    pooled = build_model(spec("max", widths=widths, padding_mode=padding_mode)).eval()
    randomise_batchnorm(pooled)
    dense = build_model(spec("maxdil", widths=widths, padding_mode=padding_mode)).eval()
    dense.load_state_dict(pooled.state_dict())
    x = torch.rand(3, 1, 16, 16)
    step = 2 ** len(widths)
    with torch.no_grad():
        expected = pooled.features(x)
        full = dense.features(x)
    assert full.shape[-1] == 16 and expected.shape[-1] == 16 // step
    torch.testing.assert_close(full[..., ::step, ::step], expected, rtol=1e-5, atol=1e-5)


def test_maxdil_has_max_poolings_parameters_and_receptive_field():
    for widths in [(4,), (4, 8), (4, 8, 16)]:
        assert receptive_field(spec("maxdil", widths=widths)) == receptive_field(
            spec("max", widths=widths)
        )
        assert count_parameters(build_model(spec("maxdil", widths=widths))) == count_parameters(
            build_model(spec("max", widths=widths))
        )
    assert stage_dilations(spec("maxdil", widths=(4, 8, 16))) == (1, 2, 4)
    assert feature_map_sizes_of(build_model(spec("maxdil")).stages, spec("maxdil")) == [16, 16]


def test_none_deep_by_hand():
    # widths (4, 8) at kernel 3: max's field is 1 + 2 (conv) + 1 (pool) then x2 ... = 10;
    # none_rf dilates the stages by (2, 3), none_deep repeats them 2 and 3 times.
    deep, dilated = spec("none_deep"), spec("none_rf")
    assert stage_dilations(deep) == stage_dilations(dilated) == (2, 3)
    assert receptive_field(deep) == receptive_field(dilated) == 1 + 2 * (2 + 3) == 11
    assert receptive_field(spec("max")) == 10
    model = build_model(deep)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.dilation for c in convs] == [(1, 1)] * 5
    # convolutions 1->4, 4->4, 4->8, 8->8, 8->8 (3x3, no bias), BN (2 per channel), head 8->3
    weights = 9 * (1 * 4 + 4 * 4 + 4 * 8 + 8 * 8 + 8 * 8)
    norms = 2 * (4 + 4 + 8 + 8 + 8)
    assert count_parameters(model) == weights + norms + 8 * 3 + 3
    flops = 2 * 16 * 16 * 9 * (1 * 4 + 4 * 4 + 4 * 8 + 8 * 8 + 8 * 8) + 2 * 8 * 3
    assert count_flops(model) == flops


def test_convpool_has_strides_parameters_and_its_own_flops():
    assert count_parameters(build_model(spec("convpool"))) == count_parameters(
        build_model(spec("stride"))
    )
    one_stage = spec("convpool", widths=(4,), image_size=8)
    # stage conv 1->4 and the operator's conv 4->4, both 3x3 at 8x8, then the head 4->3
    expected = 2 * (9 * 1 * 4 * 64 + 9 * 4 * 4 * 64 + 4 * 3)
    assert count_flops(build_model(one_stage)) == expected
    assert feature_map_sizes_of(build_model(spec("convpool")).stages, spec("convpool")) == [8, 4]


def test_convpool_is_its_convolution_then_max_pooling():
    from poolstudy.pooling import build_operator

    torch.manual_seed(0)
    operator = build_operator("convpool", 3).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = torch.nn.functional.max_pool2d(torch.relu(operator.bn(operator.conv(x))), 2, 2)
        torch.testing.assert_close(operator(x), expected)


def test_maxbroadcast_reaches_max_poolings_receptive_field_with_the_least_dilation():
    from poolstudy.models import _receptive_field

    for widths in [(4, 8), (4, 8, 16)]:
        broadcast = spec("maxbroadcast", widths=widths)
        dilations = stage_dilations(broadcast)
        reference = receptive_field(spec("max", widths=widths))
        assert (
            receptive_field(broadcast) >= reference > receptive_field(spec("none", widths=widths))
        )
        smaller = (*dilations[:-1], dilations[-1] - 1)
        assert dilations[-1] == 1 or _receptive_field(broadcast, smaller) < reference


def test_a_trained_circular_aps_network_is_exactly_shift_invariant():
    """APS (Chaman and Dragotti 2021) is invariant to circular shifts only in a network that
    is circular throughout: train one briefly, then every circular shift gives the same class."""
    from test_train import synthetic_dataset

    from poolstudy.evaluate import shift_consistency
    from poolstudy.inference import to_unit_float
    from poolstudy.train import TrainConfig, train_model

    data = synthetic_dataset(n=64, size=16)
    config = TrainConfig.from_dict({"epochs": 3, "batch_size": 16, "device": "cpu"})
    options = {"widths": (4, 8), "padding_mode": "circular"}
    network = train_model(data, options, "aps", 0, config, log=lambda *_: None).model.eval()
    images = to_unit_float(data.subset("test")[0])
    cpu = torch.device("cpu")
    assert shift_consistency(network, images, "circular", 4, 0, 64, cpu) == 100.0
    noise = torch.rand(64, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    assert shift_consistency(network, noise, "circular", 4, 0, 64, cpu) == 100.0
