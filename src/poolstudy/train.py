"""The training loop, read top to bottom: inputs, network, optimiser, step budget, steps,
metadata. The whole training split lives on the device as one tensor; a batch is an index
slice; augmentation (random translation) runs on the device, batched.

``train_cell`` trains every seed of one (dataset, condition, operator) cell in one process,
one seed after another with its own generators: the data is loaded and the network's
accounting computed once, and each seed's weights are those of a process of its own.

Interruption loses little: a run writes a checkpoint now and then (``poolstudy.checkpoint``)
and the same command run again resumes from it; a cell's checkpoints are deleted once all its
``model.pt`` files are written (``poolstudy.run_files``: the files a run leaves).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from poolstudy import device as devices
from poolstudy.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    Progress,
    checkpoint_seconds,
    remove_checkpoint,
)
from poolstudy.config import section_defaults
from poolstudy.inference import accuracy_on, predict, select_training_subset, to_unit_float
from poolstudy.models import ModelSpec, build_model, describe
from poolstudy.optim import NesterovSGD
from poolstudy.placement import (
    PlacementConfig,
    placed_in_region,
    region_offsets,
    to_canvas,
)
from poolstudy.prepared import PreparedDataset, load_prepared
from poolstudy.run_files import TrainResult, run_identity, run_metadata, save_run
from poolstudy.translate import random_offsets, shift_zero

__all__ = [
    "TrainConfig",
    "TrainingDiverged",
    "accuracy_on",
    "learning_rate",
    "predict",
    "run_training",
    "select_training_subset",
    "to_unit_float",
    "train_cell",
    "train_model",
]


@dataclass(frozen=True)
class TrainConfig:
    """``config['train']``; the schema documents every key and is the one home of their
    defaults (``from_dict`` fills what a dictionary leaves out from it)."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    label_smoothing: float
    warmup_epochs: float
    augment_shift: int
    n_train: int | None
    steps: int | None
    val_points: int
    device: str
    deterministic: bool

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        values = {**section_defaults("train"), **data}
        return cls(**{k: v for k, v in values.items() if k in known})


class TrainingDiverged(RuntimeError):
    """The loss or a weight became non-finite: the run has no result to report."""


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup + 1) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def validation_steps(total: int, points: int) -> list[int]:
    """``points`` evenly spaced steps in 1..total, the last being ``total`` (fewer when the
    run has fewer steps): where the history records a row and validation runs."""
    return sorted({max(1, round(total * k / points)) for k in range(1, points + 1)})


@dataclass(frozen=True)
class TrainingInputs:
    """The training and validation splits as float tensors on the device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    image_size: int
    reach: int | None  # placement: how far an image may move on its canvas


def training_inputs(
    data: PreparedDataset,
    config: TrainConfig,
    placement: PlacementConfig,
    seed: int,
    device: torch.device,
) -> TrainingInputs:
    """The seeded training subset and the validation split on the device. With an active
    ``placement`` every image sits on the placement canvas; validation images get fixed
    positions from the training region."""
    train_images, train_labels = select_training_subset(*data.subset("train"), config.n_train, seed)
    val_images, val_labels = data.subset("val")
    x_train = to_unit_float(train_images.to(device))
    x_val = to_unit_float(val_images.to(device))
    image_size, reach = data.image_size, None
    if placement.active:
        reach = placement.reach(image_size)
        x_train = to_canvas(x_train, placement.canvas)
        x_val = placed_in_region(to_canvas(x_val, placement.canvas), placement, reach)
        image_size = placement.canvas
    return TrainingInputs(
        x_train, train_labels.to(device), x_val, val_labels.to(device), image_size, reach
    )


def build_network(
    data: PreparedDataset, inputs: TrainingInputs, operator: str, spec_options: dict
) -> torch.nn.Module:
    """The network, standardising its input with the training split's statistics."""
    spec = ModelSpec(
        operator=operator,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        image_size=inputs.image_size,
        **spec_options,
    )
    model = build_model(spec)
    x = inputs.x_train
    model.set_normalization(x.mean(dim=(0, 2, 3)).cpu(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).cpu())
    return model


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> NesterovSGD:
    """SGD with Nesterov momentum; no weight decay on biases and normalisation parameters."""
    decay, no_decay = [], []
    for param in model.parameters():
        (decay if param.ndim > 1 else no_decay).append(param)
    return NesterovSGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
    )


@dataclass(frozen=True)
class StepBudget:
    """How long a run trains: ``total`` steps in ``epochs`` passes of ``per_epoch`` steps (the
    last pass may be cut short) over ``n_train`` images, ``warmup`` steps of warm-up,
    validation at ``validate_at``."""

    n_train: int
    total: int
    per_epoch: int
    epochs: int
    warmup: int
    validate_at: frozenset[int]

    @classmethod
    def plan(cls, n_train: int, config: TrainConfig) -> StepBudget:
        per_epoch = max(1, math.ceil(n_train / config.batch_size))
        # A fixed step budget (``steps``) gives every training-set size the same optimisation;
        # without it, ``epochs`` passes over the data.
        total = config.steps or per_epoch * config.epochs
        # Warm-up never takes more than half the steps, so the rate always decays.
        warmup = max(1, min(round(config.warmup_epochs * per_epoch), total // 2))
        return cls(
            n_train=n_train,
            total=total,
            per_epoch=per_epoch,
            epochs=math.ceil(total / per_epoch),
            warmup=warmup,
            validate_at=frozenset(validation_steps(total, config.val_points)),
        )


def augmented(inputs, config, placement, reach, generator, device):
    """A training batch moved to its random positions: the placement region, or a random
    translation of up to ``augment_shift`` pixels; unchanged otherwise."""
    if placement.active:
        dx, dy = region_offsets(placement.region, reach, len(inputs), generator, device)
        return shift_zero(inputs, dx, dy)
    if config.augment_shift > 0:
        dx, dy = random_offsets(len(inputs), config.augment_shift, generator, device)
        return shift_zero(inputs, dx, dy)
    return inputs


def non_finite(model) -> str | None:
    """The name of a parameter or buffer that holds a NaN or infinity, else None."""
    named = [(k, v) for k, v in model.state_dict().items() if v.is_floating_point()]
    if not named:
        return None
    finite = torch.stack([v.isfinite().all() for _, v in named]).cpu()
    bad = [name for (name, _), ok in zip(named, finite.tolist(), strict=True) if not ok]
    return bad[0] if bad else None


def check_finite(model, train_loss: float, step: int, total: int, config, label: str) -> None:
    """Divergence is an error: a non-finite training loss or weight stops the run."""
    if not math.isfinite(train_loss):
        what = f"the training loss is {train_loss}"
    elif (name := non_finite(model)) is not None:
        what = f"the weight {name} is not finite"
    else:
        return
    raise TrainingDiverged(
        f"{label}: {what} by step {step} of {total} (peak learning rate {config.lr:g}); no "
        "model is written. Lower train.lr or raise train.warmup_epochs."
    )


def run_steps(
    model,
    optimizer,
    inputs: TrainingInputs,
    budget: StepBudget,
    config: TrainConfig,
    placement: PlacementConfig,
    generator: torch.Generator,
    device: torch.device,
    label: str,
    log=print,
    progress: Progress | None = None,
    checkpoint: Checkpoint | None = None,
) -> Progress:
    """Train from ``progress`` (a fresh start when None) to ``budget.total`` steps; at each
    step of ``budget.validate_at`` record the training loss and accuracy since the previous
    record and the validation accuracy. A non-finite loss or weight there stops the run
    (``TrainingDiverged``). Whenever ``checkpoint`` is due, after a step (the last one too: a
    cell's finished seeds then survive a kill during a later seed), it is saved. Returns the
    final progress: its rows and the number of training images processed."""
    fmt = devices.memory_format(device)
    val_batch = devices.eval_batch_size(device, "auto", model)
    n = inputs.y_train.shape[0]
    state = progress or Progress.start(device)
    since = start = time.perf_counter()
    trained_before = state.seconds
    for epoch in range(state.epoch, budget.epochs + 1):
        model.train()
        if state.order is None:
            state.order = torch.randperm(n, generator=generator)
        order = devices.to_device(state.order, device)
        for begin in range(state.position, n, config.batch_size):
            if state.step == budget.total:
                break
            index = order[begin : begin + config.batch_size]
            batch = augmented(
                inputs.x_train[index], config, placement, inputs.reach, generator, device
            )
            targets = inputs.y_train[index]
            lr = learning_rate(state.step, budget.total, budget.warmup, config.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with devices.autocast(device):
                logits = model(batch.contiguous(memory_format=fmt))
                loss = F.cross_entropy(
                    logits.float(), targets, label_smoothing=config.label_smoothing
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state.step += 1
            state.position = begin + config.batch_size
            state.seen += len(index)
            state.images += len(index)
            state.loss_sum += loss.detach() * len(index)
            state.correct += (logits.argmax(1) == targets).sum()
            if state.step in budget.validate_at:
                train_loss = state.loss_sum.item() / state.seen
                check_finite(model, train_loss, state.step, budget.total, config, label)
                row = {
                    "epoch": epoch,
                    "step": state.step,
                    "train_loss": train_loss,
                    "train_accuracy": 100.0 * state.correct.item() / state.seen,
                    "val_accuracy": accuracy_on(
                        model, inputs.x_val, inputs.y_val, device, val_batch
                    ),
                    "lr": lr,
                    "seconds": time.perf_counter() - since,
                }
                model.train()
                state.rows.append(row)
                log(
                    f"[{label}] step {state.step}/{budget.total} (epoch {epoch}/{budget.epochs}) "
                    f"loss {row['train_loss']:.4f} train {row['train_accuracy']:.2f}% "
                    f"val {row['val_accuracy']:.2f}% ({row['seconds']:.1f}s)"
                )
                state.loss_sum.zero_()
                state.correct.zero_()
                state.seen = 0
                since = time.perf_counter()
            if checkpoint is not None and checkpoint.due():
                state.seconds = trained_before + time.perf_counter() - start
                checkpoint.save(model, optimizer, generator, state, device)
        state.epoch, state.position, state.order = epoch + 1, 0, None
    state.seconds = trained_before + time.perf_counter() - start
    return state


def train_model(
    data: PreparedDataset,
    spec_options: dict,
    operator: str,
    seed: int,
    config: TrainConfig,
    threads: int | None = None,
    log=print,
    placement: PlacementConfig | None = None,
    accounting: dict | None = None,
    checkpoint_path=None,
) -> TrainResult:
    """Train one network with one seed. ``accounting`` (``models.describe`` of the same
    architecture) is computed here when not given; the seeds of a cell share it. With a
    ``checkpoint_path`` the run resumes from the checkpoint there when it has one of the same
    run, and writes one every ``checkpoint_seconds()`` of training."""
    placement = placement or PlacementConfig()
    if placement.active and config.augment_shift:
        raise ValueError(
            "augment_shift and placement cannot be combined: placement draws the "
            "training positions itself"
        )
    device = devices.resolve_device(config.device)
    devices.configure(device, threads, config.deterministic)
    torch.manual_seed(seed)

    inputs = training_inputs(data, config, placement, seed, device)
    model = build_network(data, inputs, operator, spec_options)
    accounting = accounting if accounting is not None else describe(model)
    model = model.to(device=device, memory_format=devices.memory_format(device))
    optimizer = make_optimizer(model, config)
    budget = StepBudget.plan(inputs.y_train.shape[0], config)
    generator = torch.Generator().manual_seed(seed)

    checkpoint = progress = None
    if checkpoint_path is not None:
        identity = run_identity(data, model, seed, config, placement, device)
        checkpoint = Checkpoint(Path(checkpoint_path), identity, checkpoint_seconds())
        progress = checkpoint.resume(model, optimizer, generator, device, log)
    progress = run_steps(
        model,
        optimizer,
        inputs,
        budget,
        config,
        placement,
        generator,
        device,
        f"{operator} seed {seed}",
        log,
        progress,
        checkpoint,
    )
    rows, images, wall = progress.rows, progress.images, progress.seconds
    meta = run_metadata(data, model, seed, config, placement, budget, device, wall, rows, images)
    return TrainResult(model, pd.DataFrame(rows), {**meta, **accounting}, accounting)


def spec_options_for(model_options: dict, operator: str) -> dict:
    """``config['model']`` as ``ModelSpec`` takes it: this operator's own options only."""
    options = {k: v for k, v in model_options.items() if k != "operator_options"}
    options["operator_options"] = model_options.get("operator_options", {}).get(operator, {})
    return options


def train_cell(
    data_path,
    operator: str,
    seeds: list[int],
    model_options: dict,
    train_options: dict,
    out_dirs: list,
    threads: int | None = None,
    condition: str = "base",
    placement_options: dict | None = None,
    log=print,
) -> list[TrainResult]:
    """Train every seed of one cell, one after another, each saved to its own folder as soon
    as it finishes; each resumes from the checkpoint in its folder, if it has one (the same
    command run again after an interruption), and the checkpoints are deleted once every
    seed's model is written."""
    if len(seeds) != len(out_dirs):
        raise ValueError(f"{len(seeds)} seeds but {len(out_dirs)} output folders")
    data = load_prepared(data_path)
    spec_options = spec_options_for(model_options, operator)
    config = TrainConfig.from_dict(train_options)
    placement = PlacementConfig.from_dict(placement_options)
    results, accounting = [], None
    for seed, out_dir in zip(seeds, out_dirs, strict=True):
        out = Path(out_dir)
        result = train_model(
            data,
            spec_options,
            operator,
            seed,
            config,
            threads,
            log,
            placement,
            accounting,
            checkpoint_path=out / CHECKPOINT_NAME,
        )
        accounting = result.accounting
        result.meta["condition"] = condition
        save_run(result, out / "model.pt", out / "history.csv", out / "meta.json")
        results.append(result)
    # Only now: Snakemake deletes every output of a cell that fails, so a seed finished before
    # a kill is resumed from its final checkpoint instead of being trained again.
    for out_dir in out_dirs:
        remove_checkpoint(Path(out_dir) / CHECKPOINT_NAME)
    return results


def run_training(
    data_path,
    operator: str,
    seed: int,
    model_options: dict,
    train_options: dict,
    out_dir,
    threads: int | None = None,
    condition: str = "base",
    placement_options: dict | None = None,
) -> TrainResult:
    """One seed of one cell (``train_cell`` with a single seed)."""
    return train_cell(
        data_path,
        operator,
        [seed],
        model_options,
        train_options,
        [out_dir],
        threads,
        condition,
        placement_options,
    )[0]
