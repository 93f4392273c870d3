"""The network family, its spec and its accounting."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import torch
from conftest import imports_after
from torch import nn

from poolstudy.models import (
    HEADS,
    GlobalAvgPool,
    ModelSpec,
    build_model,
    count_flops,
    count_parameters,
    describe,
    draw_count,
    feature_map_sizes_of,
    flop_counts,
    receptive_field,
    stage_dilations,
)
from poolstudy.pooling import OPERATORS

WIDTHS = (4, 8)


def tiny_spec(operator: str = "max", **changes) -> ModelSpec:
    values = dict(operator=operator, in_channels=1, num_classes=3, image_size=16, widths=WIDTHS)
    values.update(changes)
    return ModelSpec(**values)


@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("batch", [1, 3])
def test_forward_shape(operator, head, batch):
    torch.manual_seed(0)
    spec = tiny_spec(operator, head=head, in_channels=2, num_classes=5, image_size=9)
    model = build_model(spec).eval()
    with torch.no_grad():
        logits = model(torch.rand(batch, 2, 9, 9))
    assert logits.shape == (batch, 5)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("operator", list(OPERATORS))
def test_training_step_runs(operator):
    torch.manual_seed(0)
    model = build_model(tiny_spec(operator, head="flatten", image_size=8)).train()
    loss = model(torch.rand(4, 1, 8, 8)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_flatten_head_without_pooling_is_larger():
    none = build_model(tiny_spec("none", head="flatten"))
    pooled = build_model(tiny_spec("max", head="flatten"))
    assert count_parameters(none) > count_parameters(pooled)
    last = none.head[-1]
    assert last.in_features == WIDTHS[-1] * 16 * 16


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_global_avg_pool_is_adaptive_avg_pool_with_a_gradient_in_the_inputs_layout(memory_format):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 7, 6, generator=generator).contiguous(memory_format=memory_format)
    weights = torch.randn(3, 5, 1, 1, generator=generator)
    ours, theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_theirs = GlobalAvgPool()(ours), nn.AdaptiveAvgPool2d(1)(theirs)
    # torch.autograd.grad returns the gradient as the backward made it (a leaf's .grad is
    # laid out like the leaf whatever the backward returned)
    (grad_ours,) = torch.autograd.grad((out_ours * weights).sum(), ours)
    (grad_theirs,) = torch.autograd.grad((out_theirs * weights).sum(), theirs)
    assert out_ours.shape == (3, 5, 1, 1)
    assert torch.equal(out_ours, out_theirs)
    assert torch.equal(grad_ours, grad_theirs)
    assert grad_ours.is_contiguous(memory_format=memory_format)


def test_gap_head_size_does_not_depend_on_operator():
    counts = {count_parameters(build_model(tiny_spec(op))) for op in ("none", "max", "avg")}
    assert len(counts) == 1


def test_spec_round_trip():
    spec = tiny_spec(
        "stride",
        convs_per_stage=2,
        kernel_size=5,
        head="flatten",
        padding_mode="circular",
        operator_options={"a": 1},
    )
    data = spec.to_dict()
    assert isinstance(data, dict)
    assert data["operator"] == "stride"
    again = ModelSpec.from_dict(data)
    assert again == spec
    assert again.widths == WIDTHS


def test_spec_widths_become_int_tuple():
    spec = tiny_spec(widths=[4, 8.0])
    assert spec.widths == (4, 8)
    assert all(type(w) is int for w in spec.widths)


def test_spec_is_frozen():
    spec = tiny_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.operator = "avg"


def test_unknown_operator_raises():
    with pytest.raises(ValueError, match="registered"):
        tiny_spec("no-such-operator")


def test_unknown_head_raises():
    with pytest.raises(ValueError, match="gap"):
        tiny_spec(head="no-such-head")


def test_normalization_is_applied():
    torch.manual_seed(0)
    model = build_model(tiny_spec()).eval()
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        before = model.features((x - 0.5) / 0.25)
        model.set_normalization(torch.tensor([0.5]), torch.tensor([0.25]))
        after = model.features(x)
    torch.testing.assert_close(after, before)


def gradient_extents(
    spec: ModelSpec, size: int = 64, draws: int = 4, units: int = 3
) -> tuple[list[list[int]], list[int]]:
    """Extent (rows) of the input that a unit of ``features`` depends on, by backpropagation,
    for ``units`` neighbouring units around the centre: per unit, the extent for each draw and
    that of the union over the draws."""
    torch.manual_seed(0)
    model = build_model(spec).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(0.1)
    generator = torch.Generator().manual_seed(0)
    x = 0.5 + torch.rand(draws, spec.in_channels, size, size, generator=generator)
    x.requires_grad_(True)
    features = model.features(x)
    side = features.shape[-1]
    per_draw, union = [], []
    for offset in range(units):
        (grad,) = torch.autograd.grad(
            features[:, 0, side // 2 + offset - units // 2, side // 2].sum(), x, retain_graph=True
        )
        reached = grad.abs().sum(dim=(1, 3)) > 0
        extents = []
        for rows in [reached.any(0), *reached]:
            index = torch.nonzero(rows).flatten()
            assert index.numel() > 0
            assert index.min() > 0 and index.max() < size - 1, "receptive field touches the border"
            extents.append(int(index.max() - index.min() + 1))
        union.append(extents[0])
        per_draw.append(extents[1:])
    return per_draw, union


def gradient_receptive_field(spec: ModelSpec, **options) -> int:
    """The largest extent over neighbouring units (``maxbroadcast``'s depends on alignment)."""
    return max(gradient_extents(spec, **options)[1])


# Operators whose sampling depends on the data: the analytic value is the union over every
# possible choice of samples, an upper bound on what one input reaches.
DATA_DEPENDENT = ("aps",)


def regular_fracmax(spec: ModelSpec) -> bool:
    """Fractional max pooling whose regions are the 2x2 grid's whatever the sample: a window
    of 2 on maps of even side only."""
    sizes = [spec.image_size, *feature_map_sizes_of(build_model(spec).stages, spec)[:-1]]
    return spec.operator_options.get("kernel_size", 2) == 2 and all(s % 2 == 0 for s in sizes)


def check_receptive_field(spec: ModelSpec) -> None:
    if spec.operator == "fracmax" and not regular_fracmax(spec):
        # each channel pools its own sampled regions: the analytic value is the union over
        # every possible sample, which bounds what these samples reach from above
        assert gradient_receptive_field(spec, size=spec.image_size) <= receptive_field(spec)
        return
    if spec.operator not in DATA_DEPENDENT:
        assert receptive_field(spec) == gradient_receptive_field(spec, size=spec.image_size)
        return
    # APS keeps one polyphase component per sample, so for one input it is a subsampling with
    # that input's offsets: each draw reaches exactly the receptive field of `subsample`; the
    # analytic value (window 2: either phase) bounds the union over the draws from above.
    per_draw, union = gradient_extents(spec, draws=16)
    subsampled = receptive_field(dataclasses.replace(spec, operator="subsample"))
    assert all(extent == subsampled for extents in per_draw for extent in extents)
    assert max(union) <= receptive_field(spec)
    assert receptive_field(spec) == receptive_field(dataclasses.replace(spec, operator="max"))


@pytest.mark.parametrize("operator", list(OPERATORS))
@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("convs_per_stage", [1, 2])
def test_receptive_field_matches_gradient(operator, kernel_size, convs_per_stage):
    spec = tiny_spec(
        operator,
        widths=(2, 2),
        kernel_size=kernel_size,
        convs_per_stage=convs_per_stage,
        image_size=64,
    )
    check_receptive_field(spec)


@pytest.mark.parametrize("operator", list(OPERATORS))
def test_receptive_field_three_stages(operator):
    check_receptive_field(tiny_spec(operator, widths=(2, 2, 2), image_size=64))


@pytest.mark.parametrize(
    ("operator", "options"),
    [
        ("blur", {"filter_size": 5}),
        ("blur", {"filter_size": 1}),
        ("maxbroadcast", {"kernel_size": 3}),
        ("fracmax", {"kernel_size": 3}),
    ],
)
def test_receptive_field_with_options(operator, options):
    spec = tiny_spec(operator, widths=(2, 2), image_size=64, operator_options=options)
    check_receptive_field(spec)


@pytest.mark.parametrize(
    ("window", "image_size", "widths"),
    [(3, 96, (8, 8, 8)), (2, 90, (8, 8, 8)), (2, 96, (8, 8, 8)), (3, 48, (16, 16))],
)
def test_fractional_max_pooling_receptive_field_bounds_the_channels_regions(
    window, image_size, widths
):
    # With a window of 3, or of 2 on a map of odd side (90 -> 45), the regions' step is not 2
    # and channels start their regions up to a pixel apart: the next convolution reads the
    # union, wider than one channel's window (a window of 3 reaches 36 here, not 29).
    spec = tiny_spec(
        "fracmax", widths=widths, image_size=image_size, operator_options={"kernel_size": window}
    )
    measured = gradient_receptive_field(spec, size=image_size)
    assert measured <= receptive_field(spec)
    if regular_fracmax(spec):
        assert (
            measured
            == receptive_field(spec)
            == receptive_field(dataclasses.replace(spec, operator="max"))
        )
    else:
        assert measured > receptive_field(dataclasses.replace(spec, operator="max"))


@pytest.mark.parametrize("window", [2, 3])
@pytest.mark.parametrize("size", [3, 5, 8, 15, 16, 45, 90])
def test_fractional_max_pooling_spans_the_union_of_its_regions_over_every_sample(window, size):
    """``rf_input_span`` of one output row is exactly the rows that PyTorch's regions of that
    row cover over a dense grid of samples (in float64: the bound holds in exact arithmetic)."""
    from poolstudy.maxima import fractional_region_starts

    samples = (torch.arange(4096, dtype=torch.float64) + 0.5) / 4096
    out = size // 2
    starts = fractional_region_starts(samples, size, out, window)
    span = OPERATORS["fracmax"].rf_input_span
    for row in range(out):
        covered = (int(starts[:, row].min()), int(starts[:, row].max()) + window - 1)
        assert span(row, row, {"kernel_size": window}, 1, size) == covered, row
    if out == 1:  # borders ignored, rows beyond the map repeat the one region a map apart
        assert span(-1, 1, {"kernel_size": window}, 1, size) == (-window, 2 * size - 1)


def test_fractional_max_pooling_receptive_field_looks_only_at_positions_the_map_has():
    # 32 -> 16 -> 8 -> 4 with windows of 3 (the regions' steps 29/15, 13/7 and 5/3): the
    # widest of the last map's 4 units reads 46 rows; positions past the map pair steps that
    # no unit has, and reached 47
    spec = tiny_spec(
        "fracmax",
        widths=(4, 4, 4),
        convs_per_stage=2,
        image_size=32,
        operator_options={"kernel_size": 3},
    )
    assert receptive_field(spec) == 46


def test_receptive_field_of_aps_grows_with_its_blur():
    # a blur of side b before APS's stride-2 selection reads b + 1 rows per output row, as
    # blur pooling's filter of side b does (the union over APS's phases is checked above)
    def field(operator, options):
        return receptive_field(tiny_spec(operator, widths=(2, 2), operator_options=options))

    assert field("aps", {"blur_size": 3}) == field("blur", {"filter_size": 3})
    assert field("aps", {"blur_size": 3}) > field("aps", {"blur_size": 1})
    assert field("aps", {"blur_size": 1}) == field("max", {})


def test_receptive_field_of_maxbroadcast_by_hand():
    # Undilated, a 3x3 conv over the broadcast map reads 2 whole windows: 4 pixels, not
    # 3 + 1, so the kernel/stride recurrence with window 2 and stride 1 (7 and 11 here)
    # would be wrong.
    from poolstudy.models import _receptive_field

    assert _receptive_field(tiny_spec("maxbroadcast", widths=(2, 2)), (1, 1)) == 8
    assert _receptive_field(tiny_spec("maxbroadcast", widths=(2, 2), kernel_size=5), (1, 1)) == 10
    # Max pooling's field here is 10; dilation 2 in stage 2 reads [-2, 3] of the first map's
    # windows (8 pixels), dilation 3 reads [-4, 5] and then [-5, 6]: 12 pixels.
    spec = tiny_spec("maxbroadcast", widths=(2, 2))
    assert receptive_field(tiny_spec("max", widths=(2, 2))) == 10
    assert stage_dilations(spec) == (1, 3)
    assert receptive_field(spec) == 12


def test_dilations_are_one_without_a_reference():
    for operator, cls in OPERATORS.items():
        if cls.doubling_dilation:
            assert stage_dilations(tiny_spec(operator, widths=(4, 8, 16))) == (1, 2, 4)
        elif cls.dilation_reference is None:
            assert stage_dilations(tiny_spec(operator, widths=(4, 8, 16))) == (1, 1, 1)


DEFAULT = dict(operator="none_rf", in_channels=1, num_classes=10, image_size=32)


def test_none_rf_reaches_the_receptive_field_of_max_for_the_default_spec():
    spec = ModelSpec(**DEFAULT)
    assert spec.widths == (16, 32, 64) and spec.convs_per_stage == 1 and spec.kernel_size == 3
    reference = receptive_field(dataclasses.replace(spec, operator="max"))
    assert reference == 22
    # A dilated network of 3x3 convs has 1 + 2 * (sum of dilations) pixels: always odd, so the
    # even 22 cannot be matched and the closest value not smaller is 23.
    assert stage_dilations(spec) == (2, 3, 6)
    assert receptive_field(spec) == 23
    model = build_model(spec)
    dilations = [m.dilation[0] for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert dilations == [2, 3, 6]
    assert [m.padding[0] for m in model.modules() if isinstance(m, nn.Conv2d)] == [2, 3, 6]
    assert describe(model)["feature_map_sizes"] == [32, 32, 32]
    with torch.no_grad():
        assert model.features(torch.rand(2, 1, 32, 32)).shape == (2, 64, 32, 32)


@pytest.mark.parametrize("kernel_size", [3, 5])
@pytest.mark.parametrize("convs_per_stage", [1, 2])
@pytest.mark.parametrize("widths", [(4,), (4, 8), (4, 8, 8, 8)])
def test_none_rf_is_the_closest_reachable_field_not_below_max(kernel_size, convs_per_stage, widths):
    changes = dict(kernel_size=kernel_size, convs_per_stage=convs_per_stage, widths=widths)
    spec = tiny_spec("none_rf", **changes)
    reference = receptive_field(tiny_spec("max", **changes))
    step = convs_per_stage * (kernel_size - 1)
    reached = receptive_field(spec)
    assert (reached - 1) % step == 0
    assert reference <= reached < reference + step
    assert reached == 1 + step * sum(stage_dilations(spec))
    for stage in range(1, len(widths)):
        prefix = dict(changes, widths=widths[:stage])
        assert receptive_field(tiny_spec("none_rf", **prefix)) >= receptive_field(
            tiny_spec("max", **prefix)
        )


def operator_own_parameters(spec: ModelSpec) -> int:
    """Parameters of the strided convolutions and their BN: ``stride``'s own weights."""
    return sum(width * width * 3 * 3 + 2 * width for width in spec.widths)


@pytest.mark.parametrize(
    "operator", [name for name, cls in OPERATORS.items() if not cls.deep_stages]
)
def test_parameter_count_with_gap_head(operator):
    """Every operator adds nothing to the no-pooling network but its own convolution
    (``stride``, ``convpool``); ``none_deep``'s extra layers are counted in test_controls."""
    spec = ModelSpec(**dict(DEFAULT, operator=operator))
    none = count_parameters(build_model(dataclasses.replace(spec, operator="none")))
    own = operator_own_parameters(spec) if operator in ("stride", "convpool") else 0
    assert count_parameters(build_model(spec)) == none + own


def test_receptive_field_by_hand():
    assert receptive_field(tiny_spec("none", widths=(4, 8, 16))) == 7
    assert receptive_field(tiny_spec("max", widths=(4, 8))) == 10


def test_feature_map_sizes():
    for operator, expected in (("none", [9, 9]), ("max", [4, 2]), ("stride", [5, 3])):
        model = build_model(tiny_spec(operator, image_size=9))
        assert feature_map_sizes_of(model.stages, model.spec) == expected


def test_feature_map_sizes_keeps_training_mode():
    model = build_model(tiny_spec()).train()
    feature_map_sizes_of(model.stages, model.spec)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    feature_map_sizes_of(model.stages, model.spec)
    assert not any(m.training for m in model.modules())


def analytic_flops(spec: ModelSpec) -> int:
    """2 x (conv + linear multiply-adds), sizes from the usual output-size formula."""
    macs = 0
    side = spec.image_size
    c_in = spec.in_channels
    k = spec.kernel_size
    for width in spec.widths:
        for _ in range(spec.convs_per_stage):
            macs += c_in * width * k * k * side * side
            c_in = width
        if spec.operator in ("max", "avg"):
            side //= 2
        elif spec.operator == "stride":
            side = (side + 2 - 3) // 2 + 1
            macs += c_in * c_in * 3 * 3 * side * side
    features = c_in if spec.head == "gap" else c_in * side * side
    macs += features * spec.num_classes
    return 2 * macs


@pytest.mark.parametrize("operator", ["none", "max", "avg", "stride"])
@pytest.mark.parametrize("head", HEADS)
def test_count_flops_matches_analytic(operator, head):
    spec = tiny_spec(operator, head=head, image_size=9, in_channels=2, convs_per_stage=2)
    assert count_flops(build_model(spec)) == analytic_flops(spec)


@pytest.mark.parametrize("operator", sorted(OPERATORS))
@pytest.mark.parametrize("head", HEADS)
def test_count_flops_counts_what_pytorchs_flop_counter_counts(operator, head):
    from torch.utils.flop_counter import FlopCounterMode

    spec = tiny_spec(operator, head=head, image_size=12, in_channels=3, widths=(4, 6, 8))
    model = build_model(spec)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, 3, 12, 12))
    assert count_flops(model) == counter.get_total_flops() > 0


@pytest.mark.child
def test_count_flops_does_not_import_dynamo():
    # PyTorch's FlopCounterMode imports Dynamo on first use: a second of every training job
    code = (
        "from poolstudy.models import ModelSpec, build_model, count_flops;"
        "spec = ModelSpec(operator='blur', in_channels=1, num_classes=10, image_size=16);"
        "assert count_flops(build_model(spec)) > 0"
    )
    assert not imports_after(code, "torch._dynamo")


def test_count_flops_by_hand():
    spec = tiny_spec("max", image_size=8)
    expected = 2 * (1 * 4 * 9 * 8 * 8 + 4 * 8 * 9 * 4 * 4 + 8 * 3)
    assert count_flops(build_model(spec)) == expected


def test_count_flops_larger_without_pooling():
    assert count_flops(build_model(tiny_spec("none"))) > count_flops(build_model(tiny_spec("max")))


def test_count_flops_keeps_training_mode():
    model = build_model(tiny_spec()).train()
    count_flops(model)
    assert model.training


def test_describe():
    model = build_model(tiny_spec("avg"))
    info = describe(model)
    assert set(info) == {"parameters", "flops", "receptive_field", "feature_map_sizes"}
    assert info["parameters"] == count_parameters(model)
    assert info["flops"] == count_flops(model)
    assert info["receptive_field"] == receptive_field(model.spec)
    assert info["feature_map_sizes"] == [8, 4]


@pytest.mark.parametrize("draws", [1, 3])
def test_a_training_pass_counts_one_of_the_test_time_draws(draws):
    spec = tiny_spec("fracmax", widths=(4, 8), operator_options={"test_draws": draws})
    model = build_model(spec)
    one_draw = build_model(dataclasses.replace(spec, operator_options={}))
    assert draw_count(model) == draws and draw_count(build_model(tiny_spec("max"))) == 1
    test_time, one_pass = flop_counts(model)
    assert one_pass == count_flops(one_draw) > 0
    assert isinstance(one_pass, int)  # a count, as count_flops's
    assert test_time == count_flops(model) == draws * one_pass
    plain = build_model(tiny_spec("max"))
    assert flop_counts(plain) == (count_flops(plain), count_flops(plain))


@pytest.mark.parametrize("draws", [2, 4])
def test_fractional_max_pooling_averages_its_test_time_draws(draws):
    """Graham (2014): the output is the class probability averaged over test-time draws of the
    pooling regions; each draw is the network with that draw's fixed regions alone."""
    torch.manual_seed(0)
    options = {"fracmax": {"kernel_size": 3, "test_draws": draws}}
    spec = ModelSpec(
        operator="fracmax",
        in_channels=1,
        num_classes=5,
        image_size=16,
        widths=(4, 8),
        operator_options=options["fracmax"],
    )
    model = build_model(spec).eval()
    single = build_model(dataclasses.replace(spec, operator_options={"kernel_size": 3}))
    single.load_state_dict(model.state_dict())
    single.eval()
    x = torch.rand(6, 1, 16, 16)
    operators = [m for m in model.modules() if hasattr(m, "test_draws")]
    per_draw = []
    with torch.no_grad():
        for k in range(draws):
            for m in operators:
                m.draw = k
            per_draw.append(torch.softmax(model.head(model.features(x)), dim=1))
        for m in operators:
            m.draw = 0
        # the output is the log of the averaged probabilities, not logits up to a constant
        averaged = model(x).exp()
        assert torch.allclose(averaged, torch.stack(per_draw).mean(0), atol=1e-6)
        # the draws differ, and the first is the single-draw network's
        assert not torch.allclose(per_draw[0], per_draw[1])
        assert torch.allclose(per_draw[0], torch.softmax(single(x), dim=1), atol=1e-6)
        assert all(m.draw == 0 for m in operators)
    model.train()
    assert model(x).shape == (6, 5)  # training draws at random, once


def test_fractional_max_pooling_layers_draw_their_evaluation_regions_independently():
    spec = tiny_spec("fracmax", widths=(4, 8, 8), image_size=32, operator_options={"test_draws": 3})
    model = build_model(spec)
    layers = [m for m in model.modules() if m.__class__.__name__ == "FractionalMaxPool"]
    samples = [layer.eval_samples.flatten() for layer in layers]
    assert len(samples) == 3
    for first, second in itertools.combinations(samples, 2):
        shared = min(len(first), len(second))
        assert not torch.isclose(first[:shared], second[:shared]).any()
    # each layer's regions come from its own seed, the same in every network built
    again = [m.eval_samples for m in build_model(spec).modules() if hasattr(m, "eval_samples")]
    assert all(torch.equal(a.flatten(), b) for a, b in zip(again, samples, strict=True))
    torch.testing.assert_close(layers[0].eval_samples, layers[0].samples_for_evaluation(0))


def test_fractional_max_pooling_refuses_no_test_draws():
    with pytest.raises(ValueError, match="test_draws"):
        OPERATORS["fracmax"](4, test_draws=0)


def test_a_stage_block_is_convolution_batch_norm_relu():
    block = build_model(tiny_spec("max")).stages[0][0]
    assert [type(m) for m in block] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    assert block[0].bias is None  # batch norm's shift replaces it


@pytest.mark.parametrize("operator", ["none_rf", "none_deep"])
def test_one_by_one_convolutions_are_never_dilated(operator):
    # a 1x1 convolution reads one pixel at any dilation: the receptive field cannot be matched
    assert stage_dilations(tiny_spec(operator, kernel_size=1)) == (1, 1)


def test_count_flops_prints_nothing(capsys):
    count_flops(build_model(tiny_spec("max")))
    assert capsys.readouterr().out == ""


def test_spec_errors_list_the_choices():
    with pytest.raises(ValueError) as info:
        tiny_spec("no-such-operator")
    assert f"registered: {', '.join(OPERATORS)}" in str(info.value)
    with pytest.raises(ValueError) as info:
        tiny_spec("max", head="no-such-head")
    assert f"choose one of {', '.join(HEADS)}" in str(info.value)


def test_inputs_are_normalised_per_channel():
    model = build_model(tiny_spec("max", in_channels=3)).eval()
    mean, std = torch.tensor([0.1, 0.5, -0.2]), torch.tensor([1.0, 2.0, 0.25])
    model.set_normalization(mean, std)
    # the model files' layout: one value per channel, broadcast over batch, height and width
    assert model.mean.shape == model.std.shape == (1, 3, 1, 1)
    seen = []
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        model(x)
    expected = (x - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
    torch.testing.assert_close(seen[0], expected)
