"""The engine: one process per cell, bounded validation, divergence stops a run, device
helpers (GPU count, memory-fitted batches) and a light deterministic mode."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import time
import warnings

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
from poolstudy.train import (
    TrainConfig,
    TrainingDiverged,
    run_training,
    spec_options_for,
    train_cell,
    train_model,
    validation_steps,
)
from poolstudy.translate import random_offsets

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


def test_a_checkpoint_made_on_one_gpu_is_the_same_run_on_another_of_its_model(monkeypatch):
    data = synthetic_dataset()
    config = TrainConfig.from_dict({"device": "cuda"})
    spec = ModelSpec.from_dict({"operator": "max", "widths": [4], "in_channels": 1,
                                "num_classes": 3, "image_size": 16})  # fmt: skip
    model = build_model(spec)
    names = {0: "NVIDIA H100", 1: "NVIDIA H100", 2: "NVIDIA A100"}
    monkeypatch.setattr(
        torch.cuda, "get_device_name", lambda device: names[torch.device(device).index]
    )

    def device_of(identity: str) -> str:
        return json.loads(identity)["device"]

    on = {i: run_identity(data, model, 0, config, PlacementConfig(), torch.device("cuda", i))
          for i in names}  # fmt: skip
    assert on[0] == on[1] and device_of(on[0]) == "cuda (NVIDIA H100)"
    assert device_of(on[2]) == "cuda (NVIDIA A100)"


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
