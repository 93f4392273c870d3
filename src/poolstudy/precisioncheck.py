"""How much evaluating in the device's reduced precision moves the metrics.

On CUDA the evaluation runs under bf16 autocast (``device.autocast``), as training does. The
stability measures of Azulay & Weiss (JMLR 2019), the change of the top-1 class and of its
probability between neighbouring shifts, compare outputs for nearly identical inputs, so
they are where rounding could show. This check evaluates trained networks twice, under the
device's autocast and in full precision (TF32 off), and reports the differences; the device
check (``devicebench``) runs it on the networks that its tiny run trained on the GPU, and
``python -m poolstudy bench --precision RUN`` on those of a finished run (on a machine without
a GPU, with the CPU's bf16 autocast standing in for CUDA's).
"""

from __future__ import annotations

import json
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import torch

from poolstudy import device as devices

METRICS = ("accuracy_test", "consistency", "p_top1_change", "mean_abs_change")
"""The metrics compared (points, as the evaluation writes them)."""

PROTOCOL = {"protocols": ["circular"], "max_shift": 1, "consistency_shift": 1, "train_images": 1000}
"""The evaluation each network gets: circular shifts of up to one pixel, on every test image
(the training split, whose accuracy is not compared, cut to 1,000 images)."""


@contextmanager
def full_precision():
    """Float32 throughout: no autocast in the evaluation, and on CUDA no TF32 either (its
    10-bit mantissa would be a reduced precision of its own)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with mock.patch.object(devices, "autocast", lambda device: nullcontext()):
            yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def unplaced_networks(models_dir: Path, count: int) -> list[tuple[Path, dict]]:
    """The first ``count`` networks under ``models_dir`` (model file, its metadata) trained
    without a placement canvas: those that take the dataset's images as they are."""
    found = []
    for path in sorted(Path(models_dir).rglob("model.pt")):
        if len(found) == count:
            break
        meta = json.loads((path.parent / "meta.json").read_text())
        if not (meta.get("placement") or {}).get("canvas"):
            found.append((path, meta))
    return found


def metrics_of(path: Path, meta: dict, data, device) -> dict[str, float]:
    from poolstudy.evaluate import EvalConfig, evaluate_model
    from poolstudy.run_files import load_model

    result = evaluate_model(
        load_model(path, device),
        data,
        EvalConfig.from_dict(PROTOCOL),
        device,
        log=lambda *args: None,
        n_train=meta.get("n_train"),
        seed=int(meta.get("seed", 0)),
    )
    values = result.table.groupby("metric")["value"].mean()
    return {metric: float(values[metric]) for metric in METRICS}


def precision_effect(
    models_dir: Path,
    data_dir: Path,
    device: torch.device,
    networks: int = 6,
    reduced=None,
    log=lambda line: None,
) -> dict:
    """Each metric's largest and mean difference (the device's autocast, or ``reduced``: a
    function of the device giving a context, minus full precision) over the first
    ``networks`` unplaced networks under ``models_dir``, their datasets read from
    ``data_dir`` (``<dataset>.pt``). On the CPU, whose evaluation is in full precision, every
    difference is 0 unless ``reduced`` says otherwise. ``log`` gets a line per network."""
    from poolstudy.prepared import load_prepared

    reduced = reduced or devices.autocast
    found = unplaced_networks(models_dir, networks)
    if not found:
        raise ValueError(f"no trained network without a placement canvas in {models_dir}")
    datasets = {}
    differences = {metric: [] for metric in METRICS}
    for done, (path, meta) in enumerate(found, 1):
        name = meta["dataset"]
        if name not in datasets:
            datasets[name] = load_prepared(Path(data_dir) / f"{name}.pt")
        with mock.patch.object(devices, "autocast", reduced):
            rounded = metrics_of(path, meta, datasets[name], device)
        with full_precision():
            exact = metrics_of(path, meta, datasets[name], device)
        for metric in METRICS:
            differences[metric].append(rounded[metric] - exact[metric])
        moved = ", ".join(f"{m} {differences[m][-1]:+.3f}" for m in METRICS)
        log(f"{done}/{len(found)} {path.parent.relative_to(models_dir)}: {moved}")
    return {
        "networks": len(found),
        "largest": {m: max(values, key=abs) for m, values in differences.items()},
        "mean": {m: sum(values) / len(values) for m, values in differences.items()},
    }


def describe(effect: dict) -> str:
    """One line: each metric's largest and mean difference, in points."""
    parts = [
        f"{metric} {effect['largest'][metric]:+.3f} (mean {effect['mean'][metric]:+.3f})"
        for metric in METRICS
    ]
    return (
        f"reduced-precision evaluation minus full precision, {effect['networks']} networks, "
        f"largest difference in points: {', '.join(parts)}"
    )


def cpu_bf16(device: torch.device):
    """The CPU's bf16 autocast: CUDA's evaluation precision, emulated."""
    return torch.autocast("cpu", dtype=torch.bfloat16)


def run_precision_check(run: Path, networks: int) -> dict:
    """``precision_effect`` on the first ``networks`` networks of the run folder ``run``
    (``models/`` and ``data/prepared/``), printed: on CUDA where there is one, else on the
    CPU with ``cpu_bf16``."""
    run = Path(run)
    if not (run / "models").is_dir():
        raise ValueError(f"{run} holds no models/ folder: name the folder a study ran in")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    devices.configure(device, None, deterministic=False)
    effect = precision_effect(
        run / "models",
        run / "data" / "prepared",
        device,
        networks,
        None if cuda else cpu_bf16,
        log=lambda line: print(line, flush=True),
    )
    how = "CUDA's bf16 autocast" if cuda else "the CPU's bf16 autocast, standing in for CUDA's"
    print(f"{run}: {describe(effect)} ({how})")
    return effect
