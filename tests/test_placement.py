"""The placement experiment: canvas, training regions, the test grid, training and evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from poolstudy.data.prepare import PreparedDataset
from poolstudy.evaluate import EvalConfig, evaluate_model
from poolstudy.placement import (
    REGIONS,
    PlacementConfig,
    in_region,
    placed_in_region,
    position_grid,
    region_offsets,
    to_canvas,
)
from poolstudy.shifts import shift
from poolstudy.train import TrainConfig, train_model

CPU = torch.device("cpu")


def test_to_canvas_centres_the_image():
    images = torch.ones(2, 1, 4, 4)
    canvas = to_canvas(images, 10)
    assert canvas.shape == (2, 1, 10, 10)
    assert canvas[..., 3:7, 3:7].eq(1).all() and canvas.sum() == 2 * 16


@pytest.mark.parametrize("canvas", [3, 9])
def test_reach_needs_an_even_margin_around_the_image(canvas):
    with pytest.raises(ValueError, match="even number of pixels"):
        PlacementConfig(canvas=canvas).reach(4)
    assert PlacementConfig(canvas=10).reach(4) == 3
    assert PlacementConfig(canvas=4).reach(4) == 0  # a canvas the image fills: no room to move


@pytest.mark.parametrize("region", REGIONS)
def test_region_offsets_stay_inside_the_region_and_the_canvas(region):
    generator = torch.Generator().manual_seed(0)
    dx, dy = region_offsets(region, 3, 4000, generator)
    assert dx.dtype == dy.dtype == torch.long
    assert dx.abs().max() <= 3 and dy.abs().max() <= 3
    inside = in_region(region, dx, dy)
    assert inside.dtype == torch.bool and inside.all()
    # drawn from the generator alone: the same seed, the same offsets
    again = region_offsets(region, 3, 4000, torch.Generator().manual_seed(0))
    assert torch.equal(dx, again[0]) and torch.equal(dy, again[1])
    if region == "centre":
        assert (dx == 0).all() and (dy == 0).all()
    if region == "left":
        assert set(dx.tolist()) == {-3, -2, -1, 0} and set(dy.tolist()) == set(range(-3, 4))
    if region == "everywhere":
        assert set(dx.tolist()) == set(range(-3, 4))


@pytest.mark.parametrize("region", REGIONS)
def test_region_offsets_are_made_on_the_device_asked_for(region):
    """The meta device stands in for a GPU: the offsets of every region, the centre's zeros
    included, end up on the device that the training step runs on."""
    dx, dy = region_offsets(region, 3, 5, torch.Generator().manual_seed(0), device="meta")
    assert dx.device.type == dy.device.type == "meta"
    assert dx.shape == dy.shape == (5,)


def test_unknown_region_is_an_error():
    with pytest.raises(ValueError, match="unknown placement region"):
        region_offsets("right", 3, 4, torch.Generator())


@pytest.mark.parametrize(
    "reach, step, values",
    [(4, 2, [-4, -2, 0, 2, 4]), (5, 2, [-5, -4, -2, 0, 2, 4, 5]), (0, 3, [0])],
)
def test_position_grid_covers_the_canvas_with_centre_and_ends(reach, step, values):
    grid = position_grid(reach, step)
    assert sorted(set(grid[:, 0].tolist())) == values
    assert sorted(set(grid[:, 1].tolist())) == values
    assert len(grid) == len(values) ** 2


def placed_dataset(n: int = 60, size: int = 8) -> PreparedDataset:
    """A bright 2x2 square in the middle of each image; every label is 1."""
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    images[..., 3:5, 3:5] = 255
    return PreparedDataset(
        name="placed",
        images=images,
        labels=torch.ones(n, dtype=torch.long),
        split=torch.tensor([0, 1, 2] * (n // 3), dtype=torch.uint8),
        classes=["right", "left"],
    )


class LeftDetector(nn.Module):
    """Class 1 ("left") when the bright mass lies left of or at the canvas centre, else 0: its
    accuracy on all-1 labels is 100% where dx <= 0 and 0% where dx > 0."""

    def forward(self, x):
        columns = torch.arange(x.shape[-1], dtype=x.dtype)
        mass = x.sum(dim=(1, 2))
        centre = (mass * columns).sum(1) / mass.sum(1)
        left = centre <= (x.shape[-1] - 1) / 2 + 0.25
        return torch.stack([(~left).float(), left.float()], dim=1)


def test_evaluation_places_every_test_image_at_every_position():
    placement = PlacementConfig(canvas=14, region="left", step=1)
    config = EvalConfig(protocols=("placement",), consistency_shift=1, batch_size=64)
    table = evaluate_model(
        LeftDetector(), placed_dataset(), config, CPU, log=lambda _: None, placement=placement
    ).table
    shifted = table[table["metric"] == "accuracy_shifted"]
    assert len(shifted) == 7 * 7
    for row in shifted.itertuples():
        assert row.value == (100.0 if row.dx <= 0 else 0.0)
    values = table.set_index("metric")["value"]
    assert values["accuracy_placed_inside"] == 100.0
    assert values["accuracy_placed_outside"] == 0.0
    # clean accuracies are measured at positions from the training region
    assert values["accuracy_test"] == 100.0


def test_placement_protocol_without_a_canvas_is_an_error():
    config = EvalConfig(protocols=("placement",))
    with pytest.raises(ValueError, match="placement canvas"):
        evaluate_model(LeftDetector(), placed_dataset(), config, CPU, log=lambda _: None)


def test_placement_equals_the_zero_protocol_on_the_canvas():
    images = to_canvas(torch.rand(3, 1, 4, 4), 8)
    assert torch.equal(shift(images, 2, -1, "placement"), shift(images, 2, -1, "zero"))


def test_training_under_placement_sees_the_canvas():
    placement = PlacementConfig(canvas=12, region="centre")
    config = TrainConfig.from_dict({"epochs": 1, "batch_size": 16, "device": "cpu"})
    options = {"widths": (4,), "head": "flatten"}
    result = train_model(
        placed_dataset(), options, "max", 0, config, log=lambda _: None, placement=placement
    )
    assert result.model.spec.image_size == 12
    assert result.meta["placement"] == {"canvas": 12, "region": "centre", "step": 2}
    with torch.no_grad():
        assert result.model(torch.zeros(1, 1, 12, 12)).shape == (1, 2)


def test_placement_and_augmentation_do_not_combine():
    placement = PlacementConfig(canvas=12)
    config = TrainConfig.from_dict({"epochs": 1, "device": "cpu", "augment_shift": 2})
    with pytest.raises(ValueError) as info:
        train_model(placed_dataset(), {}, "max", 0, config, log=lambda _: None, placement=placement)
    assert str(info.value) == (
        "augment_shift and placement cannot be combined: placement draws the training "
        "positions itself"
    )


def test_the_placement_protocol_error_names_the_missing_canvas():
    config = EvalConfig(protocols=("placement",))
    message = r"^the placement protocol needs a placement canvas \(placement\.canvas\)$"
    with pytest.raises(ValueError, match=message):
        evaluate_model(LeftDetector(), placed_dataset(), config, CPU, log=lambda _: None)


def test_accuracy_inside_and_outside_a_centre_region():
    """Trained at the centre only: inside is the one position (0, 0), where the left detector
    is right; outside are the 48 others, of which the 27 with dx <= 0 are right."""
    placement = PlacementConfig(canvas=14, region="centre", step=1)
    config = EvalConfig(protocols=("placement",), consistency_shift=1, batch_size=64)
    table = evaluate_model(
        LeftDetector(), placed_dataset(), config, CPU, log=lambda _: None, placement=placement
    ).table
    rows = table[table["metric"].str.startswith("accuracy_placed")].set_index("metric")
    assert (rows["protocol"] == "placement").all() and (rows["n"] == 20).all()
    assert rows.loc["accuracy_placed_inside", "value"] == 100.0
    assert rows.loc["accuracy_placed_outside", "value"] == pytest.approx(100.0 * 27 / 48)


def test_consistency_given_clean_correct_counts_the_centred_test_images():
    """Clean test images are placed anywhere (region ``everywhere``), so the left detector
    misses those placed right of the centre; the shifted protocols start from the centred
    images, which it classifies correctly, so every test image counts as clean-correct."""
    placement = PlacementConfig(canvas=14, region="everywhere", step=1)
    config = EvalConfig(protocols=("placement",), consistency_shift=1, batch_size=64)
    table = evaluate_model(
        LeftDetector(), placed_dataset(), config, CPU, log=lambda _: None, placement=placement
    ).table
    values = table.set_index("metric")["value"]
    assert values["accuracy_test"] < 100.0
    assert values["consistency_given_clean_correct"] == values["consistency"]


def test_placement_config_reads_its_keys_and_defaults():
    assert PlacementConfig.from_dict(None) == PlacementConfig()
    read = PlacementConfig.from_dict({"canvas": 24, "region": "centre", "step": 3, "other": 1})
    assert read == PlacementConfig(canvas=24, region="centre", step=3)
    assert not PlacementConfig().active and read.active


def test_validation_and_test_positions_are_fixed_by_their_seed():
    images = to_canvas(torch.rand(64, 1, 4, 4) + 0.5, 10)
    config = PlacementConfig(canvas=10, region="everywhere")
    placed = placed_in_region(images, config, 3)
    assert torch.equal(placed, placed_in_region(images, config, 3))
    assert not torch.equal(placed, placed_in_region(images, config, 3, seed=1))
    assert not torch.equal(placed, images)
