"""Metrics, and the evaluation that applies them under shifts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from poolstudy.data.prepare import PreparedDataset
from poolstudy.evaluate import (
    COLUMNS,
    EvalConfig,
    evaluate_model,
    protocol_inputs,
    shift_consistency,
    shift_grid,
    shifted_correct,
)
from poolstudy.metrics import (
    METRICS,
    accuracy,
    consistency,
    consistency_given_clean_correct,
    consistency_given_one_correct,
    mean_abs_change,
    p_top1_change,
)
from poolstudy.models import ModelSpec, build_model
from poolstudy.shifts import PROTOCOLS, shift

CPU = torch.device("cpu")


def test_accuracy_hand_made():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    assert accuracy(logits, torch.tensor([0, 1, 2, 2])) == pytest.approx(75.0)
    assert accuracy(logits, torch.tensor([0, 1, 0, 2])) == pytest.approx(100.0)
    assert accuracy(logits, torch.tensor([1, 0, 1, 0])) == pytest.approx(0.0)


def test_consistency_hand_made():
    a = torch.tensor([[2.0, 1.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    b = torch.tensor([[5.0, 1.0], [1.0, 0.0], [0.0, 3.0], [0.0, 9.0], [4.0, 0.0]])
    assert consistency(a, b) == pytest.approx(60.0)
    assert consistency(a, a) == pytest.approx(100.0)
    assert consistency(a, -a) == pytest.approx(0.0)


def test_consistency_ignores_labels_and_scale():
    a = torch.randn(20, 4)
    assert consistency(a, 3.0 * a + 1.0) == pytest.approx(100.0)


def one_hot_logits(classes: list[int], num_classes: int = 3) -> torch.Tensor:
    """Logits whose top-1 class is ``classes[i]`` for image ``i``."""
    return 2.0 * nn.functional.one_hot(torch.tensor(classes), num_classes).float() - 1.0


def test_consistency_given_clean_correct_hand_made():
    labels = torch.tensor([0, 1, 2, 0])
    clean = one_hot_logits([0, 1, 0, 0])  # correct: images 0, 1, 3
    a = one_hot_logits([0, 2, 2, 1])
    b = one_hot_logits([0, 1, 2, 1])  # agree: images 0, 2, 3
    # Among the 3 images with a correct clean view, 0 and 3 agree: 2 / 3.
    assert consistency_given_clean_correct(clean, a, b, labels) == pytest.approx(200.0 / 3)
    assert consistency(a, b) == pytest.approx(75.0)
    # Agreement on a wrong class counts: image 3's views agree on class 1, not its label.
    assert consistency_given_clean_correct(clean, a, a, labels) == pytest.approx(100.0)
    assert consistency_given_clean_correct(clean, a, -a, labels) == pytest.approx(0.0)


def test_consistency_given_clean_correct_empty_is_nan():
    clean = one_hot_logits([0, 1, 2])
    a = one_hot_logits([0, 1, 2])
    assert math.isnan(consistency_given_clean_correct(clean, a, a, torch.tensor([1, 2, 0])))


def test_consistency_given_one_correct_hand_made():
    labels = torch.tensor([0, 1, 2, 0, 1])
    a = one_hot_logits([0, 2, 2, 1, 1])  # correct: 0, 2, 4
    b = one_hot_logits([0, 1, 2, 1, 0])  # correct: 0, 1, 2
    # At least one correct: 0, 1, 2, 4 (image 3 is wrong twice); both correct: 0, 2 -> 2 / 4.
    assert consistency_given_one_correct(a, b, labels) == pytest.approx(50.0)
    # Within that denominator, agreement is the same count: 0 and 2 agree, 1 and 4 do not.
    assert consistency_given_one_correct(a, a, labels) == pytest.approx(100.0)
    assert consistency_given_one_correct(b, a, labels) == pytest.approx(50.0)


def test_consistency_given_one_correct_empty_is_nan():
    a = one_hot_logits([0, 1, 2])
    b = one_hot_logits([0, 1, 2])
    assert math.isnan(consistency_given_one_correct(a, b, torch.tensor([1, 2, 0])))


def test_p_top1_change_hand_made():
    a = one_hot_logits([0, 2, 2, 1, 1])
    b = one_hot_logits([0, 1, 2, 1, 0])  # changes: images 1 and 4
    assert p_top1_change(a, b) == pytest.approx(40.0)
    assert p_top1_change(a, a) == pytest.approx(0.0)
    logits = torch.randn(2, 50, 5, generator=torch.Generator().manual_seed(0))
    assert p_top1_change(logits[0], logits[1]) == pytest.approx(
        100.0 - consistency(logits[0], logits[1])
    )


def test_mean_abs_change_hand_made():
    ln3, ln9 = math.log(3.0), math.log(9.0)
    # Two classes: softmax of [ln 3, 0] is [0.75, 0.25]; of [0, ln 9] is [0.1, 0.9].
    a = torch.tensor([[ln3, 0.0], [0.0, ln3], [ln3, 0.0], [0.0, ln9]])
    b = torch.tensor([[0.0, 0.0], [0.0, ln3], [0.0, ln3], [0.0, 0.0]])
    # Top-1 on a: 0, 1, 0, 1 with p = 0.75, 0.75, 0.75, 0.9; on b those classes have
    # p = 0.5, 0.75, 0.25, 0.5: changes 0.25, 0, 0.5, 0.4 -> mean 0.2875.
    assert mean_abs_change(a, b) == pytest.approx(28.75)
    assert mean_abs_change(a, a) == pytest.approx(0.0)
    assert mean_abs_change(a, a + 5.0) == pytest.approx(0.0, abs=1e-5)


def test_mean_abs_change_uses_the_top1_class_of_the_first_view():
    a = torch.tensor([[math.log(3.0), 0.0, 0.0]])  # p = [0.6, 0.2, 0.2], top-1 class 0
    b = torch.tensor([[0.0, math.log(3.0), 0.0]])  # p = [0.2, 0.6, 0.2]
    assert mean_abs_change(a, b) == pytest.approx(40.0)
    c = torch.tensor([[0.0, 0.0, math.log(2.0)]])  # p = [0.25, 0.25, 0.5]
    assert mean_abs_change(a, c) == pytest.approx(35.0)
    assert mean_abs_change(c, a) == pytest.approx(30.0)


def test_metrics_of_an_empty_batch_are_nan():
    empty = torch.zeros(0, 3)
    labels = torch.zeros(0, dtype=torch.long)
    assert math.isnan(accuracy(empty, labels))
    assert math.isnan(consistency(empty, empty))
    assert math.isnan(p_top1_change(empty, empty))
    assert math.isnan(mean_abs_change(empty, empty))


def test_metrics_registry():
    expected = {
        "accuracy": accuracy,
        "consistency": consistency,
        "consistency_given_clean_correct": consistency_given_clean_correct,
        "consistency_given_one_correct": consistency_given_one_correct,
        "p_top1_change": p_top1_change,
        "mean_abs_change": mean_abs_change,
    }
    for name, function in expected.items():
        assert METRICS[name] is function
        assert function.__doc__


class ConstantModel(nn.Module):
    """Ignores its input: the same logits for every image."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.register_buffer("logits", torch.tensor(logits))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1).clone()


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_consistency_of_input_independent_model_is_100(protocol):
    model = ConstantModel([0.1, 0.7, 0.2])
    images = torch.rand(23, 1, 10, 10)
    value = shift_consistency(model, images, protocol, 3, seed=0, batch_size=8, device=CPU)
    assert value == 100.0


def test_consistency_of_position_sensitive_model_is_below_100():
    class Position(nn.Module):
        def forward(self, x):
            return x.flatten(1)

    images = torch.zeros(64, 1, 9, 9)
    images[:, :, 4, 4] = 1.0
    value = shift_consistency(Position(), images, "circular", 2, seed=0, batch_size=16, device=CPU)
    assert value < 100.0


def test_shift_consistency_is_reproducible():
    torch.manual_seed(0)
    model = build_model(
        ModelSpec("max", in_channels=1, num_classes=4, image_size=10, widths=(4, 8), head="flatten")
    ).eval()
    images = torch.rand(40, 1, 10, 10)
    runs = [shift_consistency(model, images, "zero", 3, 5, 16, CPU) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("max_shift", [0, 1, 3])
def test_shift_grid(max_shift):
    grid = shift_grid(max_shift)
    assert grid.shape == ((max_shift + 1) ** 2, 2)
    assert grid.dtype == torch.long
    pairs = {tuple(p) for p in grid.tolist()}
    assert len(pairs) == (max_shift + 1) ** 2
    assert pairs == {(dx, dy) for dx in range(max_shift + 1) for dy in range(max_shift + 1)}


def loop_shifted_correct(model, images, labels, protocol, grid, margin=0) -> list[int]:
    counts = []
    with torch.no_grad():
        for dx, dy in grid.tolist():
            logits = model(shift(images, dx, dy, protocol, margin))
            counts.append(int((logits.argmax(1) == labels).sum()))
    return counts


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
@pytest.mark.parametrize("batch_size", [5, 40, 4096])
def test_shifted_correct_equals_loop(protocol, batch_size):
    torch.manual_seed(0)
    spec = ModelSpec(
        "max", in_channels=1, num_classes=3, image_size=10, widths=(4, 8), head="flatten"
    )
    model = build_model(spec).eval()
    images = torch.rand(11, 1, 10, 10)
    with torch.no_grad():
        labels = model(images).argmax(1)
    labels[::3] = torch.randint(0, 3, labels[::3].shape)
    grid = shift_grid(2)
    inputs, margin = protocol_inputs(protocol, images, EvalConfig(max_shift=2))
    counts = shifted_correct(model, inputs, labels, protocol, grid, batch_size, CPU, margin)
    assert counts.dtype == torch.long
    expected = loop_shifted_correct(model, inputs, labels, protocol, grid, margin)
    assert counts.tolist() == expected
    assert counts[0] == int((labels == model(images).argmax(1)).sum())


def tiny_dataset() -> PreparedDataset:
    generator = torch.Generator().manual_seed(0)
    n = 30
    return PreparedDataset(
        name="tiny",
        images=torch.randint(0, 256, (n, 1, 10, 10), generator=generator).to(torch.uint8),
        labels=torch.randint(0, 3, (n,), generator=generator),
        split=torch.tensor([0, 1, 2] * (n // 3), dtype=torch.uint8),
        classes=["a", "b", "c"],
    )


def test_evaluate_model_table():
    torch.manual_seed(0)
    data = tiny_dataset()
    spec = ModelSpec("avg", in_channels=1, num_classes=3, image_size=10, widths=(4, 8))
    model = build_model(spec)
    config = EvalConfig(max_shift=2, protocols=("circular", "zero", "crop"), batch_size=16)
    result = evaluate_model(model, data, config, CPU)
    table = result.table
    test_rows = data.split == 2
    assert result.test_correct.dtype == torch.bool
    assert result.test_correct.shape == (int(test_rows.sum()),)
    clean = table.set_index("metric")["value"]
    assert 100.0 * result.test_correct.float().mean().item() == pytest.approx(
        clean["accuracy_test"]
    )
    assert list(table.columns) == COLUMNS
    stability = [
        "consistency",
        "consistency_given_clean_correct",
        "consistency_given_one_correct",
        "p_top1_change",
        "mean_abs_change",
    ]
    assert len(table) == 3 + 3 * (9 + len(stability))
    clean = table[table["protocol"] == ""].set_index("metric")
    assert list(clean.index) == ["accuracy_train", "accuracy_val", "accuracy_test"]
    assert (clean["n"] == 10).all()
    assert clean["dx"].isna().all()
    for protocol in config.protocols:
        rows = table[table["protocol"] == protocol]
        shifted = rows[rows["metric"] == "accuracy_shifted"]
        assert len(shifted) == 9
        unshifted = shifted[(shifted["dx"] == 0) & (shifted["dy"] == 0)]
        assert unshifted["value"].item() == pytest.approx(clean.loc["accuracy_test", "value"])
        assert shifted["value"].between(0, 100).all()
        for metric in stability:
            metric_rows = rows[rows["metric"] == metric]
            assert len(metric_rows) == 1
            assert math.isnan(metric_rows["dx"].item())
        changed = rows.set_index("metric")["value"]
        assert changed["p_top1_change"] <= 100 and changed["mean_abs_change"] >= 0


def test_subpixel_protocol_is_evaluated_on_a_fractional_grid():
    torch.manual_seed(0)
    data = tiny_dataset()
    spec = ModelSpec("max", in_channels=1, num_classes=3, image_size=10, widths=(4, 8))
    config = EvalConfig(protocols=("subpixel",), subpixel_step=0.5, batch_size=16)
    table = evaluate_model(build_model(spec), data, config, CPU, log=lambda _: None).table
    shifted = table[table["metric"] == "accuracy_shifted"]
    assert sorted(set(shifted["dx"])) == [0.0, 0.5, 1.0]
    assert len(shifted) == 9


def test_eval_config_from_dict():
    config = EvalConfig.from_dict({"max_shift": 2, "protocols": ["zero"], "unknown": 1})
    assert config.max_shift == 2
    assert config.protocols == ("zero",)


def test_training_accuracy_is_measured_on_the_subset_the_run_trained_on():
    from poolstudy.train import select_training_subset

    torch.manual_seed(0)
    data = tiny_dataset()
    spec = ModelSpec("max", in_channels=1, num_classes=3, image_size=10, widths=(4, 8))
    model = build_model(spec).eval()
    config = EvalConfig(protocols=(), batch_size=16)
    table = evaluate_model(model, data, config, CPU, log=lambda _: None, n_train=4, seed=7).table
    row = table.set_index("metric").loc["accuracy_train"]
    assert row["n"] == 4
    images, labels = select_training_subset(*data.subset("train"), 4, 7)
    with torch.no_grad():
        expected = (model(images.float() / 255).argmax(1) == labels).float().mean().item()
    assert row["value"] == pytest.approx(100 * expected)
    everything = evaluate_model(model, data, config, CPU, log=lambda _: None).table
    assert everything.set_index("metric").loc["accuracy_train", "n"] == 10


def test_stability_metrics_accept_the_automatic_batch_size():
    from poolstudy.evaluate import stability_metrics

    model = ConstantModel([0.1, 0.7, 0.2])
    images = torch.rand(9, 1, 6, 6)
    labels = torch.ones(9, dtype=torch.long)
    clean = model(images)
    config = EvalConfig(consistency_shift=1)
    assert config.batch_size == "auto"
    values = stability_metrics(model, images, labels, clean, "zero", config, CPU)
    assert values["consistency"] == 100.0 and values["p_top1_change"] == 0.0
