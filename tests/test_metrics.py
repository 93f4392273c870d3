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
    shift_consistency,
    shift_grid,
    shifted_correct,
)
from poolstudy.metrics import accuracy, consistency
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


def loop_shifted_correct(model, images, labels, protocol, grid) -> list[int]:
    counts = []
    with torch.no_grad():
        for dx, dy in grid.tolist():
            logits = model(shift(images, dx, dy, protocol))
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
    counts = shifted_correct(model, images, labels, protocol, grid, batch_size, CPU)
    assert counts.dtype == torch.long
    assert counts.tolist() == loop_shifted_correct(model, images, labels, protocol, grid)
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
    config = EvalConfig(max_shift=2, protocols=("circular", "zero"), batch_size=16)
    table = evaluate_model(model, data, config, CPU)
    assert list(table.columns) == COLUMNS
    assert len(table) == 3 + 2 * (9 + 1)
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
        consistency_rows = rows[rows["metric"] == "consistency"]
        assert len(consistency_rows) == 1
        assert math.isnan(consistency_rows["dx"].item())


def test_eval_config_from_dict():
    config = EvalConfig.from_dict({"max_shift": 2, "protocols": ["zero"], "unknown": 1})
    assert config.max_shift == 2
    assert config.protocols == ("zero",)
