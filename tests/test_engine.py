"""The engine: one process per cell, bounded validation, divergence stops a run, device
helpers (GPU count, memory-fitted batches) and a light deterministic mode."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import imports_after, quiet, same_state, state_of
from test_train import synthetic_dataset

import poolstudy.train as train_module
from poolstudy import device as devices
from poolstudy.evaluate import EvalConfig, evaluate_cell, evaluate_model
from poolstudy.models import ModelSpec, build_model, flop_counts
from poolstudy.placement import PlacementConfig, region_offsets
from poolstudy.plan import seed_groups
from poolstudy.pooling import OPERATORS
from poolstudy.run_files import load_model, run_identity
from poolstudy.shifts import random_offsets
from poolstudy.train import (
    TrainConfig,
    TrainingDiverged,
    run_training,
    spec_options_for,
    train_cell,
    train_model,
    validation_steps,
)

MODEL_OPTIONS = {"widths": [4, 8], "operator_options": {}}
TRAIN_OPTIONS = {"epochs": 2, "batch_size": 16, "device": "cpu", "val_points": 3}


@pytest.mark.parametrize(
    ("total", "points", "expected"),
    [(100, 4, [25, 50, 75, 100]), (3, 10, [1, 2, 3]), (7, 1, [7]), (10, 3, [3, 7, 10])],
)
def test_validation_steps_are_evenly_spaced_and_end_at_the_last_step(total, points, expected):
    assert validation_steps(total, points) == expected


def test_validation_runs_only_at_its_points(monkeypatch):
    calls = []
    original = train_module.accuracy_on

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "accuracy_on", counting)
    # 8 training images in batches of 4: 2 steps per epoch, 60 steps = 30 epochs
    config = TrainConfig.from_dict(
        {"steps": 60, "batch_size": 4, "n_train": 8, "device": "cpu", "val_points": 4}
    )
    result = train_model(synthetic_dataset(), {"widths": (4, 8)}, "max", 0, config, log=quiet)
    assert len(calls) == 4
    assert result.history["step"].tolist() == [15, 30, 45, 60]


# fracmax draws its training regions from the global generator, which the accounting (its
# receptive field builds a network) must leave as the seed set it
@pytest.mark.parametrize(
    "operator, model",
    [
        ("max", MODEL_OPTIONS),
        ("fracmax", {**MODEL_OPTIONS, "operator_options": {"fracmax": {"kernel_size": 3}}}),
    ],
)
def test_a_cell_trains_each_seed_as_its_own_run_would(
    data_path, tmp_path, monkeypatch, operator, model
):
    described = []
    original = train_module.describe
    monkeypatch.setattr(train_module, "describe", lambda m: described.append(1) or original(m))
    cell_dirs = [tmp_path / "cell" / str(seed) for seed in (0, 1, 2)]
    train_cell(data_path, operator, [0, 1, 2], model, TRAIN_OPTIONS, cell_dirs, log=quiet)
    assert len(described) == 1  # the accounting is computed once per cell
    for seed, cell_dir in zip((0, 1, 2), cell_dirs, strict=True):
        alone = tmp_path / "alone" / str(seed)
        run_training(data_path, operator, seed, model, TRAIN_OPTIONS, alone)
        assert same_state(state_of(cell_dir / "model.pt"), state_of(alone / "model.pt"))
        meta = json.loads((cell_dir / "meta.json").read_text())
        assert meta["seed"] == seed and meta["flops"] > 0
    assert not same_state(state_of(cell_dirs[0] / "model.pt"), state_of(cell_dirs[1] / "model.pt"))


def test_a_cell_records_its_condition_and_builds_its_operators_own_options(data_path, tmp_path):
    model = {"widths": [4, 8], "operator_options": {"fracmax": {"kernel_size": 3}, "max": {}}}
    cell_dirs = [tmp_path / "cell" / str(seed) for seed in (0, 1)]
    results = train_cell(data_path, "fracmax", [0, 1], model, TRAIN_OPTIONS, cell_dirs, log=quiet)
    for result, cell_dir in zip(results, cell_dirs, strict=True):
        meta = json.loads((cell_dir / "meta.json").read_text())
        assert meta["condition"] == "base"
        assert meta["spec"]["operator_options"] == {"kernel_size": 3}
        assert load_model(cell_dir / "model.pt").spec == result.model.spec
    sweep = train_cell(
        data_path, "max", [0], model, TRAIN_OPTIONS, [tmp_path / "s"], condition="n250", log=quiet
    )
    assert sweep[0].meta["condition"] == "n250"
    assert json.loads((tmp_path / "s" / "meta.json").read_text())["condition"] == "n250"


def test_spec_options_are_the_model_options_with_only_this_operators_own():
    model = {"widths": [4], "head": "gap", "operator_options": {"fracmax": {"kernel_size": 3}}}
    assert spec_options_for(model, "fracmax") == {
        "widths": [4],
        "head": "gap",
        "operator_options": {"kernel_size": 3},
    }
    assert spec_options_for(model, "max") == {"widths": [4], "head": "gap", "operator_options": {}}
    assert spec_options_for({"widths": [4]}, "max") == {"widths": [4], "operator_options": {}}


def test_a_runs_identity_names_everything_that_makes_it_that_run():
    data = synthetic_dataset()
    config = TrainConfig.from_dict({"device": "cpu", "lr": 0.05})
    placement = PlacementConfig(canvas=24)
    spec = {"operator": "max", "widths": [4, 8], "in_channels": 1, "num_classes": 3}
    model = build_model(ModelSpec.from_dict({**spec, "image_size": 16}))
    identity = run_identity(data, model, 3, config, placement, torch.device("cpu"))
    expected = {
        "data": data.content_digest(),
        "seed": 3,
        "spec": model.spec.to_dict(),
        "train_config": dataclasses.asdict(config),
        "placement": dataclasses.asdict(placement),
        "device": "cpu",
        "torch": torch.__version__,
    }
    assert identity == json.dumps(expected, sort_keys=True)


def test_a_cell_needs_one_folder_per_seed(data_path, tmp_path):
    with pytest.raises(ValueError, match="2 seeds but 1 output"):
        train_cell(data_path, "max", [0, 1], MODEL_OPTIONS, TRAIN_OPTIONS, [tmp_path])


def test_divergence_stops_training_and_writes_no_model(data_path, tmp_path):
    options = {**TRAIN_OPTIONS, "lr": 1e12, "warmup_epochs": 0.0}
    # 40 training images in batches of 16, 2 epochs: 6 steps
    expected = r"^max seed 0: .* by step \d of 6 \(peak learning rate 1e\+12\); no model"
    with pytest.raises(TrainingDiverged, match=expected):
        train_cell(data_path, "max", [0], MODEL_OPTIONS, options, [tmp_path / "run"], log=quiet)
    assert not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.child
def test_the_cli_trains_and_evaluates_a_cell(data_path, tmp_path):
    runs = [tmp_path / "m" / str(seed) for seed in (0, 1)]
    common = [sys.executable, "-m", "poolstudy"]
    subprocess.run(
        [*common, "train", "--data", str(data_path), "--operator", "avg", "--seeds", "0", "1"]
        + ["--model", json.dumps(MODEL_OPTIONS), "--train", json.dumps(TRAIN_OPTIONS)]
        + ["--out-dir", *map(str, runs), "--threads", "1"],
        check=True,
        capture_output=True,
    )
    outs = [tmp_path / f"{seed}.csv" for seed in (0, 1)]
    subprocess.run(
        [*common, "evaluate", "--data", str(data_path)]
        + ["--model", *(str(run / "model.pt") for run in runs), "--seeds", "0", "1"]
        + ["--evaluate", json.dumps({"protocols": ["circular"], "max_shift": 1})]
        + ["--experiment", "x", "--dataset", "synthetic", "--condition", "gap"]
        + ["--operator", "avg", "--out", *map(str, outs), "--threads", "1"],
        check=True,
        capture_output=True,
    )
    for seed, out in zip((0, 1), outs, strict=True):
        table = pd.read_csv(out)
        assert set(table["seed"]) == {seed} and set(table["operator"]) == {"avg"}
        direct = evaluate_model(
            load_model(runs[seed] / "model.pt"),
            synthetic_dataset(),
            EvalConfig.from_dict({"protocols": ["circular"], "max_shift": 1}),
            torch.device("cpu"),
            log=quiet,
            seed=seed,
        ).table
        pd.testing.assert_series_equal(
            table["value"], direct["value"], check_names=False, check_exact=False
        )


def test_evaluate_cell_needs_matching_lists(data_path, tmp_path):
    with pytest.raises(ValueError, match="one model, seed, output"):
        evaluate_cell(data_path, ["a.pt"], [0, 1], {}, {}, None, {}, ["x.csv"])


def test_seed_groups_split_main_and_sweep():
    config = {
        "seeds": [0, 1, 2],
        "conditions": {"gap": {}, "flatten": {}},
        "sweep": {"seeds": [5, 6], "n_train": [10, 20], "augment_shift": [0]},
    }
    groups = seed_groups(config)
    assert groups["main"] == (["gap", "flatten"], [0, 1, 2])
    assert groups["sweep"] == (["sweep-n10-aug0", "sweep-n20-aug0"], [5, 6])
    assert set(seed_groups({**config, "sweep": None})) == {"main"}


@pytest.mark.parametrize(
    ("visible", "expected"), [("0,1", 2), ("", 0), ("3", 1), ("0,-1,2", 1), ("GPU-abc", 1)]
)
def test_visible_gpus_follows_cuda_visible_devices(monkeypatch, visible, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert devices.visible_gpus() == expected


def test_uses_cuda():
    assert devices.uses_cuda("auto", 1) and not devices.uses_cuda("auto", 0)
    assert devices.uses_cuda("cuda:1", 0) and not devices.uses_cuda("cpu", 4)


@pytest.mark.parametrize(
    ("budget", "per_image", "cap", "expected"),
    [(1000, 10, 1 << 16, 64), (1024, 1, 1 << 16, 1024), (5, 10, 1 << 16, 1), (1e12, 1, 512, 512)],
)
def test_fit_batch_is_the_largest_power_of_two_that_fits(budget, per_image, cap, expected):
    assert devices.fit_batch(budget, per_image, cap) == expected


def test_eval_batch_size_on_the_cpu_without_a_network_spec_is_the_fixed_default():
    model = torch.nn.Identity()
    assert devices.eval_batch_size(torch.device("cpu"), "auto", model) == 128
    assert devices.eval_batch_size(torch.device("cpu"), 77, model) == 77


@pytest.mark.parametrize(
    ("operator", "image_size", "widths", "largest", "batch"),
    [
        # the first stage's 8 maps of 16x16 (8 KiB of float32): 1,024 fit in 8 MiB
        ("max", 16, [8, 16, 32], 8 * 16 * 16, 1024),
        # no downsampling: the last stage's 32 maps of 16x16 (32 KiB): 256
        ("none_rf", 16, [8, 16, 32], 32 * 16 * 16, 256),
        # 16 maps of 32x32 (64 KiB): 128, the batch measured fastest on 32-pixel images
        ("max", 32, [16, 32, 64], 16 * 32 * 32, 128),
        ("stride", 32, [16, 32, 64], 16 * 32 * 32, 128),
    ],
)
def test_the_cpu_evaluation_batch_fits_the_largest_activation_in_the_cache(
    operator, image_size, widths, largest, batch
):
    spec = ModelSpec(
        operator=operator, in_channels=1, num_classes=10, image_size=image_size, widths=widths
    )
    model = build_model(spec).train()
    assert devices.largest_activation(model) == largest
    assert model.training  # restored after the probe
    assert not any(m._forward_hooks for m in model.modules())
    assert devices.eval_batch_size(torch.device("cpu"), "auto", model) == batch
    assert devices.eval_batch_size(torch.device("cpu"), 77, model) == 77


@pytest.fixture
def three_gpus(monkeypatch, tmp_path):
    """torch sees three CUDA GPUs; the GPUs' lock files in ``tmp_path``; the GPUs that jobs
    switch to, in order."""
    monkeypatch.setattr(devices, "_claimed", {})
    monkeypatch.setenv(devices.GPU_LOCKS_ENV, str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    yield chosen
    if "handle" in devices._claimed:
        devices._claimed["handle"].close()


def hold(path):
    """Lock ``path`` as another job would; the open file (closing it releases the lock)."""
    handle = open(path, "a")  # noqa: SIM115
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_with_several_gpus_a_job_claims_one_that_no_other_job_holds(three_gpus, tmp_path):
    other = hold(tmp_path / "gpu-0.lock")  # another job holds the first GPU
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)
    assert devices.resolve_device("auto") == torch.device("cuda", 1)  # claimed once
    assert devices.resolve_device("cuda:2") == torch.device("cuda", 2)  # as given
    assert three_gpus == [1, 1]
    with pytest.raises(BlockingIOError):  # no other job can take it now
        hold(tmp_path / "gpu-1.lock")
    other.close()


def test_with_every_gpu_held_a_job_shares_the_first_and_says_so(three_gpus, tmp_path, capsys):
    others = [hold(tmp_path / f"gpu-{index}.lock") for index in range(3)]
    assert devices.resolve_device("cuda") == torch.device("cuda", 0)
    assert three_gpus == [0]
    assert capsys.readouterr().err == (
        "warning: all 3 GPUs are held by other jobs; sharing cuda:0 (run Snakemake with "
        "--resources gpu=N)\n"
    )
    for handle in others:
        handle.close()


def test_a_cpu_tensor_stays_itself_on_the_cpu():
    offsets = torch.arange(6)
    assert devices.to_device(offsets, "cpu") is offsets
    assert devices.to_device(offsets, torch.device("cpu")) is offsets
    assert devices.to_device(offsets, "meta").device == torch.device("meta")  # not a GPU: .to


def test_with_two_gpus_a_job_claims_one(three_gpus, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    other = hold(tmp_path / "gpu-0.lock")
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)
    assert three_gpus == [1]
    other.close()


def test_the_gpus_lock_files_are_in_the_temporary_folder_unless_told(monkeypatch, tmp_path):
    monkeypatch.delenv(devices.GPU_LOCKS_ENV, raising=False)
    monkeypatch.setattr(devices.tempfile, "gettempdir", lambda: str(tmp_path))
    assert devices.gpu_lock_dir() == tmp_path / f"poolstudy-gpus-{os.getuid()}"
    monkeypatch.setenv(devices.GPU_LOCKS_ENV, str(tmp_path / "locks"))
    assert devices.gpu_lock_dir() == tmp_path / "locks"


def test_a_claim_makes_its_lock_folder_with_its_parents(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "_claimed", {})
    folder = tmp_path / "a" / "b"
    assert devices.claim_gpu(2, folder) == 0
    assert (folder / "gpu-0.lock").exists()
    devices._claimed["handle"].close()


@pytest.fixture
def copies(monkeypatch):
    """What copying a tensor does, as a list: "pinned" for ``pin_memory()``, the arguments of
    ``to``; no copy is made."""
    calls = []

    def pin_memory(self):
        calls.append("pinned")
        return self

    def to(self, *args, **kwargs):
        calls.append((args, kwargs))
        return self

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    monkeypatch.setattr(torch.Tensor, "to", to)
    return calls


def test_a_copy_to_a_gpu_goes_through_pinned_memory_and_does_not_wait(copies):
    devices.to_device(torch.arange(3), "cuda:1")
    assert copies == ["pinned", ((torch.device("cuda", 1),), {"non_blocking": True})]


@pytest.mark.parametrize(
    "draw",
    [
        lambda device: random_offsets(8, 2, torch.Generator(), device),
        lambda device: region_offsets("left", 2, 8, torch.Generator(), device),
    ],
    ids=["augmentation", "placement"],
)
def test_a_training_steps_offsets_reach_a_gpu_without_a_wait(copies, draw):
    """The offsets drawn on the CPU at every training step are copied once, from pinned
    memory, without making the host wait for the GPU."""
    draw("cuda")
    assert copies == ["pinned", ((torch.device("cuda"),), {"non_blocking": True})]


def test_a_centre_placement_draws_nothing_and_copies_nothing():
    generator = torch.Generator().manual_seed(0)
    before = generator.get_state()
    dx, dy = region_offsets("centre", 3, 5, generator, "meta")
    assert dx.device.type == dy.device.type == "meta" and dx.shape == dy.shape == (5,)
    assert torch.equal(generator.get_state(), before)


def test_with_one_gpu_nothing_is_claimed(three_gpus, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert devices.resolve_device("cuda") == torch.device("cuda")
    assert three_gpus == [] and list(tmp_path.iterdir()) == []


@pytest.mark.child
def test_a_gpu_claimed_by_a_process_is_free_again_when_it_ends(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "_claimed", {})
    code = (
        "from pathlib import Path; from poolstudy.device import claim_gpu; "
        f"print(claim_gpu(2, Path({str(tmp_path)!r})))"
    )

    def other_job() -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout

    assert other_job() == "0\n"  # it ended: its GPU is free again
    assert devices.claim_gpu(2, tmp_path) == 0
    assert other_job() == "1\n"
    devices._claimed["handle"].close()
    devices._claimed.clear()
    assert other_job() == "0\n"


def test_the_largest_activation_is_measured_on_the_models_device():
    spec = ModelSpec(operator="max", in_channels=1, num_classes=10, image_size=8, widths=[4])
    assert devices.largest_activation(build_model(spec).to("meta")) == 4 * 8 * 8


def test_the_cpu_evaluation_batch_is_at_least_32_images():
    spec = ModelSpec(operator="none", in_channels=3, num_classes=10, image_size=256, widths=[64])
    assert devices.cache_fitted_batch(build_model(spec)) == 32
    assert devices.cache_fitted_batch(build_model(spec), cache_bytes=2**40) > 32


def test_the_gpu_evaluation_batch_fits_half_the_free_memory(monkeypatch):
    """The CUDA path's arithmetic without a GPU: torch.cuda's memory counters faked, the
    probe run on the CPU. A probe of 256 images that raised the peak by 256 MiB (1 MiB per
    image) with 1 GiB free gives 512 images at half the free memory."""
    spec = ModelSpec(operator="max", in_channels=1, num_classes=10, image_size=8, widths=[4])
    model = build_model(spec).train()
    seen, calls = [], []
    model.register_forward_pre_hook(lambda m, inputs: seen.append((m.training, inputs[0].shape)))
    mib = 2**20
    fake = {
        "synchronize": lambda device: calls.append("synchronize"),
        "reset_peak_memory_stats": lambda device: calls.append("reset"),
        "memory_allocated": lambda device: 100 * mib,
        "max_memory_allocated": lambda device: 356 * mib,
        "mem_get_info": lambda device: (1024 * mib, 80 * 1024 * mib),
    }
    for name, function in fake.items():
        monkeypatch.setattr(torch.cuda, name, function)
    cpu = torch.device("cpu")
    assert devices.memory_fitted_batch(model, cpu) == 512
    assert devices.memory_fitted_batch(model, cpu, fraction=0.25) == 256
    # the probe of 256 images, then one image for the largest activation
    assert seen == [(False, (256, 1, 8, 8)), (False, (1, 1, 8, 8))] * 2 and model.training
    assert calls == ["synchronize", "reset", "synchronize"] * 2
    # no layer of a batch past 32-bit index math: 4 maps of 8x8 per image, twice that per image
    monkeypatch.setattr(devices, "INDEX_LIMIT", 2 * 4 * 8 * 8 * 300)
    assert devices.index_safe_batch(model) == 256
    assert devices.memory_fitted_batch(model, cpu) == 256
    monkeypatch.setattr(devices, "memory_fitted_batch", lambda m, d: ("fitted", m, d))
    cuda = torch.device("cuda")
    assert devices.eval_batch_size(cuda, "auto", model) == ("fitted", model, cuda)
    assert devices.eval_batch_size(cuda, "auto", torch.nn.Identity()) == 4096
    assert devices.eval_batch_size(cuda, 300, model) == 300


@pytest.mark.child
def test_deterministic_mode_is_on_without_importing_inductor():
    code = (
        "import torch; from poolstudy import device as d;"
        "d.configure(torch.device('cpu'), 1, True);"
        "assert torch.are_deterministic_algorithms_enabled()"
    )
    assert not imports_after(code, "torch._inductor")


def test_device_check_runs_on_the_cpu(capsys):
    from poolstudy import devicebench

    report = devicebench.run_device_check(
        "cpu", ["max", "none"], widths=(4, 8), image_size=16, batch=8, steps=2, pipeline=False,
        networks=0,
    )  # fmt: skip
    rows = {row["operator"]: row for row in report["operators"]}
    assert set(rows) == {"max", "none"}
    assert report["format"] == devicebench.CHECK_FORMAT == 3  # what `estimate --gpu-check` takes
    assert rows["none"]["forward_flops"] > rows["max"]["forward_flops"] > 0
    assert all(row["images_per_s"] > 0 and row["mfu"] is None for row in rows.values())
    for row in rows.values():
        assert row["eval_batch"] == devices.eval_batch_size(
            torch.device("cpu"), "auto", build_model(ModelSpec(
                operator=row["operator"], in_channels=3, num_classes=10, image_size=16,
                widths=(4, 8), convs_per_stage=2,
            ))
        )  # fmt: skip
        assert row["eval_tflops"] == pytest.approx(
            row["forward_flops"] * row["eval_images_per_s"] / 1e12
        )
    loop = report["engine_loop"]
    assert loop["operator"] == "max" and loop["host_waits_per_step"] is None  # nothing to wait for
    assert loop["augment_shift"] == devicebench.study_augment_shift()
    assert loop["images_per_s"] == pytest.approx(8 / loop["step_seconds"])
    assert loop["over_bare_step"] == pytest.approx(loop["step_seconds"] / loop["bare_step_seconds"])
    assert report["job_start_seconds"] > 0 and report["paper_hours"] > 0
    out = capsys.readouterr().out
    assert "max" in out and (
        f"the engine's training loop (max, batches shifted by up to {loop['augment_shift']} "
        "pixels, as config/paper.yaml trains)" in out
    )
    assert f"config/paper.yaml predicted at these rates: {report['paper_hours']:.2f} h" in out
    assert report["networks"] == [] and "networks of config/paper.yaml" not in out


def tiny_as_predicted_study(monkeypatch) -> Path:
    """The tiny config in place of config/paper.yaml as the study whose networks the device
    check times (their steps take milliseconds on the CPU), each for a moment."""
    from poolstudy import devicebench

    tiny = devicebench.REPO / "tests" / "data" / "tiny.yaml"
    monkeypatch.setattr(devicebench, "PREDICTED_STUDY", tiny)
    monkeypatch.setattr(devicebench, "NETWORK_SECONDS", 0.01)
    return tiny


def test_the_device_check_times_the_predicted_studys_heaviest_networks(
    monkeypatch, tmp_path, capsys
):
    from poolstudy import devicebench
    from poolstudy.config import load_config
    from poolstudy.estimate import (
        check_rates,
        networks_by_weight,
        read_check,
        spec_key,
        study_cost,
    )
    from poolstudy.estimate.cost import TRAIN_FACTOR, forward_flops, training_pass_flops
    from poolstudy.inference import fold_batchnorm
    from poolstudy.plan import condition_settings

    config = load_config(tiny_as_predicted_study(monkeypatch))
    out = tmp_path / "check.json"
    timed, saved = devicebench.study_network, []

    def study_network(*args):  # what the file holds as each network starts
        saved.append(len(json.loads(out.read_text()).get("networks", [])))
        return timed(*args)

    monkeypatch.setattr(devicebench, "study_network", study_network)
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False,
        out=str(out), networks=2,
    )  # fmt: skip
    heaviest = networks_by_weight(study_cost(config))[:2]
    rows = report["networks"]
    assert [row["network"] for row in rows] == [spec_key(cost.spec) for cost in heaviest]
    cpu = torch.device("cpu")
    for row, cost in zip(rows, heaviest, strict=True):
        settings = condition_settings(config, cost.cell.condition)
        cell = (cost.spec.operator, cost.cell.dataset, cost.cell.condition)
        assert (row["operator"], row["dataset"], row["condition"]) == cell
        assert row["batch"] == settings["train"]["batch_size"]
        folded = fold_batchnorm(build_model(cost.spec).eval())
        assert row["eval_batch"] == devices.eval_batch_size(
            cpu, settings["evaluate"]["batch_size"], folded
        )
        # in the FLOPs that `estimate` counts for the network's jobs
        assert row["train_tflops"] == pytest.approx(
            TRAIN_FACTOR * training_pass_flops(cost.spec) * row["images_per_s"] / 1e12
        )
        assert row["eval_tflops"] == pytest.approx(
            forward_flops(cost.spec) * row["eval_images_per_s"] / 1e12
        )
    assert json.loads(out.read_text())["networks"] == rows and saved == [0, 1]
    # what estimate --gpu-check reads from the file (as if a GPU's) prices them at their rates
    out.write_text(json.dumps(json.loads(out.read_text()) | {"device": "cuda:0"}))
    rates = check_rates(read_check(out))
    assert rates.for_network(heaviest[0].spec) == (
        rows[0]["train_tflops"] * 1e12,
        rows[0]["eval_tflops"] * 1e12,
    )
    printed = capsys.readouterr().out
    assert "the 2 networks of tests/data/tiny.yaml with most training FLOPs" in printed
    spec = heaviest[1].spec
    assert (
        f"  {spec.operator} ({heaviest[1].cell.dataset}/{heaviest[1].cell.condition}, "
        f"{spec.image_size}px, widths {'/'.join(map(str, spec.widths))}): training "
        f"{rows[1]['images_per_s']:.0f} img/s at batch {rows[1]['batch']}"
    ) in printed


def test_a_study_network_is_timed_in_the_flops_that_its_jobs_are_priced_at():
    """Training at one pass per image, evaluation at every test-time draw: fractional max
    pooling with three draws makes them differ. The evaluation runs at the condition's batch."""
    from types import SimpleNamespace

    from poolstudy import devicebench
    from poolstudy.estimate import Cell
    from poolstudy.estimate.cost import TRAIN_FACTOR

    spec = ModelSpec(operator="fracmax", in_channels=1, num_classes=3, image_size=8, widths=(2,),
                     operator_options={"test_draws": 3})  # fmt: skip
    one_pass, every_draw = flop_counts(build_model(spec))[1], flop_counts(build_model(spec))[0]
    assert every_draw > one_pass
    cost = SimpleNamespace(spec=spec, cell=Cell("digits", "gap", "fracmax", (0,)))
    settings = {"train": {"batch_size": 4}, "evaluate": {"batch_size": 48}}
    row = devicebench.study_network(cost, settings, torch.device("cpu"), 0.0)
    assert (row["batch"], row["eval_batch"]) == (4, 48)
    assert row["train_tflops"] == pytest.approx(
        TRAIN_FACTOR * one_pass * row["images_per_s"] / 1e12
    )
    assert row["eval_tflops"] == pytest.approx(every_draw * row["eval_images_per_s"] / 1e12)
    assert (row["operator"], row["dataset"], row["condition"]) == ("fracmax", "digits", "gap")


def test_calls_are_timed_after_their_warm_up_and_until_the_gpu_is_done(monkeypatch):
    from poolstudy import devicebench

    events, clock = [], [0.0]

    def call():
        events.append("call")
        clock[0] += 0.25

    monkeypatch.setattr(devicebench, "synchronize", lambda device: events.append("wait"))
    monkeypatch.setattr(devicebench.time, "perf_counter", lambda: clock[0])
    rate = devicebench.calls_per_second(call, 1.0, torch.device("cpu"))
    # two warm-up calls, the queue drained, then calls until a second has passed, drained again
    assert events == ["call", "call", "wait", "call", "call", "call", "call", "wait"]
    assert rate == pytest.approx(4 / 1.0)
    events.clear()
    devicebench.calls_per_second(call, 0.0, torch.device("cpu"))
    assert events.count("call") == 4  # at least two timed calls


def test_the_device_check_times_as_many_networks_as_estimate_calibrates_by_default(monkeypatch):
    from poolstudy import devicebench
    from poolstudy.estimate.calibrate import CALIBRATED_NETWORKS

    asked = []
    monkeypatch.setattr(devicebench, "predicted_networks", lambda count: asked.append(count) or [])
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False
    )
    assert asked == [CALIBRATED_NETWORKS] and report["networks"] == []


def test_a_network_that_fails_is_recorded_and_the_others_are_timed(monkeypatch, tmp_path):
    from poolstudy import devicebench
    from poolstudy.estimate import CheckError, read_check, spec_key

    tiny_as_predicted_study(monkeypatch)
    timed = devicebench.study_network

    def study_network(cost, settings, device, seconds):
        if not calls:
            calls.append(cost)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return timed(cost, settings, device, seconds)

    calls = []
    monkeypatch.setattr(devicebench, "study_network", study_network)
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False,
        out=str(out), networks=2,
    )  # fmt: skip
    (failed,) = report["errors"]
    spec = calls[0].spec
    assert failed == (
        f"network {spec.operator} ({calls[0].cell.dataset}/{calls[0].cell.condition}, "
        f"{spec.image_size}px, widths {'/'.join(map(str, spec.widths))})"
    )
    (row,) = report["networks"]
    assert row["network"] != spec_key(spec) and row["condition"]
    assert "paper_hours" not in report  # no prediction from part of the study's networks
    assert devicebench.check_problems(report) == [f"{failed} failed"]
    # the file keeps what was timed, and `estimate --gpu-check` refuses it (as if from a GPU)
    check = json.loads(out.read_text()) | {"device": "cuda:0"}
    assert check["networks"] == [row]
    out.write_text(json.dumps(check))
    with pytest.raises(CheckError, match="the check failed for some operators or networks"):
        read_check(out)


def test_a_predicted_study_that_cannot_be_read_fails_the_networks_part(monkeypatch, tmp_path):
    from poolstudy import devicebench
    from poolstudy.config import ConfigError, load_config

    broken = tmp_path / "paper.yaml"
    broken.write_text("datasets: [glyphs\n")
    read = devicebench.predicted_networks
    monkeypatch.setattr(devicebench, "predicted_networks", lambda count: read(count, broken))
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False, networks=2
    )
    assert "networks" not in report and "paper_hours" not in report
    with pytest.raises(ConfigError) as refused:
        load_config(broken)
    assert report["errors"]["networks"].strip().endswith(str(refused.value))


def test_the_engine_loops_time_is_the_median_of_its_pairs_of_runs(monkeypatch):
    """One pair of runs whose set-up stalled (a difference of 99 s) does not decide the loop's
    time per step: the median of the pairs' differences does."""
    from poolstudy import devicebench

    clock = [0.0]
    durations = iter([1.0, 100.0, 1.0, 2.0, 1.0, 2.5])  # (steps, 2 * steps) per pair

    def host_waits(function, device):
        clock[0] += next(durations)
        return None

    monkeypatch.setattr(devicebench.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(devicebench, "host_waits", host_waits)
    monkeypatch.setattr(devicebench, "time_steps", lambda trainees, steps, concurrent: 0.5)
    import poolstudy.train

    monkeypatch.setattr(poolstudy.train, "train_model", lambda *args, **kwargs: None)
    assert devicebench.LOOP_PAIRS == 3
    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8, widths=(4,))
    loop = devicebench.engine_loop(spec, 4, 10, torch.device("cpu"), 0)
    assert loop["step_seconds"] == pytest.approx(1.5 / 10)
    assert loop["bare_step_seconds"] == pytest.approx(0.5 / 10)


def test_the_device_check_trains_with_the_predicted_studys_shift_augmentation(tmp_path):
    import yaml

    from poolstudy import devicebench

    study = yaml.safe_load(devicebench.PREDICTED_STUDY.read_text())
    assert devicebench.study_augment_shift() == study["train"]["augment_shift"]
    study["train"]["augment_shift"] = 3
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    assert devicebench.study_augment_shift(path) == 3


def test_what_the_device_check_writes_is_what_estimate_reads(tmp_path):
    """The check's file, as a GPU's run would write it, gives ``estimate`` its rates."""
    from poolstudy.devicebench import run_device_check
    from poolstudy.estimate import check_rates, read_check

    out = tmp_path / "check.json"
    run_device_check("cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2,
                     pipeline=False, out=str(out), networks=0)  # fmt: skip
    check = json.loads(out.read_text())
    row = check["operators"][0]
    out.write_text(json.dumps(check | {"device": "cuda:0", "device_name": "NVIDIA H200"}))
    rates = check_rates(read_check(out))
    assert rates.name == "H200 measured"
    assert rates.per_operator == {"max": (row["train_tflops"] * 1e12, row["eval_tflops"] * 1e12)}


def test_the_device_check_without_pandas_keeps_its_steps_and_says_what_it_skipped(
    monkeypatch, capsys, tmp_path
):
    from poolstudy import devicebench
    from poolstudy.estimate import CheckError, read_check

    monkeypatch.setattr(devicebench, "missing_modules", lambda: ["pandas"])
    monkeypatch.setattr(devicebench, "engine_loop", None)  # not called
    monkeypatch.setattr(devicebench, "time_study_networks", None)
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2, pipeline=False, out=str(out)
    )
    skipped = {"skipped": "needs pandas: install them (README.md)"}
    assert report["engine_loop"] == report["networks"] == skipped
    assert "job_start_seconds" not in report and "paper_hours" not in report
    assert report["operators"][0]["images_per_s"] > 0
    assert (
        "the study's networks, the engine's training loop, a job's start-up, the prediction: "
        "skipped (needs pandas"
    ) in capsys.readouterr().out
    assert devicebench.check_problems(report) == [
        f"networks skipped: {skipped['skipped']}",
        f"engine_loop skipped: {skipped['skipped']}",
    ]
    # the file says so (saved without the tiny run too), and estimate gives that reason
    out.write_text(json.dumps(json.loads(out.read_text()) | {"device": "cuda:0"}))
    with pytest.raises(CheckError) as refused:
        read_check(out)
    assert str(refused.value) == (
        f"{out}: the check did not time the study's networks ({skipped['skipped']})"
    )


def test_a_failing_stage_of_the_device_check_is_recorded_and_the_check_goes_on(
    monkeypatch, tmp_path, capsys
):
    """One fault does not cost the GPU's minutes of the parts after it; the figures so far
    are in the file and the command exits with 1."""
    from poolstudy import cli, devicebench

    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(devicebench, "engine_loop", broken)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 2.0)
    monkeypatch.setattr(devicebench, "predicted_hours", None)  # not without the loop's figures
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2, pipeline=False, out=str(out),
        networks=0,
    )  # fmt: skip
    assert "engine_loop" not in report and report["job_start_seconds"] == 2.0
    assert (
        report["errors"]["engine_loop"]
        .strip()
        .endswith("RuntimeError: CUDA error: an illegal memory access was encountered")
    )
    assert json.loads(out.read_text()) == report
    assert devicebench.check_problems(report) == ["engine_loop failed"]
    assert "engine_loop: FAILED" in capsys.readouterr().out
    monkeypatch.setattr(devicebench, "run_device_check", lambda *args, **kwargs: report)
    assert cli.main(["bench", "--device", "cpu", "--no-pipeline"]) == 1
    assert capsys.readouterr().err == "poolstudy bench: engine_loop failed\n"


LOOP_FIGURES = {"images_per_s": 1.0, "over_bare_step": 1.0, "host_waits_per_step": None}
"""What a stand-in for the check's engine loop returns."""


def test_the_tiny_run_gets_what_the_time_limit_leaves_after_a_reserve():
    from poolstudy.devicebench import MIN_TINY_S, PRECISION_RESERVE_S, TINY_TIMEOUT_S, tiny_timeout

    assert tiny_timeout(None, 10_000.0) == TINY_TIMEOUT_S
    assert tiny_timeout(2_000.0, 100.0) == TINY_TIMEOUT_S
    assert tiny_timeout(400.0, 100.0) == 300.0 - PRECISION_RESERVE_S
    just = 100.0 + PRECISION_RESERVE_S + MIN_TINY_S
    assert tiny_timeout(just, 100.0) == MIN_TINY_S
    assert tiny_timeout(just - 0.5, 100.0) is None


@pytest.mark.parametrize("time_limit", [1.0, 3_600.0])
def test_the_device_check_keeps_to_its_time_limit(monkeypatch, time_limit, capsys):
    """A check that must end within its limit gives the tiny run what is left (less the
    reserve for checking its networks), or skips it, saying so, where too little is."""
    from poolstudy import devicebench

    given = []
    monkeypatch.setattr(devicebench, "engine_loop", lambda *args: LOOP_FIGURES)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    monkeypatch.setattr(devicebench, "predicted_hours", lambda report: 1.0)
    monkeypatch.setattr(
        devicebench,
        "run_tiny_pipeline",
        lambda device, timeout: given.append(timeout) or {"skipped": "stand-in"},
    )
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, time_limit=time_limit,
        networks=0,
    )  # fmt: skip
    if time_limit == 1.0:
        assert given == []
        skipped = report["tiny_pipeline"]["skipped"]
        assert skipped.endswith(" s left of the time limit, 120 s needed")  # run and its check
        assert f"tiny_pipeline skipped: {skipped}" in devicebench.check_problems(report)
        assert f"tiny config end to end: skipped ({skipped})" in capsys.readouterr().out
    else:
        assert given == [devicebench.TINY_TIMEOUT_S]


def test_the_device_check_command_passes_its_time_limit_and_stops_on_sigterm(monkeypatch):
    import signal

    from poolstudy import cli, devicebench

    calls = []

    def run_device_check(*args, **kwargs):
        calls.append((kwargs["time_limit"], signal.getsignal(signal.SIGTERM)))
        return {}

    monkeypatch.setattr(devicebench, "run_device_check", run_device_check)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["bench", "--device", "cpu", "--time-limit", "500"]) == 0
    assert calls == [(500.0, devicebench._exit_on_sigterm)]
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_stops_the_tiny_runs_jobs_with_the_check(tmp_path):
    """``timeout`` or a scheduler ends the check with SIGTERM: its running tiny run is stopped
    with every process it started (their own session would outlive the check otherwise)."""
    import signal
    import threading

    from poolstudy.devicebench import run_within, stopped_by_sigterm

    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; sleep 60"
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, stopped_by_sigterm():
        run_within(["sh", "-c", script], tmp_path, dict(os.environ), timeout=30)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    child = Path(f"/proc/{int(pids.read_text())}/stat")
    for _ in range(50):  # killed at once; gone once reaped (a zombie until then)
        try:
            if child.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the tiny run's job {child.parent.name} outlived the check")


def test_a_module_that_is_found_but_cannot_be_imported_is_missing(tmp_path, monkeypatch):
    from poolstudy import devicebench

    (tmp_path / "broken_extension.py").write_text("import a_compiled_part_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert devicebench.missing_modules(("json", "broken_extension", "no_such_module")) == [
        "broken_extension",
        "no_such_module",
    ]


def test_the_device_check_times_each_operator_with_the_predicted_studys_options(monkeypatch):
    from poolstudy import devicebench

    specs = []
    monkeypatch.setattr(devicebench, "bench_operator", lambda spec, *args: specs.append(spec))
    monkeypatch.setattr(devicebench, "missing_modules", lambda: ["pandas"])
    devicebench.run_device_check("cpu", ["fracmax", "max"], widths=(4,), image_size=8, batch=4,
                                 steps=1, pipeline=False, networks=0)  # fmt: skip
    options = devicebench.study_operator_options()
    assert options["fracmax"]  # config/paper.yaml sets fractional pooling's own
    assert [spec.operator_options for spec in specs] == [options["fracmax"], {}]


def test_an_operator_that_fails_is_recorded_and_the_others_are_measured_and_kept(
    monkeypatch, tmp_path, capsys
):
    """An operator's fault (out of memory, a kernel the device lacks) costs its own row only:
    the rows before it are in the file when it fails, and the ones after it are measured."""
    from poolstudy import devicebench

    out = tmp_path / "check.json"
    measure = devicebench.bench_operator

    def bench_operator(spec, *args):
        if spec.operator == "stride":
            assert [row["operator"] for row in json.loads(out.read_text())["operators"]] == ["max"]
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return measure(spec, *args)

    monkeypatch.setattr(devicebench, "bench_operator", bench_operator)
    monkeypatch.setattr(devicebench, "engine_loop", lambda *args: LOOP_FIGURES)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    report = devicebench.run_device_check(
        "cpu", ["max", "stride", "none"], widths=(4,), image_size=8, batch=4, steps=1,
        pipeline=False, out=str(out), networks=0,
    )  # fmt: skip
    assert [row["operator"] for row in report["operators"]] == ["max", "none"]
    assert list(report["errors"]) == ["operator stride"]
    assert (
        report["errors"]["operator stride"]
        .strip()
        .endswith("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    )
    assert json.loads(out.read_text()) == report
    assert "paper_hours" not in report  # not predicted from a part of the operators
    assert devicebench.check_problems(report) == ["operator stride failed"]
    assert "operator stride: FAILED" in capsys.readouterr().out


def test_the_check_times_the_engine_loop_over_more_steps_than_the_bare_step(monkeypatch):
    from poolstudy import devicebench

    calls = []
    monkeypatch.setattr(
        devicebench,
        "engine_loop",
        lambda spec, batch, steps, device, augment_shift: calls.append(steps) or LOOP_FIGURES,
    )
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    monkeypatch.setattr(devicebench, "predicted_hours", lambda report: 1.0)
    devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=3, pipeline=False, networks=0
    )
    assert calls == [devicebench.LOOP_STEPS * 3] and devicebench.LOOP_STEPS > 1


def test_a_check_does_not_pass_where_a_part_failed_was_stopped_or_was_skipped():
    from poolstudy.devicebench import check_failed, check_problems

    assert check_problems({"operators": []}) == []
    assert check_problems({"tiny_pipeline": {"returncode": 0}}) == []
    assert not check_failed({"tiny_pipeline": {"returncode": 0, "precision": {}}})
    assert check_problems({"tiny_pipeline": {"returncode": 2}}) == ["the tiny run exited with 2"]
    assert check_problems(
        {"tiny_pipeline": {"returncode": -9, "timed_out": "stopped after 9 s"}}
    ) == [
        "the tiny run exited with -9",
        "the tiny run was stopped after 9 s",
    ]
    assert check_problems({"errors": {"paper_hours": "Traceback", "operator max": "T"}}) == [
        "paper_hours failed",
        "operator max failed",
    ]
    assert check_problems(
        {
            "engine_loop": {"skipped": "needs pandas"},
            "tiny_pipeline": {"skipped": "no snakemake here"},
        }
    ) == ["engine_loop skipped: needs pandas", "tiny_pipeline skipped: no snakemake here"]
    assert check_problems({"networks": {"skipped": "needs jsonschema"}, "engine_loop": {}}) == [
        "networks skipped: needs jsonschema"
    ]
    assert check_problems({"networks": [{"network": "x"}]}) == []  # timed: a list
    assert check_failed({"tiny_pipeline": {"skipped": "no snakemake here"}})


def test_evaluation_is_timed_in_the_evaluation_jobs_settings_and_they_are_put_back(monkeypatch):
    """``evaluate_cell`` runs deterministic (on CUDA: no cuDNN benchmarking); the check's
    training does not, and gets its settings back after each evaluation."""
    from poolstudy import devicebench

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cuda = torch.device("cuda")
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
        torch.backends.cudnn.benchmark,
    )
    try:
        torch._C._set_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True
        torch.utils.deterministic.fill_uninitialized_memory = True
        with devicebench.evaluation_settings(cuda):
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert not torch.backends.cudnn.benchmark
            assert not torch.utils.deterministic.fill_uninitialized_memory
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert not torch.are_deterministic_algorithms_enabled()
        assert (
            torch.backends.cudnn.benchmark and torch.utils.deterministic.fill_uninitialized_memory
        )
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        torch._C._set_deterministic_algorithms(True, warn_only=True)
        with pytest.raises(RuntimeError, match="kept"):
            with devicebench.evaluation_settings(torch.device("cpu")):
                assert not torch.is_deterministic_algorithms_warn_only_enabled()
                raise RuntimeError("kept")
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"

        seen = []
        batch_size = devicebench.devices.eval_batch_size

        def eval_batch_size(*args):
            seen.append(torch.are_deterministic_algorithms_enabled())
            return batch_size(*args)

        monkeypatch.setattr(devicebench.devices, "eval_batch_size", eval_batch_size)
        torch._C._set_deterministic_algorithms(False)
        spec = ModelSpec(operator="max", in_channels=1, num_classes=3, image_size=8, widths=[2])
        devicebench.eval_throughput(spec, 0.0, torch.device("cpu"))
        assert seen == [True] and not torch.are_deterministic_algorithms_enabled()
    finally:
        enabled, warn_only, fill, benchmark = before
        torch._C._set_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.backends.cudnn.benchmark = benchmark


@pytest.mark.child
def test_a_command_past_its_time_is_stopped_with_the_processes_it_started(tmp_path):
    from poolstudy.devicebench import run_within

    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(marker)!r}, 'w').write(str(child.pid)); "
        "print('started', flush=True); time.sleep(120)"
    )
    start = time.monotonic()
    returncode, output, stopped = run_within([sys.executable, "-c", code], tmp_path, {}, 5.0)
    assert stopped and returncode == -9 and output == "started\n"
    assert time.monotonic() - start < 60
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{grandchild}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # killed: gone once the init process reaps it
    with contextlib.suppress(FileNotFoundError):  # reaped while it is read: gone
        state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z"  # killed, not yet reaped by the init process
    assert run_within(
        [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], tmp_path, {}, 30.0
    ) == (3, "out\n", False)


def test_the_device_checks_operators_need_no_pandas():
    assert not imports_after("import poolstudy.devicebench", "pandas")


def test_a_jobs_start_up_is_timed_in_a_new_process_on_the_device(monkeypatch):
    from poolstudy import devicebench

    commands = []
    monkeypatch.setattr(
        devicebench.subprocess, "run", lambda command, check: commands.append((command, check))
    )
    assert devicebench.job_start_seconds(torch.device("cuda", 1)) >= 0
    [(command, check)] = commands
    assert check and command[:2] == [sys.executable, "-c"]
    assert command[2].startswith("import poolstudy.evaluate, jsonschema; import torch;")
    assert "torch.ones(1, device='cuda:1').sum().item()" in command[2]


def test_the_engine_loop_of_the_check_trains_as_the_predicted_study_does(monkeypatch):
    """Not deterministic where ``config/paper.yaml`` is not, the shifts it is given, one
    validation, pairs of runs of ``steps`` and twice as many, after a warm-up."""
    import yaml

    import poolstudy.train
    from poolstudy import devicebench

    configs = []

    def fake_train(data, options, operator, seed, config, log):
        configs.append(config)

    monkeypatch.setattr(poolstudy.train, "train_model", fake_train)
    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8, widths=(4,))
    devicebench.engine_loop(spec, batch=4, steps=3, device=torch.device("cpu"), augment_shift=3)
    paper = yaml.safe_load(devicebench.PREDICTED_STUDY.read_text())
    assert [config.steps for config in configs] == [2] + [3, 6] * devicebench.LOOP_PAIRS
    for config in configs:
        assert config.deterministic == paper["train"]["deterministic"]
        assert config.augment_shift == 3 and config.val_points == 1 and config.batch_size == 4


def test_host_waits_are_counted_from_pytorchs_sync_debug_warnings(monkeypatch):
    from poolstudy import devicebench

    modes = []
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def work():
        for _ in range(2):  # the same warning twice: both count
            warnings.warn(devicebench.SYNC_WARNING, stacklevel=1)
        warnings.warn("something else", stacklevel=1)

    assert devicebench.host_waits(work, torch.device("cuda")) == 2
    assert modes == ["warn", 0]  # the mode it found, restored


def test_host_waits_are_not_counted_off_a_gpu():
    from poolstudy import devicebench

    ran = []
    assert devicebench.host_waits(lambda: ran.append(1), torch.device("cpu")) is None
    assert ran == [1]


def test_the_engines_random_dataset_has_the_networks_shape_and_splits():
    from poolstudy.devicebench import random_dataset

    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8)
    data = random_dataset(12, spec, n_val=5)
    assert data.subset("train")[0].shape == (12, 3, 8, 8)
    assert data.subset("val")[0].shape == (5, 3, 8, 8)
    assert data.num_classes == 10 and 0 <= data.labels.min() <= data.labels.max() < 10


@pytest.mark.child
def test_the_device_checks_tiny_pipeline_plans_the_tiny_config_alone(tmp_path):
    """A dry run of the GPU check's command in a copy of the project plans the tiny study
    only (the project's own config/config.yaml is not merged into it)."""
    from poolstudy.devicebench import tiny_config_on, tiny_pipeline_command
    from poolstudy.workspace import copy_sources

    project = copy_sources(tmp_path / "project")
    config = tiny_config_on(torch.device("cpu"), tmp_path / "tiny.yaml")

    def planned(*targets: str) -> str:
        command = tiny_pipeline_command(sys.executable, "1", config, targets)
        result = subprocess.run(
            [*command, "--dry-run", "--quiet", "rules"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    everything = planned()
    assert "glyphs" not in everything  # the default's primary dataset
    assert {"train_main", "paper"} <= set(everything.split())
    rules = planned("paper_inputs").split()  # without LaTeX: every job but the PDF's
    assert "paper_inputs" in rules and "paper" not in rules and "train_main" in rules


def test_the_device_checks_tiny_run_shares_one_gpu_between_a_few_jobs(monkeypatch):
    """On a GPU the tiny run's jobs (a few hundred MB each) run ``TINY_GPU_JOBS`` at a time,
    not one at a time as the workflow's default would; on the CPU nothing is added."""
    from poolstudy import devicebench

    commands = []

    def fake_run(command, cwd, env, timeout):
        commands.append(command)
        return 0, "", False

    monkeypatch.setattr(devicebench, "run_within", fake_run)
    on_gpu = devicebench.run_tiny_pipeline(torch.device("cuda"))
    on_cpu = devicebench.run_tiny_pipeline(torch.device("cpu"))
    assert on_gpu["gpu_jobs"] == devicebench.TINY_GPU_JOBS > 1 and on_cpu["gpu_jobs"] == 0
    gpu, cpu = commands
    at = gpu.index("--resources")
    assert gpu[at + 1] == f"gpu={devicebench.TINY_GPU_JOBS}"
    assert "--resources" not in cpu
    without = gpu[:at] + gpu[at + 2 :]
    config = cpu.index("--configfile") + 1  # each run's own temporary config file
    assert without[:config] + without[config + 1 :] == cpu[:config] + cpu[config + 1 :]


def test_the_device_checks_tiny_pipeline_stops_before_the_pdf_without_latex(monkeypatch):
    from poolstudy import devicebench

    monkeypatch.setattr(devicebench.shutil, "which", {"latexmk": "/usr/bin/latexmk"}.get)
    assert devicebench.tiny_pipeline_targets() == ()
    monkeypatch.setattr(devicebench.shutil, "which", {}.get)
    assert devicebench.tiny_pipeline_targets() == ("paper_inputs",)


def test_the_device_check_skips_the_pipeline_without_snakemake_and_keeps_its_figures(
    monkeypatch, tmp_path, capsys
):
    from poolstudy import devicebench

    found = devicebench.importlib.util.find_spec
    monkeypatch.setattr(
        devicebench.importlib.util,
        "find_spec",
        lambda name: None if name == "snakemake" else found(name),
    )
    assert devicebench.run_tiny_pipeline(torch.device("cpu")) == {
        "skipped": f"{sys.executable} cannot import snakemake: install it (README.md)"
    }
    out = tmp_path / "check.json"

    def pipeline(device, timeout):
        written = json.loads(out.read_text())  # the operators' figures, before the pipeline
        assert [row["operator"] for row in written["operators"]] == ["max"]
        return {"skipped": "no snakemake here"}

    monkeypatch.setattr(devicebench, "run_tiny_pipeline", pipeline)
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, out=str(out), networks=0
    )
    assert report["tiny_pipeline"] == {"skipped": "no snakemake here"}
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert "tiny config end to end: skipped (no snakemake here)" in capsys.readouterr().out


def test_the_device_checks_python_runs_this_interpreter_in_its_environment(tmp_path):
    from poolstudy.devicebench import python_shim

    shim = python_shim(tmp_path / "bin")
    for name in ("python", "python3"):
        code = "import sys, poolstudy; print(sys.prefix)"
        out = subprocess.run([shim / name, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == sys.prefix, out.stderr


def test_the_device_checks_python_runs_an_interpreter_whose_path_the_shell_would_read(tmp_path):
    from poolstudy.devicebench import python_shim

    odd = tmp_path / 'a "$HOME" `x` dir'
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    shim = python_shim(tmp_path / "bin", str(odd / "python"))
    out = subprocess.run([shim / "python", "-c", "print('ran')"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ran\n", out.stderr


def test_the_device_checks_tiny_pipeline_finds_python_first_on_its_path(monkeypatch):
    """The rules call ``python``, which a GPU machine may lack (``python3`` alone)."""
    from poolstudy import devicebench

    seen = {}

    def fake_run(command, cwd, env, timeout):
        seen["python"] = shutil.which("python", path=env["PATH"])
        seen["script"] = Path(seen["python"]).read_text()
        seen["snakemake"] = shutil.which("snakemake", path=env["PATH"])
        return 0, "", False

    monkeypatch.setattr(devicebench, "run_within", fake_run)
    report = devicebench.run_tiny_pipeline(torch.device("cpu"))
    assert report["returncode"] == 0 and report["runs"] == 0
    assert seen["script"] == f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n'
    assert Path(seen["snakemake"]).parent == Path(sys.executable).parent


def test_the_device_check_fails_when_its_tiny_pipeline_fails(monkeypatch):
    from poolstudy import cli, devicebench

    for tiny, code in (({"returncode": 3}, 1), ({"returncode": 0}, 0), ({"skipped": "x"}, 1)):
        monkeypatch.setattr(
            devicebench, "run_device_check", lambda *a, tiny=tiny, **k: {"tiny_pipeline": tiny}
        )
        assert cli.main(["bench", "--device", "cpu"]) == code
    monkeypatch.setattr(devicebench, "run_device_check", lambda *a, **k: {"operators": []})
    assert cli.main(["bench", "--device", "cpu", "--no-pipeline"]) == 0


def test_the_device_check_warms_up_each_way_of_training_the_seeds(monkeypatch):
    from poolstudy import devicebench

    calls = []
    monkeypatch.setattr(
        devicebench,
        "time_steps",
        lambda trainees, steps, concurrent: calls.append((len(trainees), steps, concurrent)) or 1,
    )
    spec = ModelSpec(operator="max", in_channels=1, num_classes=3, image_size=8, widths=[2])
    row = devicebench.bench_operator(spec, 2, 5, 3, torch.device("cpu"))
    assert calls == [(1, 2, False), (1, 5, False), (3, 2, True), (3, 2, False), (3, 5, False)] + [
        (3, 5, True)
    ]
    assert row["images_per_s"] == 5 * 2 and row["concurrency_speedup"] == 1


def test_peak_flops_by_device_name():
    from poolstudy.devicebench import peak_flops

    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12 and peak_flops("NVIDIA H100 NVL") == 835e12
    assert peak_flops("NVIDIA H200") == 989e12 and peak_flops("NVIDIA H200 NVL") == 835e12
    assert peak_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert peak_flops("cpu") is None


FULL_RESOLUTION = {"none", "none_rf", "none_deep", "maxbroadcast", "maxdil"}
"""The operators that do not downsample, by their definitions (pooling.py's docstrings)."""


@pytest.mark.parametrize("operator", sorted(OPERATORS))
def test_the_benchmark_holds_full_resolution_networks_to_their_own_goal(operator):
    from poolstudy.bench import keeps_full_resolution
    from poolstudy.models import ModelSpec

    spec = ModelSpec(operator=operator, in_channels=1, num_classes=3, image_size=16, widths=[4, 8])
    assert keeps_full_resolution(spec) == (operator in FULL_RESOLUTION)


def test_the_pipeline_benchmark_runs_the_study_it_is_given(tmp_path):
    from poolstudy.bench import BenchInputError, run_pipeline_benchmark, with_study

    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "config" / "config.yaml").write_text("experiment: default\n")
    study = tmp_path / "old.yaml"
    study.write_text("experiment: old\n")
    assert with_study(project, None) == project
    assert (project / "config" / "config.yaml").read_text() == "experiment: default\n"
    with_study(project, study)
    assert (project / "config" / "config.yaml").read_text() == "experiment: old\n"
    with pytest.raises(BenchInputError, match="missing.yaml"):
        run_pipeline_benchmark(keep=tmp_path / "run", study=tmp_path / "missing.yaml")
    assert not (tmp_path / "run").exists()


def test_the_pipeline_benchmark_refuses_a_missing_study_or_revision_in_one_line(tmp_path, capsys):
    from poolstudy import cli
    from poolstudy.bench import BenchInputError, engine_at

    for study in (tmp_path / "missing.yaml", tmp_path):
        assert cli.main(["bench", "--pipeline", "--study", str(study)]) == 2
        assert capsys.readouterr().err == (
            f"poolstudy bench: --study {study}: no config file there\n"
        )
    with pytest.raises(BenchInputError) as refused:
        engine_at("no-such-revision", tmp_path / "old")
    assert str(refused.value).startswith(
        "cannot take the engine at revision 'no-such-revision' from git: fatal: "
    )


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("cpu", None),
        ("bogus", "Expected one of cpu, cuda"),
        ("cuda", "torch sees no CUDA GPU here (torch.cuda.is_available() is False)"),
    ],
)
def test_the_device_check_refuses_a_device_torch_cannot_run_on(monkeypatch, capsys, name, problem):
    from poolstudy import cli, devicebench

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    found = cli.device_problem(name)
    assert found == problem if problem is None else found.startswith(problem)
    if problem is not None:
        monkeypatch.setattr(devicebench, "run_device_check", None)  # not reached
        assert cli.main(["bench", "--device", name]) == 2
        assert capsys.readouterr().err.startswith(f"poolstudy bench: --device {name}: {problem}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert cli.device_problem("cuda:1") is None and cli.device_problem("cuda") is None
    assert cli.device_problem("cuda:2") == "torch sees 2 CUDA GPUs here (cuda:0 to cuda:1)"
    assert cli.device_problem("meta") == "the check runs on cpu or cuda"
    assert cli.device_problem("cpu:0") is None


def test_the_baselines_run_with_pytorchs_own_settings_and_kernels():
    from poolstudy import bench, maxima

    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    try:
        torch.use_deterministic_algorithms(True)
        with bench.torch_defaults():
            assert not torch.are_deterministic_algorithms_enabled()
            assert not maxima._STRIDED_VIEW_MAX
        assert torch.are_deterministic_algorithms_enabled()
        assert maxima._STRIDED_VIEW_MAX
        # every setting put back as it was, the warn-only mode (CUDA's) and the filling too
        torch._C._set_deterministic_algorithms(True, warn_only=True)
        torch.utils.deterministic.fill_uninitialized_memory = False
        with bench.torch_defaults():
            assert torch.utils.deterministic.fill_uninitialized_memory
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert not torch.utils.deterministic.fill_uninitialized_memory
    finally:
        torch._C._set_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def test_the_benchmarks_ceiling_counts_the_time_inside_pytorchs_kernels_only():
    """``bench.kernel_seconds`` counts what a leaner engine could not remove: a kernel's time
    counts, Python's (here a sleep between kernels) does not."""
    import time

    from poolstudy.bench import kernel_seconds

    a = torch.rand(512, 512)

    def kernels_and_python():
        for _ in range(4):
            a @ a  # about 1 GFLOP: well under a second even on a loaded machine
        time.sleep(1.0)

    # the sleep counted would make it a second or more; no other time bound holds on a
    # machine whose load changes between two timings
    assert 0 < kernel_seconds(kernels_and_python) < 1.0
    assert kernel_seconds(lambda: time.sleep(0.1)) == 0


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_the_evaluation_baseline_lays_out_its_batches_as_it_is_told(memory_format):
    """A one-channel batch's strides fit both layouts, and PyTorch's convolutions pick one
    from them: the loop baseline fixes the layout itself (a user's NCHW by default)."""
    from poolstudy.bench import per_shift_loop
    from poolstudy.evaluate import shift_grid

    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen.append(x.stride())
            return torch.zeros(x.shape[0], 2)

    images = torch.rand(5, 1, 6, 6).permute(0, 1, 3, 2).contiguous().permute(0, 1, 3, 2)
    correct = per_shift_loop(
        Recorder(),
        images,
        torch.zeros(5, dtype=torch.long),
        "circular",
        shift_grid(1),
        memory_format,
    )
    assert correct.tolist() == [5, 5, 5, 5]
    expected = torch.empty(5, 1, 6, 6, memory_format=memory_format).stride()
    assert seen == [expected] * 4


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_the_training_baseline_lays_out_network_and_batches_as_it_is_told(memory_format):
    from poolstudy.bench import plain_training_loop

    # three channels: a one-channel batch's strides would fit both layouts
    spec = ModelSpec(operator="max", in_channels=3, num_classes=2, image_size=6, widths=[3])
    seen = []

    def record(module, inputs):
        seen.append((inputs[0].stride(), module.weight.stride()))

    network = build_model(spec)
    network.stages[0][0][0].register_forward_pre_hook(record)
    images = torch.rand(8, 3, 6, 6)
    labels = torch.randint(0, 2, (8,))
    config = TrainConfig.from_dict({"device": "cpu", "batch_size": 4})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("poolstudy.bench.plain_network", lambda _: network.train())
        plain_training_loop(spec, images, labels, config, 3, memory_format)
    batch = torch.empty(4, 3, 6, 6, memory_format=memory_format).stride()
    weight = torch.empty(3, 3, 3, 3, memory_format=memory_format).stride()
    assert seen == [(batch, weight)] * 3


@pytest.mark.parametrize("available", [True, False])
def test_a_device_is_resolved_from_its_name(monkeypatch, available):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    assert devices.resolve_device() == torch.device("cuda" if available else "cpu")
    assert devices.resolve_device("auto") == devices.resolve_device()
    assert devices.resolve_device("cpu") == torch.device("cpu")
    if available:
        assert devices.resolve_device("cuda:1") == torch.device("cuda", 1)
        return
    for name in ("cuda", "cuda:1"):
        with pytest.raises(RuntimeError) as refused:
            devices.resolve_device(name)
        assert str(refused.value) == (
            "device 'cuda' requested but no CUDA GPU is available; use 'auto'"
        )


@pytest.fixture
def process_settings(monkeypatch):
    """Restore what ``configure`` sets for the whole process."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    benchmark = torch.backends.cudnn.benchmark
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.set_num_threads(threads)
    torch._C._set_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.utils.deterministic.fill_uninitialized_memory = fill
    torch.backends.cudnn.benchmark = benchmark


@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_deterministic_mode_as_configured(process_settings, kind):
    """Deterministic: PyTorch's flag (only warnings on CUDA, where some kernels have no
    deterministic version), no filling of uninitialised memory, cuDNN's autotuner off,
    cuBLAS's workspace fixed."""
    torch.backends.cudnn.benchmark = True
    torch.utils.deterministic.fill_uninitialized_memory = True
    devices.configure(torch.device(kind), 2, deterministic=True)
    assert torch.get_num_threads() == 2
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled() == (kind == "cuda")
    assert torch.utils.deterministic.fill_uninitialized_memory is False
    assert torch.backends.cudnn.benchmark is False
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_without_determinism_cudnn_autotunes_on_a_gpu_only(process_settings):
    torch.backends.cudnn.benchmark = False
    devices.configure(torch.device("cpu"), None, deterministic=False)
    assert torch.backends.cudnn.benchmark is False and "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    devices.configure(torch.device("cuda"), 1, deterministic=False)
    assert torch.backends.cudnn.benchmark is True and torch.get_num_threads() == 1


def test_autocast_is_bf16_on_cuda_and_nothing_on_the_cpu():
    assert isinstance(devices.autocast(torch.device("cpu")), contextlib.nullcontext)
    with warnings.catch_warnings():  # without a GPU PyTorch warns that it would disable it
        warnings.simplefilter("ignore")
        context = devices.autocast(torch.device("cuda", 0))  # built, not entered
    assert (context.device, context.fast_dtype) == ("cuda", torch.bfloat16)


def test_the_evaluation_batch_of_another_device_is_the_cpus():
    assert devices.eval_batch_size(torch.device("cpu")) == 128
    assert devices.eval_batch_size(torch.device("meta"), "auto", torch.nn.Identity()) == 128
    assert devices.fit_batch(10, 0, cap=64) == 64  # nothing per image: the cap


@pytest.mark.parametrize(
    ("listing", "expected"),
    [("GPU 0: NVIDIA H100 (UUID: x)\nGPU 1: NVIDIA H100 (UUID: y)\n", 2), ("", 0)],
)
def test_visible_gpus_asks_nvidia_smi_without_cuda_visible_devices(monkeypatch, listing, expected):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(devices.shutil, "which", {"nvidia-smi": "/usr/bin/nvidia-smi"}.get)
    calls = []

    def run(command, **options):
        calls.append((command, options))
        return subprocess.CompletedProcess(command, 0, stdout=listing + "  MIG 1g.10gb\n")

    monkeypatch.setattr(devices.subprocess, "run", run)
    assert devices.visible_gpus() == expected
    options = {"capture_output": True, "text": True, "timeout": 30, "check": True}
    assert calls == [(["nvidia-smi", "-L"], options)]


@pytest.mark.parametrize("error", [OSError("gone"), subprocess.TimeoutExpired("nvidia-smi", 30)])
def test_visible_gpus_is_zero_when_nvidia_smi_fails_or_is_missing(monkeypatch, error):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    assert devices.visible_gpus() == 0
    monkeypatch.setattr(devices.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def fail(command, **options):
        raise error

    monkeypatch.setattr(devices.subprocess, "run", fail)
    assert devices.visible_gpus() == 0


@pytest.mark.child
def test_an_interrupted_check_stops_the_command_it_was_waiting_for(monkeypatch, tmp_path):
    """The command runs in a session of its own, which the terminal's Ctrl-C does not reach."""
    from poolstudy import devicebench

    started = []

    class Interrupted(subprocess.Popen):
        def communicate(self, input=None, timeout=None):
            started.append(self)
            raise KeyboardInterrupt

    monkeypatch.setattr(devicebench.subprocess, "Popen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        devicebench.run_within(
            [sys.executable, "-c", "import time; time.sleep(120)"], tmp_path, {}, 60.0
        )
    [process] = started
    assert process.wait(timeout=30) == -9


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--glyphs", "10", "--pipeline"],
         "--pipeline, --glyphs: separate benchmarks, give one of them"),
        (["--device", "cpu", "--compiled"],
         "--device, --compiled: separate benchmarks, give one of them"),
        (["--keep", "run", "--study", "s.yaml"], "--keep, --study only with --pipeline"),
        (["--pipeline", "--steps", "5"], "--steps only with --device"),
        (["--device", "cpu", "--networks", "3"], "--networks only with --precision"),
        (["--no-pipeline"], "--no-pipeline only with --device"),
        (["--time-limit", "500"], "--time-limit only with --device"),
    ],
)  # fmt: skip
def test_bench_refuses_options_that_would_be_ignored(monkeypatch, capsys, arguments, message):
    from poolstudy import bench, cli

    for name in ("bench_glyphs", "run_pipeline_benchmark", "run_benchmarks"):
        monkeypatch.setattr(bench, name, None)  # not reached
    assert cli.main(["bench", *arguments]) == 2
    assert capsys.readouterr().err == f"poolstudy bench: {message}\n"
    assert cli.bench_mode_problem(
        cli.build_parser().parse_args(["bench", "--pipeline", "--keep", "k", "--cores", "2"]),
        cli.build_parser().parse_args(["bench"]).bench_defaults,
    ) is None  # fmt: skip


def test_the_training_benchmarks_gflops_count_the_validation_its_time_includes(monkeypatch):
    """The engine's timed run validates ``val_points`` times, every test-time draw (here
    fractional max pooling's 3): its GFLOP/s count those passes beside the training's."""
    from test_train import synthetic_dataset

    from poolstudy import bench
    from poolstudy.config import load_config

    class Clock:  # every reading a second after the last: each timed run takes 1 s
        now = 0.0

        @classmethod
        def perf_counter(cls):
            cls.now += 1.0
            return cls.now

    monkeypatch.setattr(bench, "time", Clock)
    monkeypatch.setattr(bench, "plain_training_loop", lambda *args, **kwargs: None)
    monkeypatch.setattr(bench, "kernel_seconds", lambda run: 1.0)
    config = load_config("tests/data/tiny.yaml")
    config["model"]["operator_options"] = {"fracmax": {"kernel_size": 3, "test_draws": 3}}
    config["train"] = {**config["train"], "batch_size": 8, "val_points": 2}
    data = synthetic_dataset()
    row = bench.bench_training(config, data, "fracmax", steps=4, repeats=1)
    flops, one_pass = flop_counts(build_model(bench.spec_for(config, data, "fracmax")))
    assert flops == 3 * one_pass
    validated = 2 * 12  # two validation points over the 12 validation images
    assert row["gflops"] == pytest.approx((3 * one_pass * 4 * 8 + flops * validated) / 1e9)


@pytest.mark.parametrize("fails", [False, True])
def test_guarded_frees_the_gpus_cache_after_every_part(monkeypatch, capsys, fails):
    from poolstudy import devicebench

    freed = []
    monkeypatch.setattr(devicebench.torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(devicebench.torch.cuda, "empty_cache", lambda: freed.append(1))

    def part():
        if fails:
            raise RuntimeError("out of memory")
        return {"images_per_second": 5.0}

    report = {}
    result = devicebench.guarded(report, "tiny", part)
    assert freed == [1]
    if fails:
        assert result is None and "RuntimeError: out of memory" in report["errors"]["tiny"]
        assert "tiny: FAILED" in capsys.readouterr().out
    else:
        assert result == {"images_per_second": 5.0} and report == {}
