"""The training loop, its schedule and its outputs."""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from importlib import metadata

import pandas as pd
import pytest
import torch
import yaml
from conftest import quiet

import poolstudy.run_files as run_files
import poolstudy.train as train_module
from poolstudy import device as devices
from poolstudy.atomic import CorruptFile
from poolstudy.config import SCHEMA_PATH
from poolstudy.data.prepare import PreparedDataset, save_prepared
from poolstudy.optim import NesterovSGD
from poolstudy.placement import PlacementConfig
from poolstudy.run_files import load_model, save_run
from poolstudy.train import (
    TrainConfig,
    accuracy_on,
    learning_rate,
    make_optimizer,
    run_training,
    select_training_subset,
    to_unit_float,
    train_model,
)

CPU = torch.device("cpu")
SPEC_OPTIONS = {"widths": (4, 8)}


def synthetic_dataset(n: int = 64, size: int = 16, n_train: int = 40, n_val: int = 12):
    """Three classes told apart by where a bright square sits on dim noise: the first
    ``n_train`` images train, the next ``n_val`` validate, the rest test."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 60, (n, 1, size, size), generator=generator).to(torch.uint8)
    for i, label in enumerate(labels.tolist()):
        top = 2 + 4 * label
        images[i, :, top : top + 4, top : top + 4] = 255
    split = torch.zeros(n, dtype=torch.uint8)
    split[n_train : n_train + n_val] = 1
    split[n_train + n_val :] = 2
    return PreparedDataset(
        name="synthetic", images=images, labels=labels, split=split, classes=["a", "b", "c"]
    )


def config(**changes) -> TrainConfig:
    values = dict(epochs=2, batch_size=16, device="cpu", val_points=2)
    values.update(changes)
    return TrainConfig.from_dict(values)


def train(seed: int = 0, operator: str = "max", data=None, **changes):
    return train_model(
        data or synthetic_dataset(), SPEC_OPTIONS, operator, seed, config(**changes), log=quiet
    )


def states_equal(a, b) -> bool:
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("operator, augment_shift", [("max", 0), ("stride", 0), ("max", 2)])
def test_same_seed_same_weights(operator, augment_shift):
    first = train(3, operator, augment_shift=augment_shift)
    second = train(3, operator, augment_shift=augment_shift)
    assert states_equal(first.model, second.model)
    pd.testing.assert_frame_equal(
        first.history.drop(columns="seconds"), second.history.drop(columns="seconds")
    )


def test_other_seed_other_weights():
    assert not states_equal(train(0).model, train(1).model)


def test_training_learns_a_separable_problem(monkeypatch):
    """A few dozen steps on three classes that a linear read-out of the feature map can tell
    apart: the loss falls well below chance level (ln 3), held-out accuracy is far above
    chance (33 %), and every weight the optimiser owns has moved."""
    owned = {}

    def recording_optimizer(model, config):
        optimizer = make_optimizer(model, config)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        owned.update(params=params, before=[p.detach().clone() for p in params])
        return optimizer

    monkeypatch.setattr(train_module, "make_optimizer", recording_optimizer)
    data = synthetic_dataset(n=150, n_train=90, n_val=30)
    options = {"widths": (4, 8), "head": "flatten"}
    settings = config(epochs=8, lr=0.1, val_points=4, warmup_epochs=0.5)
    result = train_model(data, options, "max", 0, settings, log=quiet)

    losses = result.history["train_loss"]
    assert losses.iloc[-1] < 0.5 * math.log(3) and losses.iloc[-1] < 0.5 * losses.iloc[0]
    assert result.history["val_accuracy"].iloc[-1] >= 90.0
    images, labels = data.subset("test")
    assert accuracy_on(result.model, to_unit_float(images), labels, CPU) >= 90.0
    model_params = list(result.model.parameters())
    assert {id(p) for p in owned["params"]} == {id(p) for p in model_params}
    for before, after in zip(owned["before"], owned["params"], strict=True):
        assert not torch.equal(before, after.detach())


def test_history():
    # 40 images in batches of 16: 3 steps per epoch; 3 points over 9 steps
    result = train(epochs=3, val_points=3)
    history = result.history
    assert len(history) == 3
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["step"].tolist() == [3, 6, 9]
    for column in ("epoch", "train_loss", "train_accuracy", "val_accuracy"):
        assert column in history.columns
    assert history["train_loss"].map(math.isfinite).all()
    assert history["train_accuracy"].between(0, 100).all()
    assert history["val_accuracy"].between(0, 100).all()


def test_a_run_records_what_it_trained_on_and_how(monkeypatch):
    clock = iter(range(0, 1000, 2))  # every reading of the clock 2 s after the one before
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: float(next(clock)))
    data = synthetic_dataset()
    settings = config(epochs=2, val_points=2)
    result = train_model(data, SPEC_OPTIONS, "max", 5, settings, log=quiet)
    meta = result.meta
    # 40 training images, batches of 16: 3 steps and 40 images per epoch
    assert meta["steps"] == 6 and meta["n_train"] == 40
    assert meta["images_per_second"] == pytest.approx(80 / meta["wall_seconds"])
    assert meta["wall_seconds"] > 0
    assert meta["final_val_accuracy"] == result.history["val_accuracy"].iloc[-1]
    expected = {
        "dataset": "synthetic",
        "data_sha256": data.content_digest(),
        "operator": "max",
        "seed": 5,
        "spec": result.model.spec.to_dict(),
        "train_config": dataclasses.asdict(settings),
        "placement": dataclasses.asdict(PlacementConfig()),
        "device": "cpu",
        "device_name": "cpu",
        "threads": torch.get_num_threads(),
    }
    assert {key: meta[key] for key in expected} == expected
    assert meta["parameters"] == sum(p.numel() for p in result.model.parameters())


def test_a_run_records_the_versions_of_what_it_ran_on():
    versions = run_files.library_versions()
    assert versions == {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": metadata.version("torchvision"),
        "numpy": metadata.version("numpy"),
        "pandas": metadata.version("pandas"),
    }
    assert train(epochs=1).meta["versions"] == versions


def test_a_missing_library_is_recorded_as_not_installed(monkeypatch):
    def version(package):
        if package == "torchvision":
            raise metadata.PackageNotFoundError(package)
        return "1.0"

    monkeypatch.setattr(run_files.metadata, "version", version)
    versions = run_files.library_versions()
    assert versions["torchvision"] == "not installed"
    assert versions["numpy"] == versions["pandas"] == "1.0"


def test_final_val_accuracy_is_that_of_the_returned_model():
    data = synthetic_dataset()
    result = train(data=data)
    images, labels = data.subset("val")
    expected = accuracy_on(result.model, to_unit_float(images), labels, CPU)
    assert result.history["val_accuracy"].iloc[-1] == pytest.approx(expected)
    assert result.meta["final_val_accuracy"] == pytest.approx(expected)


def test_normalization_comes_from_training_split():
    data = synthetic_dataset()
    result = train(data=data)
    x = to_unit_float(data.subset("train")[0])
    torch.testing.assert_close(result.model.mean.flatten(), x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(result.model.std.flatten(), x.std(dim=(0, 2, 3)))


def test_training_leaves_dataset_untouched():
    data = synthetic_dataset()
    before = data.images.clone()
    train(data=data)
    assert data.images.dtype == torch.uint8
    assert torch.equal(data.images, before)


def test_augment_shift_runs_and_changes_training():
    plain = train(0)
    augmented = train(0, augment_shift=2)
    assert len(augmented.history) == 2
    assert augmented.meta["train_config"]["augment_shift"] == 2
    assert not states_equal(plain.model, augmented.model)


@pytest.mark.parametrize("augment_shift", [0, 1, 2])
def test_augment_shift_shifts_training_batches(monkeypatch, augment_shift):
    calls = []
    original = train_module.shift_zero

    def recording_shift(images, dx, dy):
        calls.append((images.shape[0], dx.clone(), dy.clone()))
        return original(images, dx, dy)

    monkeypatch.setattr(train_module, "shift_zero", recording_shift)
    train(augment_shift=augment_shift)
    if augment_shift == 0:
        assert calls == []
        return
    assert len(calls) == 2 * math.ceil(40 / 16)
    assert sum(count for count, *_ in calls) == 2 * 40
    offsets = torch.cat([torch.cat([dx, dy]) for _, dx, dy in calls])
    assert offsets.abs().max() <= augment_shift
    assert offsets.abs().max() > 0


def test_n_train_subset():
    result = train(n_train=10)
    assert result.meta["n_train"] == 10
    assert train().meta["n_train"] == 40


def test_select_training_subset():
    images = torch.arange(20).reshape(20, 1, 1, 1)
    labels = torch.arange(20)
    sub_images, sub_labels = select_training_subset(images, labels, 5, seed=1)
    assert sub_labels.shape == (5,)
    assert torch.equal(sub_images.flatten(), sub_labels)
    assert len(set(sub_labels.tolist())) == 5
    again = select_training_subset(images, labels, 5, seed=1)[1]
    assert torch.equal(again, sub_labels)
    other = select_training_subset(images, labels, 5, seed=2)[1]
    assert not torch.equal(other, sub_labels)
    assert select_training_subset(images, labels, None, 0)[1] is labels
    assert select_training_subset(images, labels, 50, 0)[1] is labels


def test_learning_rate_warmup_is_linear():
    peak, warmup, total = 0.1, 10, 100
    values = [learning_rate(step, total, warmup, peak) for step in range(warmup)]
    expected = [peak * (step + 1) / warmup for step in range(warmup)]
    assert values == pytest.approx(expected)
    assert values[-1] == pytest.approx(peak)


def test_learning_rate_decays_to_zero():
    peak, warmup, total = 0.1, 10, 1000
    values = [learning_rate(step, total, warmup, peak) for step in range(warmup, total)]
    assert values[0] < peak and values[0] == pytest.approx(peak, rel=1e-4)
    assert all(later < earlier for earlier, later in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(0.0, abs=1e-12)
    middle = warmup + (total - warmup) // 2
    assert learning_rate(middle, total, warmup, peak) == pytest.approx(peak / 2, rel=1e-2)


def test_history_lr_follows_schedule():
    result = train(epochs=3, lr=0.2, val_points=5)
    steps_per_epoch = math.ceil(40 / 16)
    total = 3 * steps_per_epoch
    for step, lr in zip(result.history["step"], result.history["lr"], strict=True):
        assert lr == pytest.approx(learning_rate(step - 1, total, steps_per_epoch, 0.2))


def test_save_and_load_round_trip(tmp_path):
    data = synthetic_dataset()
    result = train(data=data, operator="stride")
    paths = [tmp_path / "model.pt", tmp_path / "history.csv", tmp_path / "meta.json"]
    save_run(result, *paths)
    loaded = load_model(paths[0])
    assert loaded.spec == result.model.spec
    assert not loaded.training
    x = to_unit_float(data.images[:8])
    result.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(x), result.model(x))
    assert states_equal(loaded, result.model)
    history = pd.read_csv(paths[1])
    assert history["epoch"].tolist() == [1, 2]
    assert json.loads(paths[2].read_text())["seed"] == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_a_model_loads_onto_cuda_and_computes_what_it_computes_on_the_cpu(tmp_path):
    data = synthetic_dataset()
    result = train(data=data, operator="max", epochs=1)
    path = tmp_path / "model.pt"
    save_run(result, path, tmp_path / "history.csv", tmp_path / "meta.json")
    on_cpu, on_cuda = load_model(path), load_model(path, "cuda")
    assert all(p.device.type == "cuda" for p in on_cuda.parameters())
    x = to_unit_float(data.images[:8])
    with torch.no_grad():
        expected, actual = on_cpu(x), on_cuda(x.cuda()).cpu()
    torch.testing.assert_close(actual, expected, rtol=1e-3, atol=1e-3)


def test_run_training_writes_outputs(tmp_path):
    data_path = tmp_path / "data.pt"
    save_prepared(synthetic_dataset(), data_path)
    out = tmp_path / "run"
    model_options = {
        "widths": [4, 8],
        "head": "flatten",
        "operator_options": {"avg": {}, "max": {"unused": 1}},
    }
    result = run_training(
        data_path, "avg", 2, model_options, {"epochs": 1, "batch_size": 16, "device": "cpu"}, out
    )
    for name in ("model.pt", "history.csv", "meta.json"):
        assert (out / name).is_file()
    meta = json.loads((out / "meta.json").read_text())
    for key in ("parameters", "flops", "receptive_field", "feature_map_sizes", "versions"):
        assert key in meta
    assert meta["operator"] == "avg" and meta["seed"] == 2 and meta["dataset"] == "synthetic"
    assert meta["feature_map_sizes"] == [8, 4]
    assert meta["spec"]["head"] == "flatten"
    assert meta["spec"]["operator_options"] == {}
    assert meta["parameters"] == sum(p.numel() for p in result.model.parameters())
    assert "torch" in meta["versions"]
    loaded = load_model(out / "model.pt")
    assert loaded.spec.widths == (4, 8)
    # one epoch of 3 steps, fewer than the schema's default number of validation points
    assert pd.read_csv(out / "history.csv")["step"].tolist() == [1, 2, 3]
    assert meta["condition"] == "base" and meta["placement"]["canvas"] is None


def test_run_training_passes_on_threads_condition_and_placement(tmp_path):
    data_path = tmp_path / "data.pt"
    save_prepared(synthetic_dataset(), data_path)
    placement = {"canvas": 24, "region": "centre"}
    before = torch.get_num_threads()
    try:
        result = run_training(
            data_path,
            "max",
            1,
            {"widths": [4, 8]},
            {"epochs": 1, "batch_size": 16},
            tmp_path / "run",
            threads=3,
            condition="placement",
            placement_options=placement,
        )
    finally:
        torch.set_num_threads(before)
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta == json.loads(json.dumps(result.meta))
    assert meta["condition"] == "placement" and meta["threads"] == 3
    assert meta["placement"]["canvas"] == 24 and meta["placement"]["region"] == "centre"
    assert meta["feature_map_sizes"] == [12, 6]  # the network sees the 24-pixel canvas


def test_a_file_without_a_model_is_refused_with_what_it_holds(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2), "notes": "x"}, path)
    with pytest.raises(CorruptFile) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path} is damaged (it holds notes, weights, not a model); "
        f"rebuild it: `rm {path}` and rerun `snakemake --cores all` (it retrains its cell)"
    )


def test_a_model_file_without_its_hash_is_refused(tmp_path):
    result = train(operator="avg", epochs=1)
    path = tmp_path / "model.pt"
    spec = result.model.spec.to_dict()
    torch.save({"spec": spec, "state_dict": result.model.state_dict()}, path)
    with pytest.raises(CorruptFile, match="records no content hash"):
        load_model(path)


def test_train_config_from_dict_ignores_unknown_keys():
    parsed = TrainConfig.from_dict({"epochs": 3, "lr": 0.1, "unknown": 1})
    assert parsed.epochs == 3 and parsed.lr == 0.1
    assert not hasattr(parsed, "unknown")


def test_train_config_defaults_are_the_schemas():
    schema = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["train"]["properties"]
    parsed = TrainConfig.from_dict({})
    for name in TrainConfig.__dataclass_fields__:
        assert getattr(parsed, name) == schema[name]["default"], name


def test_a_step_budget_replaces_epochs_and_ends_mid_epoch():
    # 40 training images in batches of 16: 3 steps per epoch, so 7 steps end in epoch 3
    result = train(epochs=50, steps=7, lr=0.2, val_points=3)
    assert result.history["epoch"].tolist() == [1, 2, 3]
    assert result.history["step"].tolist() == [2, 5, 7]
    assert result.meta["steps"] == 7
    assert result.history["lr"].iloc[-1] == pytest.approx(learning_rate(6, 7, 3, 0.2))
    assert result.history["lr"].iloc[-1] < 0.01


def test_the_same_step_budget_gives_small_and_large_sets_the_same_steps():
    small = train(steps=12, n_train=16, val_points=10)
    large = train(steps=12, val_points=10)
    assert small.meta["steps"] == large.meta["steps"] == 12
    assert small.history["step"].iloc[-1] == large.history["step"].iloc[-1] == 12
    # validation is bounded by val_points, not by the number of (short) epochs
    assert small.history["step"].tolist() == large.history["step"].tolist()
    assert len(small.history) == 10


def test_one_epoch_run_still_decays_the_learning_rate():
    result = train(epochs=1, warmup_epochs=1.0, lr=0.05)
    assert result.history["lr"].iloc[-1] < 0.1 * 0.05


def test_history_rows_hold_the_loss_and_accuracy_of_the_steps_since_the_row_before(monkeypatch):
    """Every batch's logits and targets recorded as the loss sees them: each row's training
    loss (label-smoothed, weighted by batch size) and accuracy are those of its own steps, the
    optimiser runs at the scheduled rate, the first batch is the run generator's first
    permutation, and the log line says what the row holds."""
    batches, rates, optimizers = [], [], []
    cross_entropy = torch.nn.functional.cross_entropy

    def recording_optimizer(model, settings):
        optimizers.append(make_optimizer(model, settings))
        return optimizers[-1]

    def recording_loss(logits, targets, **kwargs):
        batches.append((logits.detach().clone(), targets.clone()))
        rates.append([group["lr"] for group in optimizers[0].param_groups])
        return cross_entropy(logits, targets, **kwargs)

    monkeypatch.setattr(train_module, "make_optimizer", recording_optimizer)
    monkeypatch.setattr(train_module.F, "cross_entropy", recording_loss)
    data = synthetic_dataset()
    settings = config(epochs=3, val_points=3, label_smoothing=0.1, lr=0.2)
    lines = []
    result = train_model(data, SPEC_OPTIONS, "max", 4, settings, log=lines.append)

    # 40 images in batches of 16, 16 and 8: 9 steps, a row after every third
    assert [len(targets) for _, targets in batches] == [16, 16, 8] * 3
    history = result.history
    for row, first in zip(history.itertuples(), (0, 3, 6), strict=True):
        logits = torch.cat([batch[0] for batch in batches[first : first + 3]])
        targets = torch.cat([batch[1] for batch in batches[first : first + 3]])
        loss = cross_entropy(logits, targets, label_smoothing=0.1)
        assert row.train_loss == pytest.approx(loss.item(), rel=1e-5)
        correct = (logits.argmax(1) == targets).sum().item()
        assert row.train_accuracy == pytest.approx(100.0 * correct / 40)
    steps = [learning_rate(step, 9, 3, 0.2) for step in range(9)]
    assert rates == [[rate, rate] for rate in steps]
    order = torch.randperm(40, generator=torch.Generator().manual_seed(4))
    assert torch.equal(batches[0][1], data.subset("train")[1][order[:16]])
    assert lines == [
        f"[max seed 4] step {row.step}/9 (epoch {row.epoch}/3) loss {row.train_loss:.4f} "
        f"train {row.train_accuracy:.2f}% val {row.val_accuracy:.2f}% ({row.seconds:.1f}s)"
        for row in history.itertuples()
    ]


def test_a_run_is_timed_and_ends_with_its_last_validation(monkeypatch):
    """With a clock that stands still every duration is zero (and the throughput undefined);
    validation runs at the device's evaluation batch and its last result is the run's."""
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: 100.0)
    batches = []

    def accuracy(model, images, labels, device, batch_size):
        batches.append(batch_size)
        return 10.0 * len(batches)

    monkeypatch.setattr(train_module, "accuracy_on", accuracy)
    result = train(epochs=3, val_points=3)
    assert batches == [devices.cache_fitted_batch(result.model)] * 3
    assert result.history["val_accuracy"].tolist() == [10.0, 20.0, 30.0]
    assert result.history["seconds"].tolist() == [0.0, 0.0, 0.0]
    assert result.meta["final_val_accuracy"] == 30.0
    assert result.meta["wall_seconds"] == 0.0
    assert math.isnan(result.meta["images_per_second"])


def test_a_run_shorter_than_a_second_has_a_throughput(monkeypatch):
    clock = iter(range(10**6))
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: next(clock) / 1000)
    meta = train(epochs=1).meta
    assert 0 < meta["wall_seconds"] < 1
    assert meta["images_per_second"] == pytest.approx(40 / meta["wall_seconds"])


@pytest.mark.parametrize(
    ("changes", "placement"),
    [({"augment_shift": 2}, None), ({}, PlacementConfig(canvas=24, region="left"))],
    ids=["augment-shift", "placement"],
)
def test_a_runs_batches_and_positions_come_from_its_own_generator(monkeypatch, changes, placement):
    """Draws from torch's global generator between building the network and training (as
    another library might make) change nothing: the order of the batches and the positions
    of the images come from the run's own generator."""

    def run(disturb: bool):
        def optimizer(model, settings):
            if disturb:
                torch.rand(1000)
            return make_optimizer(model, settings)

        monkeypatch.setattr(train_module, "make_optimizer", optimizer)
        settings = config(epochs=2, **changes)
        return train_model(
            synthetic_dataset(), SPEC_OPTIONS, "avg", 0, settings, log=quiet, placement=placement
        ).model

    assert states_equal(run(disturb=False), run(disturb=True))


def test_normalization_is_per_channel():
    data = synthetic_dataset()
    scale = torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    data.images = (data.images.float() * scale).to(torch.uint8)
    model = train(data=data, epochs=1).model
    x = to_unit_float(data.subset("train")[0])
    torch.testing.assert_close(model.mean.flatten(), x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(model.std.flatten(), x.std(dim=(0, 2, 3)))
    assert len(set(model.mean.flatten().tolist())) == 3


def test_the_optimiser_is_nesterov_sgd_that_decays_only_weight_matrices_and_kernels():
    model = train(epochs=1).model
    settings = config(lr=0.07, momentum=0.8, weight_decay=0.003)
    optimizer = make_optimizer(model, settings)
    assert type(optimizer) is NesterovSGD
    decay, no_decay = optimizer.param_groups
    names = {id(p): name for name, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decayed | kept == set(names.values()) and not decayed & kept
    assert decayed == {name for name, p in model.named_parameters() if p.dim() >= 2}
    assert any(name.endswith(".bias") for name in kept)
    assert any(p.dim() == 2 for p in decay["params"])  # the linear head's weight
    assert decay["weight_decay"] == 0.003 and no_decay["weight_decay"] == 0.0
    for group in (decay, no_decay):
        assert group["lr"] == 0.07 and group["momentum"] == 0.8 and group["nesterov"] is True


def test_the_engine_trains_its_network_in_channels_last():
    """The layout ``device.memory_format`` names (oneDNN's NHWC kernels on the CPU, cuDNN's on
    a GPU): every kernel of more than one input channel, whose strides tell the layouts apart."""
    model = train(epochs=1).model
    kernels = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    kernels = [w for w in kernels if w.shape[1] > 1]
    assert kernels
    for weight in kernels:
        assert weight.is_contiguous(memory_format=torch.channels_last)
        assert not weight.is_contiguous()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # 40 images in batches of 16: 3 steps per epoch
        ({"epochs": 2, "warmup_epochs": 0.1}, (6, 3, 2, 1)),
        ({"steps": 7, "warmup_epochs": 5.0}, (7, 3, 3, 3)),  # warm-up capped at half the steps
        ({"steps": 9, "warmup_epochs": 5.0}, (9, 3, 3, 4)),
    ],
)
def test_a_step_budget_plans_steps_passes_and_warm_up(changes, expected):
    budget = train_module.StepBudget.plan(40, config(**changes))
    assert (budget.total, budget.per_epoch, budget.epochs, budget.warmup) == expected
    assert type(budget.warmup) is int


def test_the_last_step_after_warm_up_reaches_zero():
    assert learning_rate(1, 2, 1, 0.4) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate(0, 2, 1, 0.4) == 0.4


def test_divergence_names_the_run_the_step_and_the_remedy():
    model = train(epochs=1).model
    settings = config(lr=0.1)
    with pytest.raises(train_module.TrainingDiverged) as info:
        train_module.check_finite(model, math.nan, 3, 9, settings, "max seed 0")
    assert str(info.value) == (
        "max seed 0: the training loss is nan by step 3 of 9 (peak learning rate 0.1); no "
        "model is written. Lower train.lr or raise train.warmup_epochs."
    )
    train_module.check_finite(model, 0.5, 3, 9, settings, "max seed 0")  # finite: no error


def test_training_turns_deterministic_mode_on_when_asked():
    before = torch.are_deterministic_algorithms_enabled()
    try:
        torch.use_deterministic_algorithms(False)
        train(epochs=1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(before)
