"""Sizing a study before it runs: jobs, FLOPs, dataset shapes and the predicted hours."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from poolstudy import cli
from poolstudy.config import load_config, validate_config
from poolstudy.data.prepare import MIRROR_ENV, SPLITS, PreparedShape, prepare_dataset
from poolstudy.estimate import (
    GPU_RATES,
    Rates,
    calibrate_cpu,
    cells,
    data_shape,
    eval_images,
    forward_flops,
    gpu_rates,
    job_count,
    job_seconds,
    networks_by_weight,
    spec_key,
    study_cost,
    train_cost,
    wall_seconds,
)
from poolstudy.models import ModelSpec, build_model, count_flops
from poolstudy.pooling import OPERATORS

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"
PAPER = REPO / "config" / "paper.yaml"
PAPER_HOURS_ON_H100 = 8.0


@pytest.fixture(autouse=True)
def no_mirror(monkeypatch):
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture(scope="module")
def tiny() -> dict:
    return load_config(TINY)


def shape(train: int = 1000, val: int = 100, test: int = 200) -> PreparedShape:
    return PreparedShape(
        splits={"train": train, "val": val, "test": test},
        in_channels=1,
        image_size=16,
        num_classes=10,
    )


def test_job_count_of_the_tiny_config_is_counted_by_hand(tiny):
    main_cells = sum(
        len(overrides.get("operators") or tiny["operators"])
        for overrides in tiny["conditions"].values()
    ) * len(tiny["datasets"])
    sweep = tiny["sweep"]
    sweep_cells = len(sweep["n_train"]) * len(sweep["augment_shift"]) * len(sweep["operators"])
    prepare = len(set(tiny["datasets"]) | {sweep["dataset"]})
    expected = 2 * (main_cells + sweep_cells) + prepare + 4
    assert expected == 2 * (7 + 4) + 1 + 4  # gap 2, flatten 2, placed 2, half 1; sweep 4
    assert job_count(tiny) == study_cost(tiny).jobs == expected


def test_a_cell_holds_every_seed_and_blocks_follow_the_conditions(tiny):
    study = study_cost(tiny)
    assert all(cell.seeds == tuple(tiny["seeds"]) for cell in cells(tiny))
    blocks = {cost.cell.condition: cost.block for cost in study.cells}
    assert blocks["gap"] == blocks["flatten"] == "main"
    assert blocks["placed"] == "placement"
    assert {blocks[c] for c in blocks if c.startswith("sweep-")} == {"sweep"}


@pytest.mark.parametrize("head, head_flops", [("gap", 2 * 4 * 10), ("flatten", 2 * 4 * 16 * 10)])
def test_forward_flops_of_a_one_stage_network_match_a_hand_count(head, head_flops):
    spec = ModelSpec(
        operator="max", in_channels=3, num_classes=10, image_size=8, widths=(4,), head=head
    )
    conv = 2 * 9 * 3 * 4 * 8 * 8  # 3x3 kernel, 3 -> 4 channels, every pixel of 8x8
    assert forward_flops(spec) == conv + head_flops


def test_counting_on_the_meta_device_matches_a_real_forward_pass():
    for operator in OPERATORS:
        options = {"kernel_size": 3} if operator == "fracmax" else {}
        spec = ModelSpec(
            operator=operator,
            in_channels=1,
            num_classes=10,
            image_size=16,
            widths=(4, 8),
            operator_options=options,
        )
        assert forward_flops(spec) == count_flops(build_model(spec)), operator


def test_training_flops_with_a_step_budget():
    train = {"steps": 10, "batch_size": 32, "n_train": None, "epochs": 99, "val_points": 4}
    images, steps, flops = train_cost(train, shape(), flops=1000)
    assert (images, steps) == (320, 10)
    assert flops == 3 * 1000 * 320 + 4 * 100 * 1000


def test_a_run_shorter_than_its_validation_points_validates_once_per_step():
    train = {"steps": 3, "batch_size": 10, "n_train": None, "epochs": 1, "val_points": 10}
    _, _, flops = train_cost(train, shape(), flops=1)
    assert flops == 3 * 3 * 10 + 3 * 100


def test_training_flops_with_epochs_over_a_subset():
    train = {"steps": None, "batch_size": 64, "n_train": 300, "epochs": 2, "val_points": 1}
    images, steps, flops = train_cost(train, shape(), flops=10)
    assert steps == 5 * 2  # ceil(300 / 64) batches per pass
    assert images == steps * 64
    assert flops == 3 * 10 * images + 1 * 100 * 10


def test_evaluation_images_count_every_split_shift_and_view():
    settings = {
        "evaluate": {
            "protocols": ["circular", "subpixel"],
            "max_shift": 1,
            "consistency_shift": 2,
            "subpixel_step": 0.5,
        },
        "placement": {"canvas": None},
    }
    clean = 300 + 100 + 200
    # two random views, then diagonal positions -2..2 (circular) and -1..1 by 0.5 (subpixel)
    shifted = 200 * ((2 * 2 + 2 + 5) + (3 * 3 + 2 + 5))
    assert eval_images(settings, shape(), n_train=300) == clean + shifted
    settings["evaluate"]["train_images"] = 120  # training accuracy on 120 of the 300
    assert eval_images(settings, shape(), n_train=300) == clean - 180 + shifted
    assert eval_images(settings, shape(), n_train=100) == clean - 200 + shifted
    settings["evaluate"]["shift_images"] = 50  # the shift protocols on 50 of the 200 test images
    assert eval_images(settings, shape(), n_train=100) == clean - 200 + shifted // 4


def test_placement_evaluates_every_position_and_the_centred_test_images():
    settings = {
        "evaluate": {"protocols": ["placement"]},
        "placement": {"canvas": 20, "region": "left", "step": 2},
    }
    positions = 3 * 3  # reach (20 - 16) / 2 = 2, step 2: -2, 0, 2 on each axis
    clean = 1000 + 100 + 200 + 200
    views = 2 + 9  # two random views, diagonal positions -4..4 (default consistency_shift)
    assert eval_images(settings, shape(), n_train=1000) == clean + 200 * (positions + views)


def test_shape_of_digits_matches_a_prepared_file(tiny, tmp_path):
    data = tiny["data"]
    prepared = prepare_dataset(
        "digits",
        tmp_path / "digits.pt",
        raw_dir=tmp_path / "raw",
        split=data["split"],
        options=data["options"]["digits"],
    )
    assert_shape_matches(data_shape(tiny, "digits"), prepared)


def test_shape_of_glyphs_matches_a_prepared_file(tiny, tmp_path):
    config = copy.deepcopy(tiny)
    config["data"]["options"]["glyphs"] = {"n_train": 60, "n_val": 20, "n_test": 30, "canvas": 24}
    config["data"]["split"]["val_fraction"] = 0.3
    prepared = prepare_dataset(
        "glyphs",
        tmp_path / "glyphs.pt",
        raw_dir=tmp_path / "raw",
        split=config["data"]["split"],
        options=config["data"]["options"]["glyphs"],
    )
    assert_shape_matches(data_shape(config, "glyphs"), prepared)


def assert_shape_matches(expected: PreparedShape, prepared) -> None:
    counts = prepared.split.bincount(minlength=len(SPLITS)).tolist()
    assert expected.splits == dict(zip(SPLITS, counts, strict=True))
    assert expected.in_channels == prepared.in_channels
    assert expected.image_size == prepared.image_size
    assert expected.num_classes == prepared.num_classes


def test_torchvision_shapes_are_the_published_sizes():
    config = load_config(PAPER)
    config["data"]["options"] = {}
    config["data"]["split"]["val_fraction"] = 0.1
    published = {
        "mnist": (60000, 10000, 1, 28),
        "fashion_mnist": (60000, 10000, 1, 28),
        "cifar10": (50000, 10000, 3, 32),
        "svhn": (73257, 26032, 3, 32),
    }
    for name, (n_train, n_test, channels, size) in published.items():
        found = data_shape(config, name)
        assert found.splits["test"] == n_test
        assert found.splits["train"] + found.splits["val"] == n_train
        assert found.splits["val"] == round(0.1 * n_train)
        assert (found.in_channels, found.image_size, found.num_classes) == (channels, size, 10)


def test_doubling_the_seeds_doubles_the_flops(tiny):
    doubled = copy.deepcopy(tiny)
    doubled["seeds"] = [0, 1, 2, 3]
    doubled["sweep"]["seeds"] = [0, 1, 2, 3]
    once, twice = study_cost(tiny), study_cost(validate_config(doubled))
    assert sum(c.train_flops for c in twice.cells) == 2 * sum(c.train_flops for c in once.cells)
    assert sum(c.eval_flops for c in twice.cells) == 2 * sum(c.eval_flops for c in once.cells)
    assert twice.jobs == once.jobs


def test_wall_time_shares_the_jobs_but_never_beats_the_longest_chain(tiny):
    study = study_cost(tiny)
    rates = Rates("test", 1e9, 1e9, 0.0, 2.0, 1, "")
    serial = wall_seconds(study, rates)
    jobs = 2 * len(study.cells) + study.other_jobs
    flops = sum(c.train_flops / 1e9 + c.eval_flops / 1e9 for c in study.cells)
    assert serial == pytest.approx(flops + 2.0 * jobs)
    wide = wall_seconds(study, Rates("test", 1e9, 1e9, 0.0, 2.0, 10_000, ""))
    longest_cell = max((c.train_flops + c.eval_flops) / 1e9 + 2 * 2.0 for c in study.cells)
    assert wide == pytest.approx(longest_cell + (1 + 4) * 2.0)  # prepare and the single jobs


def test_job_time_adds_the_host_time_of_every_step_and_the_job_cost(tiny):
    cost = study_cost(tiny).cells[0]
    rates = Rates("test", 1e6, 2e6, 0.01, 3.0, 1, "")
    train, evaluate = job_seconds(cost, rates)
    steps = cost.run.steps * len(tiny["seeds"])
    assert train == pytest.approx(cost.train_flops / 1e6 + 0.01 * steps + 3.0)
    assert evaluate == pytest.approx(cost.eval_flops / 2e6 + 3.0)


def test_a_network_measured_on_its_own_runs_at_its_own_rates(tiny):
    study = study_cost(tiny)
    measured, other = (
        study.cells[0],
        next(c for c in study.cells if spec_key(c.spec) != spec_key(study.cells[0].spec)),
    )
    rates = Rates("test", 1e6, 2e6, 0.0, 3.0, 1, "", {spec_key(measured.spec): (4e6, 8e6)})
    train, evaluate = job_seconds(measured, rates)
    assert train == pytest.approx(measured.train_flops / 4e6 + 3.0)
    assert evaluate == pytest.approx(measured.eval_flops / 8e6 + 3.0)
    train, evaluate = job_seconds(other, rates)  # not measured: the headline rates
    assert train == pytest.approx(other.train_flops / 1e6 + 3.0)
    assert evaluate == pytest.approx(other.eval_flops / 2e6 + 3.0)


def test_networks_by_weight_lists_each_network_once_heaviest_first(tiny):
    study = study_cost(tiny)
    networks = networks_by_weight(study)
    keys = [spec_key(c.spec) for c in networks]
    assert sorted(keys) == sorted({spec_key(c.spec) for c in study.cells})
    weights = [sum(c.train_flops for c in study.cells if spec_key(c.spec) == key) for key in keys]
    assert weights == sorted(weights, reverse=True)
    assert weights[0] > weights[-1]


def test_cpu_calibration_times_every_network_and_shows_the_heaviest(tiny):
    study = study_cost(tiny)
    rates = calibrate_cpu(study, tiny, cores=2, seconds=0.05)
    networks = networks_by_weight(study)
    assert set(rates.per_network) == {spec_key(c.spec) for c in networks}
    assert all(train > 0 and evaluate > 0 for train, evaluate in rates.per_network.values())
    assert (rates.train, rates.evaluate) == rates.per_network[spec_key(networks[0].spec)]
    assert rates.parallel == 2


def test_networks_beyond_the_timed_ones_get_the_rates_of_their_operator(tiny, monkeypatch):
    import poolstudy.estimate as estimate

    monkeypatch.setattr(estimate, "CALIBRATED_NETWORKS", 2)
    study = study_cost(tiny)
    networks = networks_by_weight(study)
    timed = networks[:2]
    rates = calibrate_cpu(study, tiny, cores=1, seconds=0.05)
    assert len(networks) > 2 and len(rates.per_network) == len(networks)
    assert rates.per_network[spec_key(timed[0].spec)] != rates.per_network[spec_key(timed[1].spec)]
    for cost in networks[2:]:
        twin = next((c for c in timed if c.spec.operator == cost.spec.operator), timed[0])
        assert rates.per_network[spec_key(cost.spec)] == rates.per_network[spec_key(twin.spec)]
    # the tiny study's heaviest two networks are both `none`: its `max` networks get the rates
    # of the heaviest
    assert {c.spec.operator for c in networks[2:]} - {c.spec.operator for c in timed}
    assert "2 heaviest networks timed" in rates.source


def test_paper_config_runs_overnight_on_one_h100():
    """The acceptance check of config/paper.yaml: at most PAPER_HOURS_ON_H100 predicted."""
    study = study_cost(load_config(PAPER))
    hours = wall_seconds(study, gpu_rates("H100")) / 3600
    assert hours <= PAPER_HOURS_ON_H100


def test_unknown_gpu_is_refused():
    with pytest.raises(ValueError, match="H100"):
        gpu_rates("TPU")
    assert {"H100", "H200", "A100"} <= set(GPU_RATES)


def test_command_refuses_an_unknown_gpu(capsys):
    assert cli.main(["estimate", "--configfile", str(TINY), "--gpu", "V100"]) == 2
    assert "H100" in capsys.readouterr().err


def test_command_prints_json_with_cpu_calibration(capsys):
    threads = torch.get_num_threads()
    code = cli.main(
        ["estimate", "--configfile", str(TINY), "--json", "--calibration-seconds", "0.05"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["jobs"] == job_count(load_config(TINY))
    assert set(report["blocks"]) == {"main", "placement", "sweep", "other"}
    assert report["total"]["train_flops"] > 0
    assert report["machines"]["CPU"]["train"] > 0
    assert report["total"]["CPU_hours"] >= report["blocks"]["main"]["CPU_hours"]
    assert report["total"]["H100_hours"] > 0
    assert torch.get_num_threads() == threads  # calibration ran on one thread, then restored


def test_command_prints_a_table(capsys):
    code = cli.main(
        ["estimate", "--configfile", str(TINY), "--gpu", "A100", "--calibration-seconds", "0"]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Snakemake jobs" in out and "A100 h" in out and "CPU h" not in out
    assert "assumed, not measured" in out
