"""Metrics, and the evaluation that applies them under shifts."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from conftest import quiet
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
    stability_metrics,
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
from poolstudy.shifts import PROTOCOLS, context_scenes, shift

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


def test_metrics_of_an_empty_batch_are_nan_and_of_one_image_a_number():
    empty = torch.zeros(0, 3)
    labels = torch.zeros(0, dtype=torch.long)
    assert math.isnan(accuracy(empty, labels))
    assert math.isnan(consistency(empty, empty))
    assert math.isnan(p_top1_change(empty, empty))
    assert math.isnan(mean_abs_change(empty, empty))
    one = one_hot_logits([2])
    assert accuracy(one, torch.tensor([2])) == 100.0 and consistency(one, one) == 100.0
    assert p_top1_change(one, one) == 0.0 and mean_abs_change(one, one) == 0.0


def test_the_registry_maps_each_name_to_its_documented_value():
    labels = torch.tensor([0, 1, 2, 0, 1])
    clean = one_hot_logits([0, 1, 2, 1, 1])  # correct: 0, 1, 2, 4
    a = one_hot_logits([0, 2, 2, 1, 1])  # correct: 0, 2, 4
    b = one_hot_logits([0, 1, 2, 1, 0])  # correct: 0, 1, 2; agrees with a on 0, 2, 3
    e2 = math.exp(2.0)
    # one-hot logits +-1 over 3 classes: the top class has p = e^2 / (e^2 + 2), the others
    # 1 / (e^2 + 2); a and b differ on images 1 and 4
    change = 100.0 * 2 / 5 * (e2 - 1) / (e2 + 2)
    expected = {
        "accuracy": ((a, labels), 60.0),
        "consistency": ((a, b), 60.0),
        "consistency_given_clean_correct": ((clean, a, b, labels), 50.0),
        "consistency_given_one_correct": ((a, b, labels), 50.0),
        "p_top1_change": ((a, b), 40.0),
        "mean_abs_change": ((a, b), change),
    }
    assert set(METRICS) == set(expected)
    for name, (args, value) in expected.items():
        assert METRICS[name](*args) == pytest.approx(value, rel=1e-6), name


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
    # at most train_images of them, drawn with the evaluation's seed
    capped = EvalConfig(protocols=(), batch_size=16, train_images=3, seed=5)
    table = evaluate_model(model, data, capped, CPU, log=lambda _: None, n_train=4, seed=7).table
    row = table.set_index("metric").loc["accuracy_train"]
    images, labels = select_training_subset(images, labels, 3, 5)
    with torch.no_grad():
        expected = (model(images.float() / 255).argmax(1) == labels).float().mean().item()
    assert row["n"] == 3 and row["value"] == pytest.approx(100 * expected)
    assert table.set_index("metric").loc["accuracy_test", "n"] == len(data.subset("test")[1])


def test_shift_protocols_run_on_the_seeded_subset_of_shift_images():
    from poolstudy.inference import seeded_subset

    torch.manual_seed(0)
    data = tiny_dataset()
    spec = ModelSpec("max", in_channels=1, num_classes=3, image_size=10, widths=(4, 8))
    model = build_model(spec).eval()
    images, labels = data.subset("test")
    config = EvalConfig(
        protocols=("circular",), max_shift=1, consistency_shift=1, batch_size=16, seed=5
    )
    table = evaluate_model(
        model, data, dataclasses.replace(config, shift_images=3), CPU, log=lambda _: None
    ).table
    keep = seeded_subset(len(labels), 3, 5)
    with torch.no_grad():
        hits = model(images.float() / 255).argmax(1) == labels
    by_metric = table.set_index("metric")
    assert by_metric.loc["accuracy_test", "n"] == len(labels)  # clean accuracy: every image
    assert by_metric.loc["accuracy_test", "value"] == pytest.approx(100 * hits.float().mean())
    shifted = table[table["metric"] == "accuracy_shifted"]
    assert set(shifted["n"]) == {3} and by_metric.loc["consistency", "n"] == 3
    unshifted = shifted[(shifted["dx"] == 0) & (shifted["dy"] == 0)]["value"].item()
    assert unshifted == pytest.approx(100 * hits[keep].float().mean())
    # at least as many as there are: every test image, as without the key
    everything = evaluate_model(
        model, data, dataclasses.replace(config, shift_images=10**6), CPU, log=lambda _: None
    ).table
    assert set(everything[everything["metric"] == "accuracy_shifted"]["n"]) == {len(labels)}


def test_stability_metrics_accept_the_automatic_batch_size():
    model = ConstantModel([0.1, 0.7, 0.2])
    images = torch.rand(9, 1, 6, 6)
    labels = torch.ones(9, dtype=torch.long)
    clean = model(images)
    config = EvalConfig(consistency_shift=1)
    assert config.batch_size == "auto"
    values = stability_metrics(model, images, labels, clean, "zero", config, CPU)
    assert values["consistency"] == 100.0 and values["p_top1_change"] == 0.0


# ---- stability measures of hand-built models whose answers are known ----------------------

LN3 = math.log(3.0)
SIDE, CENTRE = 9, 4
N_DOT, N_BLOCK, N_BLANK = 810, 270, 270


class OnePixel(nn.Module):
    """Looks at one pixel only: class 0 when the centre pixel exceeds ``threshold``, else
    class 1. With the default threshold a pixel of 1 gives p = 0.75 to class 0, one of 0 gives
    it 0.25."""

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        value = x[:, 0, CENTRE, CENTRE]
        return torch.stack([2 * LN3 * (value - self.threshold), torch.zeros_like(value)], dim=1)


class GlobalSum(nn.Module):
    """Class 0 when the image's sum exceeds ``threshold``: exactly invariant to circular shifts
    (a sum of zeros and ones is exact in float32 in any order)."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        total = x.sum(dim=(1, 2, 3))
        return torch.stack([total, torch.full_like(total, self.threshold)], dim=1)


def one_pixel_images() -> tuple[torch.Tensor, torch.Tensor]:
    """N_DOT images with only the centre pixel lit (any one-pixel shift darkens the centre),
    N_BLOCK with a lit 3x3 block around it (the centre stays lit under shifts of at most one
    pixel), N_BLANK black ones. Labels: the clean class, except that half the black images are
    labelled 0 (wrong on every view)."""
    images = torch.zeros(N_DOT + N_BLOCK + N_BLANK, 1, SIDE, SIDE)
    images[:N_DOT, :, CENTRE, CENTRE] = 1.0
    images[N_DOT : N_DOT + N_BLOCK, :, CENTRE - 1 : CENTRE + 2, CENTRE - 1 : CENTRE + 2] = 1.0
    labels = torch.zeros(len(images), dtype=torch.long)
    labels[N_DOT + N_BLOCK + N_BLANK // 2 :] = 1
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return images[order], labels[order]


def one_pixel_dataset(images, labels) -> PreparedDataset:
    """``one_pixel_images`` as a prepared dataset: the first two images train and validate,
    the rest are the test split."""
    split = torch.full((len(labels),), 2, dtype=torch.uint8)
    split[:2] = torch.tensor([0, 1], dtype=torch.uint8)
    return PreparedDataset(
        name="one-pixel",
        images=(images * 255).to(torch.uint8),
        labels=labels,
        split=split,
        classes=["lit", "dark"],
    )


def test_one_pixel_model_under_every_integer_protocol():
    """Exact answers: along the diagonal positions -1, 0, 1 both one-step pairs of a dot touch
    the unshifted view, so the top-1 class of a dot changes in each pair and never for the
    other images: P(top-1 change) is the dots' share (60 %) and the mean absolute change
    of the top-1 probability is 0.5 on dots (30 points). Under a shift (dx, dy) from the grid a
    dot is right only unshifted, a block while max(dx, dy) <= 1, a labelled-1 blank always.
    Two views at offsets uniform in {-1, 0, 1}^2 agree on a dot with probability
    (1/9)^2 + (8/9)^2 = 65/81, on every other image always."""
    images, labels = one_pixel_images()
    n = len(labels)
    data = one_pixel_dataset(images, labels)
    protocols = ("circular", "zero", "reflect", "crop")
    config = EvalConfig(max_shift=2, protocols=protocols, consistency_shift=1, batch_size=512)
    table = evaluate_model(OnePixel(), data, config, CPU, log=lambda _: None).table
    n_test = n - 2
    test_labels = labels[2:]
    kinds = {"dot": 0, "block": 0, "blank1": 0}
    for image, label in zip(images[2:], test_labels.tolist(), strict=True):
        lit = int(image.sum())
        kind = "dot" if lit == 1 else "block" if lit == 9 else "blank1" if label == 1 else None
        if kind:
            kinds[kind] += 1
    clean = 100.0 * sum(kinds.values()) / n_test
    assert table.set_index("metric").loc["accuracy_test", "value"] == pytest.approx(clean)
    p_dot = kinds["dot"] / n_test
    one_correct = 17 / 81 * kinds["dot"] + kinds["block"] + kinds["blank1"]
    both_correct = 1 / 81 * kinds["dot"] + kinds["block"] + kinds["blank1"]
    for protocol in protocols:
        rows = table[table["protocol"] == protocol]
        shifted = rows[rows["metric"] == "accuracy_shifted"]
        for row in shifted.itertuples():
            right = kinds["blank1"] + (kinds["block"] if max(row.dx, row.dy) <= 1 else 0)
            right += kinds["dot"] if (row.dx, row.dy) == (0, 0) else 0
            assert row.value == pytest.approx(100.0 * right / n_test), (protocol, row)
        values = rows.set_index("metric")["value"]
        assert values["p_top1_change"] == pytest.approx(100.0 * p_dot), protocol
        assert values["mean_abs_change"] == pytest.approx(100.0 * 0.5 * p_dot, rel=1e-5)
        expected = 100.0 * (1 - p_dot * 16 / 81)
        assert values["consistency"] == pytest.approx(expected, abs=3.0), protocol
        correct_clean = sum(kinds.values())
        given_clean = 100.0 * (1 - kinds["dot"] * 16 / 81 / correct_clean)
        assert values["consistency_given_clean_correct"] == pytest.approx(given_clean, abs=3.0)
        given_one = 100.0 * both_correct / one_correct
        assert values["consistency_given_one_correct"] == pytest.approx(given_one, abs=6.0)


@pytest.mark.parametrize("step", [0.25, 0.5])
def test_one_step_of_the_subpixel_protocol_is_one_subpixel_step(step):
    """Views at every multiple of ``s`` pixels from -1 to +1 along the diagonal, each compared
    with the next (2 / s pairs). A diagonal step of ``s`` leaves (1 - s)^2 of a lone dot at the
    centre (bilinear), below the threshold 1 - s / 2, and a 3x3 block's centre at 1: only the
    two pairs of a dot that touch the unshifted view change."""
    images, labels = one_pixel_images()
    model = OnePixel(threshold=1 - step / 2)
    config = EvalConfig(subpixel_step=step, consistency_shift=1, batch_size=512)
    values = stability_metrics(model, images, labels, model(images), "subpixel", config, CPU)
    pairs = 2 * round(1 / step)
    assert values["p_top1_change"] == pytest.approx(100.0 * N_DOT / len(labels) * 2 / pairs)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top1_change_is_pooled_over_every_start_position_on_the_diagonal(k):
    """Azulay & Weiss: positions -k..k along the diagonal, each against the next (2k pairs).
    A dot is seen by the one-pixel model only unshifted, so 2 of its 2k pairs change; a 3x3
    block covers the centre while |shift| <= 1, so for k >= 2 its pairs (-2, -1) and (1, 2)
    change too."""
    images, labels = one_pixel_images()
    n_dot = sum(int(image.sum()) == 1 for image in images)
    n_block = sum(int(image.sum()) == 9 for image in images)
    model = OnePixel()
    config = EvalConfig(consistency_shift=k, batch_size=512)
    values = stability_metrics(model, images, labels, model(images), "circular", config, CPU)
    changed = 2 * n_dot + (2 * n_block if k >= 2 else 0)
    assert values["p_top1_change"] == pytest.approx(100.0 * changed / (2 * k * len(labels)))


@pytest.mark.parametrize("shift_size", [1, 3])
def test_a_shift_invariant_model_never_changes_under_circular_shifts(shift_size):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 2, (300, 1, 8, 8), generator=generator).float()
    model = GlobalSum(threshold=31.5)
    clean = model(images)
    labels = clean.argmax(1)
    labels[::4] = 1 - labels[::4]  # some images wrong on every view
    config = EvalConfig(consistency_shift=shift_size, batch_size=512)
    values = stability_metrics(model, images, labels, clean, "circular", config, CPU)
    assert values == {
        "consistency": 100.0,
        "consistency_given_clean_correct": 100.0,
        "consistency_given_one_correct": 100.0,
        "p_top1_change": 0.0,
        "mean_abs_change": 0.0,
    }
    # the same model is not invariant once ink falls off the border
    zero = stability_metrics(model, images, labels, clean, "zero", config, CPU)
    assert zero["consistency"] < 100.0 and zero["p_top1_change"] > 0.0


# --- evaluate_cell: every seed of a cell, each written as evaluate_model measures it -----------


def saved_untrained(path, seed: int):
    """An untrained small network of the synthetic dataset's shape (random weights of
    ``seed``), saved as training saves its models."""
    import pandas as pd

    from poolstudy.run_files import TrainResult, save_run

    torch.manual_seed(seed)
    spec = ModelSpec("max", in_channels=1, num_classes=3, image_size=16, widths=(4, 8))
    result = TrainResult(build_model(spec), pd.DataFrame({"step": [1]}), {}, {})
    save_run(result, path, path.with_suffix(".csv"), path.with_suffix(".json"))
    return path


def test_evaluate_cell_writes_each_seeds_table_and_record_as_evaluate_model_measures(
    tmp_path, monkeypatch
):
    """Each seed's model, measured on the training subset of that seed (``n_train``) with the
    clean splits placed on the canvas given, in one deterministic process of the threads
    given."""
    import numpy as np
    import pandas as pd
    from test_train import synthetic_dataset

    from poolstudy.data.prepare import save_prepared
    from poolstudy.evaluate import evaluate_cell
    from poolstudy.placement import PlacementConfig
    from poolstudy.run_files import load_model

    data_path = tmp_path / "data.pt"
    save_prepared(synthetic_dataset(), data_path)
    seeds = [3, 7]
    models = [saved_untrained(tmp_path / f"model{seed}.pt", seed) for seed in seeds]
    outs = [tmp_path / "out" / f"{seed}.csv" for seed in seeds]
    records = [tmp_path / "out" / f"{seed}.npy" for seed in seeds]
    options = {"protocols": ["circular", "zero"], "max_shift": 1, "consistency_shift": 1}
    placement = {"canvas": 20, "region": "left"}
    keys = {"experiment": "x", "dataset": "synthetic", "condition": "gap", "operator": "max"}
    lines = []
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        torch.set_num_threads(2)
        torch.use_deterministic_algorithms(False)
        tables = evaluate_cell(
            data_path, models, seeds, options, placement, 20, keys, outs, records, 1, lines.append
        )
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    for seed, model, out, record, table in zip(seeds, models, outs, records, tables, strict=True):
        direct = evaluate_model(
            load_model(model),
            synthetic_dataset(),
            EvalConfig.from_dict(options),
            CPU,
            log=quiet,
            placement=PlacementConfig.from_dict(placement),
            n_train=20,
            seed=seed,
        )
        written = pd.read_csv(out, keep_default_na=False, na_values=[""])
        assert list(written.columns) == [*keys, "seed", *direct.table.columns]
        assert (written["seed"] == seed).all() and (written["operator"] == "max").all()
        assert list(table.columns) == list(written.columns) and len(table) == len(direct.table)
        np.testing.assert_allclose(written["value"], direct.table["value"], rtol=1e-9)
        assert list(written["metric"]) == list(direct.table["metric"])
        saved = np.load(record)
        assert saved.dtype == np.uint8
        np.testing.assert_array_equal(saved, direct.test_correct.numpy().astype(np.uint8))
        test = direct.table.loc[direct.table["metric"] == "accuracy_test", "value"].iloc[0]
        assert f"max seed {seed}: test accuracy {test:.2f}% -> {out}" in lines
    # evaluate_model's progress goes to the cell's log too, beside one line per seed
    assert len(lines) > len(seeds)
    # placed on the canvas, the clean splits give other values than unplaced
    unplaced = evaluate_model(
        load_model(models[0]), synthetic_dataset(), EvalConfig.from_dict(options), CPU, log=quiet
    ).table
    assert not np.allclose(unplaced["value"], tables[0]["value"], equal_nan=True)
    # without per-image records nothing else is written
    evaluate_cell(data_path, models[:1], [3], options, {}, None, keys, [tmp_path / "a.csv"])
    assert sorted(p.name for p in tmp_path.glob("a.*")) == ["a.csv"]
    with pytest.raises(ValueError) as info:
        evaluate_cell(data_path, models, seeds, options, {}, None, keys, outs, records[:1])
    assert str(info.value) == "one model, seed, output and per-image record per seed, in order"


# --- the grids, offsets and views of evaluate.py, against answers built directly ---------------


def test_diagonal_positions_are_every_step_from_minus_k_to_plus_k():
    from poolstudy.evaluate import diagonal_positions

    fractional = diagonal_positions("subpixel", EvalConfig(subpixel_step=0.25))
    assert fractional.dtype == torch.float32
    assert fractional.tolist() == [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0]
    integer = diagonal_positions("zero", EvalConfig(consistency_shift=3, subpixel_step=0.25))
    assert integer.tolist() == [-3, -2, -1, 0, 1, 2, 3]


@pytest.mark.parametrize(
    "protocol, values",
    [
        ("subpixel", [-1.0, -0.5, 0.0, 0.5, 1.0]),
        ("circular", [-3, -2, -1, 0, 1, 2, 3]),
    ],
)
def test_view_offsets_cover_their_range_and_depend_only_on_the_generator(protocol, values):
    from poolstudy.evaluate import view_offsets

    config = EvalConfig(consistency_shift=3, subpixel_step=0.5)
    torch.manual_seed(0)
    dx, dy = view_offsets(protocol, 2000, config, torch.Generator().manual_seed(4))
    assert sorted(set(dx.tolist())) == values and sorted(set(dy.tolist())) == values
    # the same generator seed gives the same offsets, whatever the global random state
    again = view_offsets(protocol, 2000, config, torch.Generator().manual_seed(4))
    assert torch.equal(dx, again[0]) and torch.equal(dy, again[1])


class Pixels(nn.Module):
    """Logits = the image's pixels: a view's logits show exactly how it was shifted."""

    def forward(self, x):
        return x.flatten(1)


def test_two_views_are_the_images_at_two_consecutive_draws_of_the_generator():
    from poolstudy.evaluate import two_views

    images = torch.rand(7, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    config = EvalConfig(consistency_shift=0, subpixel_step=0.5, batch_size=3)
    torch.manual_seed(0)
    views = two_views(Pixels(), images, "subpixel", config, torch.Generator().manual_seed(2), CPU)
    # offsets in multiples of 0.5 px from -1 to 1 (five values), two draws of dx and dy
    draws = torch.Generator().manual_seed(2)
    for view in views:
        dx, dy = torch.randint(-2, 3, (2, 7), generator=draws) * 0.5
        assert torch.equal(view, shift(images, dx, dy, "subpixel").flatten(1))


def test_views_default_to_images_without_a_margin():
    """With the default margin 0 a crop at offset 0 is the whole input, the image itself."""
    from poolstudy.evaluate import shifted_view, two_views

    images = torch.rand(4, 1, 5, 5, generator=torch.Generator().manual_seed(1))
    config = EvalConfig(consistency_shift=0, batch_size=8)
    zero = torch.zeros(4, dtype=torch.long)
    assert torch.equal(
        shifted_view(Pixels(), images, zero, zero, "crop", config, CPU), images.flatten(1)
    )
    views = two_views(Pixels(), images, "crop", config, torch.Generator(), CPU)
    assert all(torch.equal(view, images.flatten(1)) for view in views)


class BatchRecorder(nn.Module):
    """Constant logits; records the size of every batch it is given (in a class attribute, so
    that copies of the model record into the same list)."""

    seen: list[int] = []

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3, 1, 1, 1))

    def forward(self, x):
        BatchRecorder.seen.append(x.shape[0])
        return torch.zeros(x.shape[0], 3) + self.weight.sum()


def test_shifted_view_predicts_in_batches_of_the_configured_size():
    from poolstudy.evaluate import shifted_view

    BatchRecorder.seen = []
    images = torch.rand(12, 1, 4, 4)
    zero = torch.zeros(12, dtype=torch.long)
    shifted_view(BatchRecorder(), images, zero, zero, "zero", EvalConfig(batch_size=5), CPU)
    assert BatchRecorder.seen == [5, 5, 2]


def test_protocol_inputs_and_the_context_margin():
    images = torch.rand(12, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    assert protocol_inputs("zero", images, EvalConfig()) == (images, 0)
    # the margin is the largest shift any test draws, and at least 1
    for max_shift, consistency_shift, margin in [(0, 0, 1), (3, 2, 3), (1, 4, 4)]:
        config = EvalConfig(max_shift=max_shift, consistency_shift=consistency_shift)
        scenes, got = protocol_inputs("crop", images, config)
        assert got == margin and scenes.shape == (12, 1, 6 + 2 * margin, 6 + 2 * margin)
        assert torch.equal(scenes[..., margin:-margin, margin:-margin], images)
    # the context comes from other images in an order seeded by config.seed
    seeded = [
        protocol_inputs("crop", images, EvalConfig(max_shift=2, seed=seed))[0] for seed in (0, 5)
    ]
    assert not torch.equal(seeded[0], seeded[1])
    assert torch.equal(seeded[1], context_scenes(images, 4, 5))


class FormatProbe(BatchRecorder):
    """A BatchRecorder that also records whether its 4-D weight is in channels_last format."""

    formats: list[bool] = []

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3, 2, 2, 2))

    def forward(self, x):
        FormatProbe.formats.append(self.weight.is_contiguous(memory_format=torch.channels_last))
        return super().forward(x)


def test_evaluate_model_with_the_automatic_batch_logs_each_protocol():
    """On the CPU ``auto`` is a batch of 128; the model runs in channels_last; each protocol
    logs its grid, its test images and its consistency (a constant model: 100 %)."""
    import re

    BatchRecorder.seen, FormatProbe.formats = [], []
    data = tiny_dataset()
    split = torch.full((602,), 2, dtype=torch.uint8)
    split[:2] = torch.tensor([0, 1], dtype=torch.uint8)
    big = PreparedDataset(
        name="big",
        images=data.images.repeat(21, 1, 1, 1)[:602],
        labels=data.labels.repeat(21)[:602],
        split=split,
        classes=data.classes,
    )
    config = EvalConfig(max_shift=1, protocols=("zero", "circular"), consistency_shift=1)
    assert config.batch_size == "auto"
    lines = []
    table = evaluate_model(FormatProbe(), big, config, CPU, log=lines.append).table
    assert max(BatchRecorder.seen) == 128 and all(FormatProbe.formats)
    assert len(lines) == 2
    for line, protocol in zip(lines, config.protocols, strict=True):
        match = re.fullmatch(
            rf"{protocol}: 4 shifts x 600 test images, consistency 100\.0% \((\d+\.\d)s\)", line
        )
        assert match and float(match.group(1)) < 60.0, line
    accuracy = 100.0 * (big.labels[2:] == 0).double().mean().item()  # the model predicts class 0
    assert table.set_index("metric").loc["accuracy_test", "value"] == pytest.approx(accuracy)


def test_training_accuracy_without_a_run_seed_uses_seed_0():
    """A model that always predicts class 0, on 3 training images of the seed-0 subset."""
    from poolstudy.inference import select_training_subset

    data = tiny_dataset()
    config = EvalConfig(protocols=(), batch_size=16)
    table = evaluate_model(BatchRecorder(), data, config, CPU, log=quiet, n_train=3).table
    _, labels = select_training_subset(*data.subset("train"), 3, 0)
    row = table.set_index("metric").loc["accuracy_train"]
    assert row["n"] == 3
    assert row["value"] == pytest.approx(100.0 * (labels == 0).double().mean().item())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_evaluate_model_on_cuda_measures_what_the_cpu_measures():
    """The model, images and labels all move to the device, and the automatic batch is sized
    for the model there: every metric of the one-pixel model equals the CPU's."""
    data = one_pixel_dataset(*one_pixel_images())
    protocols = ("circular", "zero", "reflect", "crop", "subpixel")
    tables = [
        evaluate_model(
            OnePixel(),
            data,
            EvalConfig(max_shift=2, protocols=protocols, consistency_shift=1, batch_size="auto"),
            torch.device(device),
            log=lambda _: None,
        ).table
        for device in ("cpu", "cuda")
    ]
    assert list(tables[0]["metric"]) == list(tables[1]["metric"])
    assert tables[1]["value"].to_numpy() == pytest.approx(
        tables[0]["value"].to_numpy(), abs=1e-4, nan_ok=True
    )
