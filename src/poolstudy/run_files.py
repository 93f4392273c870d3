"""A trained run's files: ``model.pt`` (weights and the spec that rebuilds the network, with
the sha256 of both, checked by ``load_model``), ``history.csv`` and ``meta.json`` (what the run
was: data, seed, settings, device, libraries, speed), and the identity that tells a
checkpoint of this run from one of another.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import sys
from dataclasses import dataclass
from importlib import metadata

import pandas as pd
import torch

from poolstudy import device as devices
from poolstudy.atomic import (
    atomic_path,
    check_digest,
    damaged,
    load_torch_file,
    tensor_digest,
    write_csv,
    write_json,
)
from poolstudy.models import ModelSpec, build_model
from poolstudy.prepared import PreparedDataset


@dataclass
class TrainResult:
    """One seed's trained network with what ``save_run`` writes beside it."""

    model: torch.nn.Module
    history: pd.DataFrame
    meta: dict
    accounting: dict  # models.describe: parameters, FLOPs, receptive field, map sizes


def data_digest(data: PreparedDataset) -> str:
    """The sha256 of the training data: as its file recorded it, else computed."""
    return data.sha256 or data.content_digest()


def run_identity(data, model, seed, config, placement, device) -> str:
    """What makes a checkpoint this run's: any difference means another run."""
    return json.dumps(
        {
            "data": data_digest(data),
            "seed": seed,
            "spec": model.spec.to_dict(),
            "train_config": dataclasses.asdict(config),
            "placement": dataclasses.asdict(placement),
            "device": devices.device_kind(device),
            "torch": torch.__version__,
        },
        sort_keys=True,
    )


def run_metadata(data, model, seed, config, placement, budget, device, wall, rows, images):
    """What a run records beside its weights (without the accounting of its network)."""
    return {
        "dataset": data.name,
        "data_sha256": data_digest(data),
        "operator": model.spec.operator,
        "seed": seed,
        "spec": model.spec.to_dict(),
        "train_config": dataclasses.asdict(config),
        "placement": dataclasses.asdict(placement),
        "n_train": budget.n_train,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "wall_seconds": wall,
        "steps": budget.total,
        "images_per_second": images / wall if wall > 0 else math.nan,
        "final_val_accuracy": rows[-1]["val_accuracy"] if rows else math.nan,
        "versions": library_versions(),
    }


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
    """Weights (with the spec to rebuild the network and the sha256 of both), history and
    metadata, each atomic; the weights last, so a run whose model file exists is complete."""
    state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    spec = result.model.spec.to_dict()
    payload = {"spec": spec, "state_dict": state, "sha256": tensor_digest(state, spec)}
    write_csv(history_path, result.history)
    write_json(meta_path, result.meta)
    # A file object, not a path: torch.save would record the temporary name in the archive.
    with atomic_path(model_path) as tmp, open(tmp, "wb") as handle:
        torch.save(payload, handle)


def retrain_hint(path) -> str:
    """How to rebuild a model file: Snakemake retrains a cell whose output is missing."""
    return f"rebuild it: `rm {path}` and rerun `snakemake --cores all` (it retrains its cell)"


def load_model(path, device: torch.device | str = "cpu"):
    """The network saved by ``save_run``, in eval mode on ``device``; a damaged file raises
    ``atomic.CorruptFile`` naming it and the command that rebuilds it."""
    remedy = retrain_hint(path)
    saved = load_torch_file(path, remedy)
    if not {"spec", "state_dict"} <= set(saved):
        raise damaged(path, f"it holds {', '.join(sorted(saved))}, not a model", remedy)
    actual = tensor_digest(saved["state_dict"], saved["spec"])
    check_digest(path, saved.get("sha256"), actual, remedy)
    model = build_model(ModelSpec.from_dict(saved["spec"]))
    model.load_state_dict(saved["state_dict"])
    device = torch.device(device)
    return model.to(device=device, memory_format=devices.memory_format(device)).eval()
