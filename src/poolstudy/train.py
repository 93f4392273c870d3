"""The training loop. The whole training split lives on the device as one tensor; a batch is
an index slice; augmentation (random translation) runs on the device, batched."""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from poolstudy import device as devices
from poolstudy.atomic import atomic_path, write_csv, write_json
from poolstudy.data.prepare import PreparedDataset, load_prepared
from poolstudy.models import ModelSpec, build_model, describe
from poolstudy.placement import (
    PlacementConfig,
    placed_in_region,
    region_offsets,
    to_canvas,
)
from poolstudy.shifts import random_offsets, shift


@dataclass
class TrainConfig:
    """``config['train']``; the schema documents every key."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    warmup_epochs: float = 1.0
    augment_shift: int = 0
    n_train: int | None = None
    steps: int | None = None
    device: str = "auto"
    deterministic: bool = True
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = set(cls.__dataclass_fields__) - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known})


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0)


def select_training_subset(
    images: torch.Tensor, labels: torch.Tensor, n_train: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_train`` images of a seeded permutation (all of them when None)."""
    if n_train is None or n_train >= labels.shape[0]:
        return images, labels
    order = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(seed))
    keep = order[:n_train]
    return images[keep], labels[keep]


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak``, then cosine decay to zero."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup + 1) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits (float32, on the device) for float images already on the device."""
    model.eval()
    fmt = devices.memory_format(device)
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].contiguous(memory_format=fmt)
        with devices.autocast(device):
            outputs.append(model(batch).float())
    if not outputs:
        return torch.empty(0, model.spec.num_classes, device=device)
    return torch.cat(outputs)


def accuracy_on(model, images, labels, device, batch_size: int = 1024) -> float:
    logits = predict(model, images, batch_size, device)
    return 100.0 * (logits.argmax(1) == labels).float().mean().item() if len(labels) else math.nan


@dataclass
class TrainResult:
    model: torch.nn.Module
    history: pd.DataFrame
    meta: dict


def train_model(
    data: PreparedDataset,
    spec_options: dict,
    operator: str,
    seed: int,
    config: TrainConfig,
    threads: int | None = None,
    log=print,
    placement: PlacementConfig | None = None,
) -> TrainResult:
    """Train one network. With an active ``placement``, every image sits on the placement
    canvas and training draws its position from the placement region (``poolstudy.placement``);
    validation images get fixed positions from that region."""
    placement = placement or PlacementConfig()
    if placement.active and config.augment_shift:
        raise ValueError(
            "augment_shift and placement cannot be combined: placement draws the "
            "training positions itself"
        )
    device = devices.resolve_device(config.device)
    devices.configure(device, threads, config.deterministic)
    torch.manual_seed(seed)

    train_images, train_labels = data.subset("train")
    train_images, train_labels = select_training_subset(
        train_images, train_labels, config.n_train, seed
    )
    val_images, val_labels = data.subset("val")
    x_train = to_unit_float(train_images.to(device))
    y_train = train_labels.to(device)
    x_val = to_unit_float(val_images.to(device))
    y_val = val_labels.to(device)
    image_size = data.image_size
    if placement.active:
        reach = placement.reach(image_size)
        x_train = to_canvas(x_train, placement.canvas)
        x_val = placed_in_region(to_canvas(x_val, placement.canvas), placement, reach)
        image_size = placement.canvas

    spec = ModelSpec(
        operator=operator,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        image_size=image_size,
        **spec_options,
    )
    model = build_model(spec)
    model.set_normalization(
        x_train.mean(dim=(0, 2, 3)).cpu(), x_train.std(dim=(0, 2, 3)).clamp_min(1e-6).cpu()
    )
    accounting = describe(model)
    fmt = devices.memory_format(device)
    model = model.to(device=device, memory_format=fmt)

    decay, no_decay = [], []
    for param in model.parameters():
        (decay if param.ndim > 1 else no_decay).append(param)
    optimizer = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
    )

    n = y_train.shape[0]
    steps_per_epoch = max(1, math.ceil(n / config.batch_size))
    # A fixed step budget (``steps``) gives every training-set size the same optimisation; the
    # last epoch may be cut short. Without it, ``epochs`` passes over the data.
    total_steps = config.steps or steps_per_epoch * config.epochs
    epochs = math.ceil(total_steps / steps_per_epoch)
    # Warm-up never takes more than half the steps, so the rate always decays.
    warmup_steps = max(1, min(round(config.warmup_epochs * steps_per_epoch), total_steps // 2))
    generator = torch.Generator().manual_seed(seed)

    rows = []
    step = 0
    start_time = time.perf_counter()
    seen_total = 0
    for epoch in range(1, epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for begin in range(0, n, config.batch_size):
            if step == total_steps:
                break
            index = order[begin : begin + config.batch_size]
            inputs, targets = x_train[index], y_train[index]
            if placement.active:
                dx, dy = region_offsets(placement.region, reach, len(index), generator, device)
                inputs = shift(inputs, dx, dy, "zero")
            elif config.augment_shift > 0:
                dx, dy = random_offsets(len(index), config.augment_shift, generator, device)
                inputs = shift(inputs, dx, dy, "zero")
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total_steps, warmup_steps, config.lr)
            with devices.autocast(device):
                logits = model(inputs.contiguous(memory_format=fmt))
                loss = F.cross_entropy(
                    logits.float(), targets, label_smoothing=config.label_smoothing
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(index)
            loss_sum += loss.detach() * len(index)
            correct += (logits.argmax(1) == targets).sum()
        seen_total += seen
        val_accuracy = accuracy_on(model, x_val, y_val, device)
        row = {
            "epoch": epoch,
            "step": step,
            "train_loss": loss_sum.item() / seen,
            "train_accuracy": 100.0 * correct.item() / seen,
            "val_accuracy": val_accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_start,
        }
        rows.append(row)
        log(
            f"[{operator} seed {seed}] epoch {epoch}/{epochs} "
            f"loss {row['train_loss']:.4f} train {row['train_accuracy']:.2f}% "
            f"val {val_accuracy:.2f}% ({row['seconds']:.1f}s)"
        )
    wall = time.perf_counter() - start_time
    meta = {
        "dataset": data.name,
        "operator": operator,
        "seed": seed,
        "spec": spec.to_dict(),
        "train_config": {k: v for k, v in vars(config).items() if k != "extra"},
        "placement": dataclasses.asdict(placement),
        "n_train": n,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "wall_seconds": wall,
        "steps": total_steps,
        "images_per_second": seen_total / wall if wall > 0 else math.nan,
        "final_val_accuracy": rows[-1]["val_accuracy"] if rows else math.nan,
        "versions": library_versions(),
        **accounting,
    }
    return TrainResult(model=model, history=pd.DataFrame(rows), meta=meta)


def library_versions() -> dict:
    """Versions of the libraries a run depends on (read from package metadata: importing
    torchvision only for its version would cost every training job seconds)."""
    versions = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    for package in ("torchvision", "numpy", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def save_run(result: TrainResult, model_path, history_path, meta_path) -> None:
    """Weights (with the spec to rebuild the network), history and metadata, each atomic."""
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    # A file object, not a path: torch.save would record the temporary name in the archive.
    with atomic_path(model_path) as tmp, open(tmp, "wb") as handle:
        torch.save({"spec": result.model.spec.to_dict(), "state_dict": state}, handle)
    write_csv(history_path, result.history)
    write_json(meta_path, result.meta)


def load_model(path, device: torch.device | str = "cpu"):
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    model = build_model(ModelSpec.from_dict(checkpoint["spec"]))
    model.load_state_dict(checkpoint["state_dict"])
    device = torch.device(device)
    return model.to(device=device, memory_format=devices.memory_format(device)).eval()


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
    data = load_prepared(data_path)
    spec_options = {k: v for k, v in model_options.items() if k != "operator_options"}
    spec_options["operator_options"] = model_options.get("operator_options", {}).get(operator, {})
    result = train_model(
        data,
        spec_options,
        operator,
        seed,
        TrainConfig.from_dict(train_options),
        threads,
        placement=PlacementConfig.from_dict(placement_options),
    )
    result.meta["condition"] = condition
    out = Path(out_dir)
    save_run(result, out / "model.pt", out / "history.csv", out / "meta.json")
    return result
