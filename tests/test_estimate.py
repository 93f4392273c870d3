"""Sizing a study before it runs: jobs, FLOPs, dataset shapes and the predicted hours."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from poolstudy import cli
from poolstudy.config import load_config, validate_config
from poolstudy.data.prepare import MIRROR_ENV, SPLITS, PreparedShape, prepare_dataset
from poolstudy.estimate import (
    GPU_RATES,
    Cell,
    CellCost,
    Rates,
    Report,
    RunCost,
    StudyCost,
    build_report,
    calibrate_cpu,
    cells,
    data_shape,
    eval_images,
    format_report,
    forward_flops,
    gpu_rates,
    job_count,
    job_seconds,
    networks_by_weight,
    report_json,
    si,
    spec_key,
    study_cost,
    train_cost,
    training_pass_flops,
    wall_seconds,
)
from poolstudy.models import ModelSpec, build_model, count_flops
from poolstudy.plan import condition_settings
from poolstudy.pooling import OPERATORS
from poolstudy.train import TrainConfig

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


def test_training_passes_are_counted_once_and_validation_with_every_test_draw():
    # fractional max pooling averages 5 draws at test time, and trains on one
    train = {"steps": 10, "batch_size": 32, "n_train": None, "epochs": 99, "val_points": 4}
    _, _, flops = train_cost(train, shape(), flops=5000, pass_flops=1000)
    assert flops == 3 * 1000 * 320 + 4 * 100 * 5000
    spec = ModelSpec(
        operator="fracmax",
        in_channels=1,
        num_classes=10,
        image_size=16,
        widths=(4, 8),
        operator_options={"kernel_size": 3, "test_draws": 5},
    )
    one_draw = dataclasses.replace(spec, operator_options={"kernel_size": 3, "test_draws": 1})
    assert training_pass_flops(spec) == forward_flops(one_draw) == training_pass_flops(one_draw)
    assert forward_flops(spec) == 5 * forward_flops(one_draw)


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
            "consistency_shift": 3,
            "subpixel_step": 0.5,
        },
        "placement": {"canvas": None},
    }
    clean = 300 + 100 + 200
    # two random views, then diagonal positions -3..3 (circular) and -1..1 by 0.5 (subpixel)
    shifted = 200 * ((2 * 2 + 2 + 7) + (3 * 3 + 2 + 5))
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
    import poolstudy.estimate.calibrate as estimate

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
    with pytest.raises(ValueError) as refused:
        gpu_rates("TPU")
    assert str(refused.value) == "no stored rates for GPU 'TPU'; choose one of: H100, H200, A100"
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


# --- the report, the stored GPU rates and the CPU calibration, known answers --------------


def hand_report() -> Report:
    def row(cells, runs, jobs, train, evaluate, cpu, h100):
        counts = {"cells": cells, "runs": runs, "jobs": jobs, "train_flops": train}
        return counts | {"eval_flops": evaluate, "CPU_hours": cpu, "H100_hours": h100}

    blocks = {
        "main": row(2, 6, 4, 3.2e15, 4.5e12, 12.25, 0.5),
        "placement": row(0, 0, 0, 0, 0, 0.0, 0.0),
        "sweep": row(1, 3, 2, 7e9, 999, 0.004, 0.001),
        "other": row(0, 0, 5, 0, 0, 0.00347, 0.0139),
    }
    total = row(3, 9, 11, 3.2e15 + 7e9, 4.5e12 + 999, 13.0, 0.75)
    cpu = Rates("CPU", 2e9, 5e9, 0.0, 2.5, 2, "this machine")
    gpu = Rates("H100", 1.2e14, 2e14, 0.25, 10.0, 1, "a table")
    return Report("c.yaml", 11, 3, 9, blocks, total, {"CPU": asdict(cpu), "H100": asdict(gpu)})


def test_the_printed_report_in_full():
    assert format_report(hand_report()) == (
        "c.yaml: 11 Snakemake jobs (3 cells x train + evaluate, 5 prepare and single jobs), "
        "9 runs\n"
        "\n"
        "block      cells  runs  jobs  train FLOP  eval FLOP  CPU h  H100 h\n"
        "main           2     6     4   3.2 PFLOP  4.5 TFLOP  12.25    0.50\n"
        "placement      0     0     0      0 FLOP     0 FLOP   0.00    0.00\n"
        "sweep          1     3     2     7 GFLOP   999 FLOP   0.00    0.00\n"
        "other          0     0     5      0 FLOP     0 FLOP   0.00    0.01\n"
        "total          3     9    11   3.2 PFLOP  4.5 TFLOP  13.00    0.75\n"
        "\n"
        "CPU: training 2 GFLOP/s, evaluation 5 GFLOP/s per job, 2.5 s per job; this machine.\n"
        "H100: training 120 TFLOP/s, evaluation 200 TFLOP/s per job, 10.0 s per job, 250.0 ms "
        "per step; a table.\n"
        "Block hours are job-seconds shared by the jobs running at once; the total is never "
        "less than the longest chain (prepare, the longest cell's train and evaluate, the "
        "single jobs)."
    )


def test_the_json_report_holds_every_field():
    printed = json.loads(report_json(hand_report()))
    assert printed["config"] == "c.yaml" and (printed["jobs"], printed["cells"]) == (11, 3)
    assert printed["runs"] == 9 and printed["blocks"]["main"]["CPU_hours"] == 12.25
    assert printed["total"]["H100_hours"] == 0.75
    assert printed["machines"]["H100"]["step_seconds"] == 0.25
    assert json.dumps(printed, indent=2) == report_json(hand_report())


@pytest.mark.parametrize(
    "value, text",
    [
        (1.2e15, "1.2 P"),
        (2.5e18, "2.5 E"),
        (1e18, "1 E"),
        (999e15, "999 P"),
        (3.5e12, "3.5 T"),
        (4e9, "4 G"),
        (12_345_678, "12.3 M"),
        (1000, "1 k"),
        (999, "999 "),
        (0.25, "0.25 "),
        (0, "0 "),
        (-2e9, "-2 G"),
        # rounding that reaches the next prefix takes it
        (9.996e11, "1 T"),
        (999.6, "1 k"),
        (-9.996e11, "-1 T"),
    ],
)
def test_si_prefixes(value, text):
    assert si(value) == text


def test_stored_gpu_rates_in_full():
    assert gpu_rates("A100") == Rates(
        name="A100",
        train=37e12,
        evaluate=62e12,
        step_seconds=2.5e-3,
        job_seconds=10.0,
        parallel=1,
        source=(
            "an estimate from the stored table poolstudy.estimate.GPU_RATES (assumed, not "
            "measured: 12% of the 312 TFLOP/s bf16 peak for training, 20% for evaluation); "
            "jobs run one at a time"
        ),
    )


def hand_study() -> StudyCost:
    """Three cells of two networks, with round costs: a `max` network in two cells (main
    and sweep), a `none` network in one (placement)."""

    def spec(operator, size=16):
        return ModelSpec(operator=operator, in_channels=1, num_classes=10, image_size=size)

    def cost(condition, operator, block, seeds, train, evaluate, steps, size=16):
        run = RunCost(100, 1000, steps, train, 500, evaluate)
        cell = Cell("digits", condition, operator, seeds)
        return CellCost(cell, block, spec(operator, size), run)

    return StudyCost(
        [
            cost("gap", "max", "main", (0, 1), 4e9, 1e9, 10),
            cost("placed", "none", "placement", (0,), 2e9, 3e9, 20, size=20),
            cost("sweep-n64", "max", "sweep", (0, 1, 2), 1e9, 2e9, 5),
        ],
        ["digits", "mnist"],
    )


def test_the_report_of_a_study_in_full():
    study = hand_study()
    slow = Rates("CPU", 1e9, 2e9, 0.5, 3.0, 2, "here")
    fast = Rates("H100", 1e10, 1e10, 0.0, 1.0, 1, "there")
    report = build_report("s.yaml", study, [slow, fast])
    # job-seconds of each cell on the CPU: train FLOPs / 1e9 + 0.5 per step + 3, evaluation
    # FLOPs / 2e9 + 3; on the H100: all FLOPs / 1e10 + 1 per job
    main_cpu = (8 + 0.5 * 20 + 3) + (1 + 3)
    placement_cpu = (2 + 0.5 * 20 + 3) + (1.5 + 3)
    sweep_cpu = (3 + 0.5 * 15 + 3) + (3 + 3)
    main_gpu, placement_gpu, sweep_gpu = 1.0 + 2, 0.5 + 2, 0.9 + 2
    expected = {
        "main": {"cells": 1, "runs": 2, "jobs": 2, "train_flops": 8e9, "eval_flops": 2e9}
        | {"CPU_hours": main_cpu / 2 / 3600, "H100_hours": main_gpu / 3600},
        "placement": {"cells": 1, "runs": 1, "jobs": 2, "train_flops": 2e9, "eval_flops": 3e9}
        | {"CPU_hours": placement_cpu / 2 / 3600, "H100_hours": placement_gpu / 3600},
        "sweep": {"cells": 1, "runs": 3, "jobs": 2, "train_flops": 3e9, "eval_flops": 6e9}
        | {"CPU_hours": sweep_cpu / 2 / 3600, "H100_hours": sweep_gpu / 3600},
        # two prepare jobs and the four single jobs
        "other": {"cells": 0, "runs": 0, "jobs": 6, "train_flops": 0, "eval_flops": 0}
        | {"CPU_hours": 6 * 3.0 / 2 / 3600, "H100_hours": 6 * 1.0 / 3600},
    }
    assert list(report.blocks) == list(expected)
    for name, row in expected.items():
        assert report.blocks[name] == pytest.approx(row), name
    assert (report.config, report.jobs, report.cells, report.runs) == ("s.yaml", 12, 3, 6)
    all_cpu = main_cpu + placement_cpu + sweep_cpu + 6 * 3.0
    all_gpu = main_gpu + placement_gpu + sweep_gpu + 6 * 1.0
    assert report.total == pytest.approx(
        {"cells": 3, "runs": 6, "jobs": 12, "train_flops": 13e9, "eval_flops": 11e9}
        | {"CPU_hours": all_cpu / 2 / 3600, "H100_hours": all_gpu / 3600}
    )
    assert report.machines["CPU"]["step_seconds"] == 0.5
    assert list(report.machines) == ["CPU", "H100"]


def test_a_wide_machine_waits_for_the_longest_chain_of_a_study():
    study = hand_study()
    wide = Rates("CPU", 1e9, 2e9, 0.5, 3.0, 1000, "here")
    # the main cell is the longest (25 s), then prepare and four single jobs of 3 s each
    assert wall_seconds(study, wide) == pytest.approx(25 + 5 * 3.0)
    assert wall_seconds(StudyCost([], []), wide) == pytest.approx(5 * 3.0)


def test_cpu_calibration_in_full_with_its_measurements_faked(tiny, monkeypatch):
    """What calibrate_cpu does with what it measures: each timed network's rates, at its
    batches, on one thread (restored afterwards), the headline rates and the source text."""
    import poolstudy.estimate.calibrate as estimate

    study = study_cost(tiny)
    networks = networks_by_weight(study)
    measured = []

    def fake_measure(spec, batch, eval_batch, seconds):
        measured.append((spec_key(spec), batch, eval_batch, seconds, torch.get_num_threads()))
        return 1e9 * len(measured), 2e9 * len(measured)

    monkeypatch.setattr(estimate, "measure_cpu", fake_measure)
    monkeypatch.setattr(estimate, "start_up_seconds", lambda: 1.5)
    monkeypatch.setattr(estimate.os, "cpu_count", lambda: 7)
    torch.set_num_threads(2)
    try:
        rates = calibrate_cpu(study, tiny, cores=None, seconds=6.0)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    keys = [spec_key(c.spec) for c in networks]
    batches = [estimate.calibration_batches(c, tiny) for c in networks]
    each = 6.0 / len(networks)
    assert measured == [(k, *b, each, 1) for k, b in zip(keys, batches, strict=True)]
    assert rates.per_network == {k: (1e9 * i, 2e9 * i) for i, k in enumerate(keys, start=1)}
    heaviest = networks[0]
    spec = heaviest.spec
    assert (rates.name, rates.train, rates.evaluate) == ("CPU", 1e9, 2e9)
    assert (rates.step_seconds, rates.job_seconds, rates.parallel) == (0.0, 2.5, 7)
    assert rates.source == (
        f"this machine, 7 jobs at once, 1 thread each; each of the study's {len(networks)} "
        f"networks timed at its condition's batches; the rates shown are {spec.operator}'s "
        f"({heaviest.cell.dataset}/{heaviest.cell.condition}, {spec.image_size}px, "
        f"{si(forward_flops(spec))}FLOP per image at test time, the network with most "
        "training FLOPs) at "
        f"batch {batches[0][0]} (training) and {batches[0][1]} (evaluation); per job: "
        '`python -c "import poolstudy.evaluate, jsonschema"` measured (1.5 s) + 1 s assumed'
    )
    monkeypatch.setattr(estimate.os, "cpu_count", lambda: None)
    assert calibrate_cpu(study, tiny, cores=None, seconds=6.0).parallel == 1
    # four timed: none (three networks), then max; the other max networks get max's rates
    assert [c.spec.operator for c in networks] == ["none"] * 3 + ["max"] * 3
    monkeypatch.setattr(estimate, "CALIBRATED_NETWORKS", 4)
    measured.clear()
    rates = calibrate_cpu(study, tiny, cores=1, seconds=6.0)
    timed = [(1e9 * i, 2e9 * i) for i in (1, 2, 3, 4)]
    assert [rates.per_network[k] for k in keys] == timed + [(4e9, 8e9)] * 2
    monkeypatch.setattr(estimate, "CALIBRATED_NETWORKS", 2)
    measured.clear()
    fewer = calibrate_cpu(study, tiny, cores=3, seconds=6.0)
    assert [m[3] for m in measured] == [3.0, 3.0] and fewer.parallel == 3
    assert fewer.source.startswith(
        "this machine, 3 jobs at once, 1 thread each; the study's 2 heaviest networks timed "
        f"at their conditions' batches, {len(networks) - 2} more counted at the rates of a "
        f"timed network with their operator; the rates shown are {spec.operator}'s ("
    )


def test_calibration_restores_the_threads_when_a_measurement_fails(tiny, monkeypatch):
    import poolstudy.estimate.calibrate as estimate

    def broken(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(estimate, "measure_cpu", broken)
    monkeypatch.setattr(estimate, "start_up_seconds", lambda: 0.0)
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            calibrate_cpu(study_cost(tiny), tiny, cores=1, seconds=0.1)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


@pytest.mark.parametrize(
    "configured, flops, batch", [(256, 1e7, 256), (256, 1e8, 100), (256, 3e9, 3), (256, 1e11, 1)]
)
def test_a_calibration_step_stays_under_its_flop_bound(configured, flops, batch):
    from poolstudy.estimate.calibrate import calibration_batch

    assert calibration_batch(configured, flops) == batch


def test_a_network_is_timed_at_its_conditions_batches(tiny, monkeypatch):
    import poolstudy.estimate.calibrate as estimate

    cost = next(c for c in study_cost(tiny).cells if c.cell.condition == "gap")
    train_batch = condition_settings(tiny, "gap")["train"]["batch_size"]
    flops = forward_flops(cost.spec)
    assert estimate.calibration_batches(cost, tiny) == (
        min(train_batch, int(1e10 // (3 * flops))),
        min(
            estimate.eval_batch_size(torch.device("cpu"), "auto", build_model(cost.spec)),
            int(1e10 // flops),
        ),
    )
    monkeypatch.setattr(estimate, "CPU_STEP_FLOPS", 3 * flops * 2)  # two images a step
    assert estimate.calibration_batches(cost, tiny) == (2, 6)


def test_a_rate_is_flops_per_step_over_the_measured_seconds(monkeypatch):
    import poolstudy.estimate.calibrate as estimate

    clock = iter([10.0, 10.5, 11.0, 11.5, 12.0, 12.0])
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: next(clock))
    calls = []
    # warm-up, then steps until 1.5 s have passed: three of them, ending at 11.5 + 0.5
    rate = estimate.timed_rate(lambda: calls.append(1), flops_per_step=300.0, seconds=1.5)
    assert len(calls) == 4
    assert rate == 300.0 * 3 / 2.0
    clock = iter([0.0, 5.0, 5.0])  # one step longer than the budget still counts once
    assert estimate.timed_rate(lambda: None, 10.0, seconds=1.0) == 10.0 / 5.0


def test_a_network_is_measured_as_the_jobs_run_it(monkeypatch):
    """Training steps in train mode, forward passes in eval mode, both channels_last, at
    the batches given; each rate counts its step's FLOPs."""
    import poolstudy.estimate.calibrate as estimate

    spec = ModelSpec(operator="max", in_channels=3, num_classes=4, image_size=8, widths=(4,))
    seen = []

    def fake_timed(step, flops_per_step, seconds):
        before = len(seen)
        step()
        assert len(seen) == before + 1
        return flops_per_step / seconds

    def record(module, inputs):
        seen.append((module.training, inputs[0].shape[0], inputs[0].stride()))

    flops = forward_flops(spec)  # counted (and cached) before the network is watched
    built = build_model(spec)
    built.register_forward_pre_hook(record)
    monkeypatch.setattr(estimate, "build_model", lambda _: built)
    monkeypatch.setattr(estimate, "timed_rate", fake_timed)
    before = [p.detach().clone() for p in built.parameters()]
    train, evaluate = estimate.measure_cpu(spec, batch=5, eval_batch=7, seconds=2.0)
    assert (train, evaluate) == (3 * flops * 5 / 2.0, flops * 7 / 2.0)
    layout = torch.empty(7, 3, 8, 8, memory_format=torch.channels_last).stride()
    assert seen == [(True, 5, layout), (False, 7, layout)]
    assert all(not torch.equal(a, b) for a, b in zip(before, built.parameters(), strict=True))
    conv = next(m for m in built.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()


def test_a_network_is_measured_with_the_jobs_optimiser(monkeypatch):
    import poolstudy.estimate.calibrate as estimate
    from poolstudy.train import make_optimizer

    made = []

    def recording(model, config):
        made.append(config)
        return make_optimizer(model, config)

    monkeypatch.setattr(estimate, "make_optimizer", recording)
    monkeypatch.setattr(estimate, "timed_rate", lambda step, flops, seconds: step() or 1.0)
    spec = ModelSpec(operator="max", in_channels=1, num_classes=4, image_size=8, widths=(4,))
    assert estimate.measure_cpu(spec, batch=2, eval_batch=2, seconds=1.0) == (1.0, 1.0)
    assert made == [TrainConfig.from_dict({})]


def test_start_up_is_timed_in_a_new_process(monkeypatch):
    import poolstudy.estimate.calibrate as estimate

    commands = []
    monkeypatch.setattr(
        estimate.subprocess, "run", lambda cmd, check: commands.append((cmd, check))
    )
    clock = iter([5.0, 7.5])
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: next(clock))
    assert estimate.start_up_seconds() == 2.5
    assert commands == [
        ([estimate.sys.executable, "-c", "import poolstudy.evaluate, jsonschema"], True)
    ]


def test_the_network_of_a_cell_is_the_one_its_run_trains(tiny):
    from poolstudy.checks import network_spec
    from poolstudy.estimate.cost import block_of

    shape = data_shape(tiny, "digits")
    model = tiny["model"]
    common = {"in_channels": 1, "num_classes": 10, "widths": tuple(model["widths"])}
    common |= {k: model[k] for k in ("convs_per_stage", "kernel_size", "head", "padding_mode")}
    gap = copy.deepcopy(condition_settings(tiny, "gap"))
    gap["model"]["operator_options"] = {"fracmax": {"kernel_size": 3}}
    placed = condition_settings(tiny, "placed")
    assert network_spec("fracmax", shape, gap) == ModelSpec(
        operator="fracmax", image_size=16, operator_options={"kernel_size": 3}, **common
    )
    # under placement the network sees the canvas; an operator without options gets none
    assert network_spec("none", shape, placed) == ModelSpec(
        operator="none", image_size=20, operator_options={}, **common
    )
    assert block_of("gap", gap) == "main" and block_of("placed", placed) == "placement"
    assert block_of("sweep-anything", placed) == "sweep"


def test_an_operator_the_meta_device_cannot_run_is_counted_on_the_cpu(monkeypatch):
    import poolstudy.estimate.cost as estimate

    devices = []

    def count(model):
        device = next(model.parameters()).device.type
        devices.append(device)
        if device == "meta":
            raise NotImplementedError("no meta kernel")
        return 1234, 1234

    monkeypatch.setattr(estimate, "flop_counts", count)
    spec = ModelSpec(operator="avg", in_channels=2, num_classes=3, image_size=7, widths=(5,))
    estimate._flops_of.cache_clear()
    try:
        assert forward_flops(spec) == 1234 and devices == ["meta", "cpu"]
        assert forward_flops(spec) == 1234 and len(devices) == 2  # cached
    finally:
        estimate._flops_of.cache_clear()


def test_a_split_smaller_than_a_batch_trains_one_step_per_epoch():
    train = {"steps": None, "batch_size": 64, "n_train": 40, "epochs": 3, "val_points": 1}
    images, steps, flops = train_cost(train, shape(), flops=1)
    assert (images, steps, flops) == (3 * 40, 3, 3 * 3 * 40 + 100)
    assert train_cost({**train, "n_train": 1000}, shape(train=1000), flops=1)[1] == 16 * 3


@pytest.mark.parametrize("operator", ["max", "fracmax"])
def test_a_runs_cost_in_full(operator):
    from poolstudy.estimate.cost import run_cost

    options = {"kernel_size": 3, "test_draws": 5} if operator == "fracmax" else {}
    spec = ModelSpec(operator, 1, 10, 16, widths=(4, 8), operator_options=options)
    settings = {
        "train": {"steps": 10, "batch_size": 32, "n_train": 500, "epochs": 1, "val_points": 2},
        "evaluate": {"protocols": [], "train_images": None, "shift_images": None},
        "placement": {"canvas": None},
    }
    flops, one_pass = forward_flops(spec), training_pass_flops(spec)
    # fractional max pooling averages several draws at test time, and trains on one
    assert (one_pass < flops) == (operator == "fracmax")
    evaluated = 500 + 100 + 200  # the 500 trained on, validation, test
    assert run_cost(settings, shape(), spec) == RunCost(
        forward_flops=flops,
        train_images=320,
        steps=10,
        train_flops=float(one_pass) * 3 * 320 + float(flops) * 2 * 100,
        eval_images=evaluated,
        eval_flops=float(flops) * evaluated,
    )


def test_a_block_of_two_cells_has_four_jobs():
    from poolstudy.estimate.report import block_row

    main = hand_study().block("main")
    assert block_row(main + main, [])["jobs"] == 4
    empty = {"cells": 0, "runs": 0, "jobs": 0, "train_flops": 0, "eval_flops": 0}
    assert block_row([], []) == empty


def test_a_network_has_one_key_whatever_the_order_of_its_options():
    def spec(options):
        return ModelSpec("fracmax", 1, 10, 16, operator_options=options)

    first, second = spec({"kernel_size": 3, "ratio": 0.5}), spec({"ratio": 0.5, "kernel_size": 3})
    assert list(first.operator_options) != list(second.operator_options)
    assert spec_key(first) == spec_key(second) != spec_key(spec({"kernel_size": 3}))


# --- a GPU's rates from the device check's figures ----------------------------------------


TIMED_NETWORK = ModelSpec(operator="max", in_channels=1, num_classes=26, image_size=24)
"""The network of the study that ``gpu_check``'s figures timed."""


def network_row(**changes) -> dict:
    """A row of the check's ``networks``: one of the study's networks timed on the GPU."""
    row = {
        "network": spec_key(TIMED_NETWORK),
        "operator": "max",
        "dataset": "glyphs",
        "condition": "primary",
        "train_tflops": 30.0,
        "eval_tflops": 50.0,
    }
    return row | changes


def gpu_check(**changes) -> dict:
    """A device check's figures as ``bench --device cuda --out FILE`` writes them."""
    check = {
        "device": "cuda:0",
        "device_name": "NVIDIA H100 80GB HBM3",
        "torch": "2.9.0",
        "format": 3,
        "operators": [
            {"operator": "max", "train_tflops": 2.0, "eval_tflops": 6.0},
            {"operator": "none", "train_tflops": 4.0, "eval_tflops": 10.0},
            {"operator": "stride", "train_tflops": 9.0, "eval_tflops": 9.0},
        ],
        "networks": [network_row()],
        "engine_loop": {"step_seconds": 0.012, "bare_step_seconds": 0.010},
        "job_start_seconds": 3.5,
    }
    return check | changes


def test_a_checked_gpu_runs_each_operator_at_its_measured_rates():
    from poolstudy.estimate import CPU_JOB_EXTRA_SECONDS, check_rates

    rates = check_rates(gpu_check(), source="check.json")
    assert rates.name == "H100 measured" and rates.parallel == 1
    # a network of the study that the check timed: at its own rates
    assert rates.for_network(TIMED_NETWORK) == (30e12, 50e12)
    # another network of the same operator: at the rates of the check's network of it
    spec = ModelSpec(operator="max", in_channels=1, num_classes=2, image_size=8)
    assert rates.for_network(spec) == (2e12, 6e12)
    assert rates.for_network(dataclasses.replace(spec, operator="none")) == (4e12, 10e12)
    # an operator the check did not measure: the median over those it did
    assert rates.for_network(dataclasses.replace(spec, operator="avg")) == (4e12, 9e12)
    assert (rates.train, rates.evaluate) == (4e12, 9e12)
    # per step, what the engine's loop costs beyond the bare step (whose time the rate holds)
    assert rates.step_seconds == pytest.approx(0.002)
    assert rates.job_seconds == 3.5 + CPU_JOB_EXTRA_SECONDS
    assert rates.source == (
        "measured by check.json on NVIDIA H100 80GB HBM3 (torch 2.9.0): 1 network timed "
        "(training at 30 TFLOP/s), each at its own measured rates; each of its 3 operators at "
        "its own rates for the other networks (training from 2 TFLOP/s to 9 TFLOP/s; other "
        "operators at the medians shown); per step, the engine loop's time beyond the bare "
        "step's (2.0 ms); per "
        "job, a new process's start-up on the GPU measured (3.5 s) + 1 s assumed; jobs run one "
        "at a time"
    )
    unnamed = check_rates(
        {k: v for k, v in gpu_check().items() if k not in ("torch", "device_name")}
    )
    assert unnamed.name == "GPU measured"
    assert unnamed.source.startswith("measured by the device check on a GPU (torch ?): 1 net")
    untimed = check_rates(gpu_check(networks=[]))
    assert untimed.per_network == {} and untimed.for_network(TIMED_NETWORK) == (2e12, 6e12)
    assert ": no networks timed; each of its 3 operators" in untimed.source


def test_a_checks_rates_say_how_much_of_the_study_they_timed():
    """The check times config/paper.yaml's networks: another study may have some of them, or
    none, and the rates' description says which (``hand_study``: a `max` network of 16 pixels
    with 11 of its 13 GFLOP of training, a `none` network of 20 pixels with 2)."""
    from poolstudy.estimate import check_rates

    study = hand_study()
    ours = spec_key(study.cells[0].spec)
    two = gpu_check(networks=[network_row(network=ours), network_row(network="x", train_tflops=8)])
    assert check_rates(two, study=study).source.startswith(
        "measured by the device check on NVIDIA H100 80GB HBM3 (torch 2.9.0): 2 networks timed "
        "(training from 8 TFLOP/s to 30 TFLOP/s), 1 of this study's 2 networks among them (85% "
        "of its training FLOPs) at their own measured rates; each of its 3 operators"
    )
    assert "2 networks timed (training from 8 TFLOP/s to 30 TFLOP/s), each at its own" in (
        check_rates(two).source
    )
    others = check_rates(gpu_check(), study=study)
    assert "1 network timed (training at 30 TFLOP/s), none of them this study's; each" in (
        others.source
    )
    assert others.for_network(study.cells[0].spec) == (2e12, 6e12)  # its operator's
    both = gpu_check(
        networks=[network_row(network=spec_key(cost.spec)) for cost in study.cells[:2]]
    )
    assert "2 of this study's 2 networks among them (100% of its training FLOPs)" in (
        check_rates(both, study=study).source
    )
    faster = gpu_check(engine_loop={"step_seconds": 0.009, "bare_step_seconds": 0.010})
    assert check_rates(faster).step_seconds == 0.0
    slower = gpu_check(engine_loop={"step_seconds": 0.3, "bare_step_seconds": 0.1})
    assert "the bare step's (200.0 ms)" in check_rates(slower).source


def test_a_checked_gpus_prediction_follows_its_rates(tiny):
    from poolstudy.estimate import check_rates

    study = study_cost(tiny)
    base = check_rates(gpu_check())
    doubled = gpu_check(
        operators=[
            row | {"train_tflops": 2 * row["train_tflops"], "eval_tflops": 2 * row["eval_tflops"]}
            for row in gpu_check()["operators"]
        ]
    )
    for cost in study.cells:
        train, evaluate = job_seconds(cost, base)
        train2, evaluate2 = job_seconds(cost, check_rates(doubled))
        fixed_train = cost.steps * base.step_seconds + base.job_seconds
        assert train2 - fixed_train == pytest.approx((train - fixed_train) / 2)
        assert evaluate2 - base.job_seconds == pytest.approx((evaluate - base.job_seconds) / 2)


def test_a_network_measured_itself_comes_before_its_operators_rates():
    spec = ModelSpec(operator="max", in_channels=1, num_classes=2, image_size=8)
    other = dataclasses.replace(spec, image_size=16)
    rates = Rates(
        name="x", train=1.0, evaluate=2.0, step_seconds=0.0, job_seconds=0.0, parallel=1,
        source="", per_network={spec_key(spec): (5.0, 6.0)}, per_operator={"max": (3.0, 4.0)},
    )  # fmt: skip
    assert rates.for_network(spec) == (5.0, 6.0)
    assert rates.for_network(other) == (3.0, 4.0)
    assert rates.for_network(dataclasses.replace(spec, operator="none")) == (1.0, 2.0)


@pytest.mark.parametrize(
    ("device_name", "short"),
    [("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA A100-SXM4-40GB", "A100"),
     ("cpu", "cpu"), ("NVIDIA GeForce RTX 4090", "4090")],
)  # fmt: skip
def test_a_gpus_short_name_is_its_model(device_name, short):
    from poolstudy.estimate.gpu_check import short_name

    assert short_name(device_name) == short


def without(key: str, **changes) -> dict:
    return {k: v for k, v in gpu_check(**changes).items() if k != key}


def error_of(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return str(error)
    raise AssertionError(f"{text!r} is JSON")


NOT_JSON = "{not json"
NO_FIGURES = "no such figures in the file: an older check?"
NO_LOOP = f"the check did not time the engine's training loop ({NO_FIGURES})"
BAD_RATES = (
    "max's training and evaluation rates must be positive finite numbers, not {} and {} TFLOP/s"
)
BAD_TIMES = "times must be finite seconds >= 0, not "
NO_OPERATORS = (
    "the check has no operators' training and evaluation figures (written by an older check? run "
    "it again)"
)
REFUSALS = [
    (None, "no such file (write one with `python -m poolstudy bench --device cuda --out FILE`)"),
    (NOT_JSON, f"not a JSON file of the device check ({error_of(NOT_JSON)})"),
    (gpu_check(device="cpu"), "not a device check run on a GPU (its device: 'cpu')"),
    (without("device"), "not a device check run on a GPU (its device: None)"),
    ([1, 2], "not a device check run on a GPU (its device: None)"),
    (gpu_check(operators=[]), NO_OPERATORS),
    (without("format"), "written by an older device check (format 1, not 3); run it again"),
    (gpu_check(format=2), "written by an older device check (format 2, not 3); run it again"),
    (gpu_check(format="3"), "written by an older device check (format '3', not 3); run it again"),
    (gpu_check(operators=[{"operator": "max", "train_tflops": 1.0}]), NO_OPERATORS),
    (gpu_check(operators=[{"operator": "max", "train_tflops": 0.0, "eval_tflops": 1.0}]),
     BAD_RATES.format("0.0", "1.0")),
    (gpu_check(operators=[{"operator": "max", "train_tflops": 1.0, "eval_tflops": "fast"}]),
     BAD_RATES.format("1.0", "'fast'")),
    (gpu_check(engine_loop={"skipped": "needs pandas"}),
     "the check did not time the engine's training loop (needs pandas)"),
    (gpu_check(engine_loop={}), NO_LOOP),
    (without("engine_loop"), NO_LOOP),
    (gpu_check(engine_loop=None), NO_LOOP),
    (gpu_check(engine_loop={"step_seconds": "0.1", "bare_step_seconds": 0.1}), NO_LOOP),
    (gpu_check(engine_loop={}, errors={"engine_loop": "Traceback\n...\nOOM: 3 GB\n"}),
     "the check did not time the engine's training loop (OOM: 3 GB)"),
    (gpu_check(engine_loop={}, errors=["not", "a mapping"]), NO_LOOP),
    (gpu_check(errors={"operator stride": "Traceback\nOutOfMemoryError: 2 GiB\n",
                       "job_start_seconds": "Traceback\nError\n", "operator lp": 3}),
     "the check failed for some operators or networks (operator stride: OutOfMemoryError: 2 "
     "GiB; operator lp: ?)"),
    (gpu_check(errors={"network none (cifar10/placement)": "Traceback\nOutOfMemoryError\n"}),
     "the check failed for some operators or networks (network none (cifar10/placement): "
     "OutOfMemoryError)"),
    (without("networks"), f"the check did not time the study's networks ({NO_FIGURES})"),
    (gpu_check(networks=None), f"the check did not time the study's networks ({NO_FIGURES})"),
    (without("networks", errors={"networks": "Traceback\nValidationError: bad config\n"}),
     "the check did not time the study's networks (ValidationError: bad config)"),
    (gpu_check(networks=[network_row(network=3)]),
     f"the check did not time the study's networks ({NO_FIGURES})"),
    (gpu_check(networks=[{"network": "x", "train_tflops": 1.0}]),
     f"the check did not time the study's networks ({NO_FIGURES})"),
    (gpu_check(networks=[network_row(eval_tflops=-1.0)]),
     "the network max (glyphs/primary)'s training and evaluation rates must be positive finite "
     "numbers, not 30.0 and -1.0 TFLOP/s"),
    (gpu_check(networks=[{"network": "x", "train_tflops": math.inf, "eval_tflops": 1.0}]),
     "the network ? (?/?)'s training and evaluation rates must be positive finite numbers, not "
     "inf and 1.0 TFLOP/s"),
    (gpu_check(networks={"skipped": "needs jsonschema: install them (README.md)"}),
     "the check did not time the study's networks (needs jsonschema: install them (README.md))"),
    (gpu_check(networks=[network_row(train_tflops=10**400)]),
     "the network max (glyphs/primary)'s training and evaluation rates must be positive finite "
     f"numbers, not {10**400!r} and 50.0 TFLOP/s"),
    (gpu_check(job_start_seconds=10**400),
     f"the check did not time a job's start-up ({NO_FIGURES})"),
    (gpu_check(engine_loop={}, errors={"engine_loop": 3}), NO_LOOP),
    (without("job_start_seconds", errors={"job_start_seconds": "Traceback\nCalledProcessError: 1"}),
     "the check did not time a job's start-up (CalledProcessError: 1)"),
    (without("job_start_seconds"), f"the check did not time a job's start-up ({NO_FIGURES})"),
    (gpu_check(job_start_seconds=True), f"the check did not time a job's start-up ({NO_FIGURES})"),
    (gpu_check(operators={"max": {"train_tflops": 1.0}}), NO_OPERATORS),
    (gpu_check(operators=[3.0]), NO_OPERATORS),
    (gpu_check(operators=[{"operator": ["max"], "train_tflops": 1.0, "eval_tflops": 1.0}]),
     NO_OPERATORS),
    (gpu_check(device_name=None), "its device_name must be text, not None"),
    (gpu_check(device_name=3), "its device_name must be text, not 3"),
    (gpu_check(operators=[{"operator": "max", "train_tflops": True, "eval_tflops": 1.0}]),
     BAD_RATES.format("True", "1.0")),
    (gpu_check(operators=[{"operator": "max", "train_tflops": math.inf, "eval_tflops": 1.0}]),
     BAD_RATES.format("inf", "1.0")),
    (gpu_check(operators=[{"operator": "max", "train_tflops": 1.0, "eval_tflops": math.nan}]),
     BAD_RATES.format("1.0", "nan")),
    (gpu_check(job_start_seconds=-1.5), BAD_TIMES + "job_start_seconds -1.5"),
    (gpu_check(engine_loop={"step_seconds": math.inf, "bare_step_seconds": -0.5}),
     BAD_TIMES + "step_seconds inf, bare_step_seconds -0.5"),
    (gpu_check(engine_loop={"step_seconds": 0.1, "bare_step_seconds": math.nan}),
     BAD_TIMES + "bare_step_seconds nan"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), REFUSALS)
def test_a_check_file_that_cannot_give_rates_is_refused_with_the_reason(tmp_path, content, message):
    from poolstudy.estimate import CheckError, read_check

    path = tmp_path / "check.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(CheckError) as refused:
        read_check(path)
    assert str(refused.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "check",
    [
        gpu_check(operators=[{"operator": "max", "train_tflops": 0.5, "eval_tflops": 0.25}]),
        gpu_check(engine_loop={"step_seconds": 0.0, "bare_step_seconds": 0}, job_start_seconds=0),
    ],
    ids=["rates below one TFLOP/s", "times of zero seconds"],
)
def test_a_check_file_with_small_figures_is_read(tmp_path, check):
    from poolstudy.estimate import read_check

    path = tmp_path / "check.json"
    path.write_text(json.dumps(check))
    assert read_check(path) == check


def test_a_check_path_that_cannot_be_read_is_refused_with_the_reason(tmp_path):
    from poolstudy.estimate import CheckError, read_check

    binary = tmp_path / "check.json"
    binary.write_bytes(b"\xd0\x00\xff")
    for path, reason in ((tmp_path, "Is a directory"), (binary, "'utf-8' codec can't decode")):
        with pytest.raises(CheckError) as refused:
            read_check(path)
        assert str(refused.value).startswith(f"{path}: cannot be read ({reason}")


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--cores", "-2", "must be at least 1, not -2"),
        ("--cores", "0", "must be at least 1, not 0"),
        ("--cores", "two", "not a whole number: 'two'"),
        ("--calibration-seconds", "inf", "must be finite seconds >= 0, not inf"),
        ("--calibration-seconds", "nan", "must be finite seconds >= 0, not nan"),
        ("--calibration-seconds", "-1", "must be finite seconds >= 0, not -1"),
        ("--calibration-seconds", "soon", "not a number: 'soon'"),
    ],
)
def test_command_refuses_a_count_or_duration_out_of_range(capsys, option, value, why):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["estimate", "--configfile", str(TINY), option, value])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"argument {option}: {why}")


def test_command_names_a_config_it_cannot_read_in_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    assert cli.main(["check-config", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"poolstudy check-config: {missing}: cannot read the config (No such file or directory)\n"
    )


def test_command_predicts_with_a_checked_gpu_beside_the_stored_one(tmp_path, capsys):
    path = tmp_path / "check.json"
    path.write_text(json.dumps(gpu_check()))
    args = ["estimate", "--configfile", str(TINY), "--calibration-seconds", "0"]
    assert cli.main([*args, "--json", "--gpu-check", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["machines"]) == {"H100", "H100 measured"}
    assert report["total"]["H100 measured_hours"] > 0
    assert report["machines"]["H100 measured"]["per_operator"]["max"] == [2e12, 6e12]
    timed = report["machines"]["H100 measured"]["per_network"]
    assert timed == {spec_key(TIMED_NETWORK): [30e12, 50e12]}
    assert cli.main([*args, "--gpu-check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "H100 measured h" in out and f"measured by {path}" in out
    assert "1 network timed (training at 30 TFLOP/s), none of them this study's" in out
    path.write_text(json.dumps(gpu_check(device="cpu")))
    assert cli.main([*args, "--gpu-check", str(path)]) == 2
    assert "not a device check run on a GPU" in capsys.readouterr().err
