"""Checkpoints: a run interrupted (a kill, a preempted job) resumes where it stopped.

Every ``$POOLSTUDY_CHECKPOINT_SECONDS`` (default 600) of training a run writes
``checkpoint.pt`` beside its outputs: weights, optimiser, random generators, its place in the
epoch and its history so far (``Progress``), atomically. The same command run again resumes
from it and ends with the weights an uninterrupted run gets (bit for bit on the CPU). A
checkpoint names the run it belongs to (``Checkpoint.identity``): one of other settings is
ignored, never resumed from.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from poolstudy.atomic import atomic_path, leftover_temporaries

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_ENV = "POOLSTUDY_CHECKPOINT_SECONDS"
CHECKPOINT_SECONDS = 600.0
"""Seconds of training between two checkpoints when ``$POOLSTUDY_CHECKPOINT_SECONDS`` is not
set: a run shorter than this never writes one (its rerun costs less than a checkpoint's
bookkeeping is worth); a preempted long run loses at most this much."""


@dataclass
class Progress:
    """Where a run stands between two optimiser steps, besides its network, optimiser and
    generators: the pass (``epoch``) and its order of the training images, the position of
    the next batch in that order, the steps taken, the training loss and accuracy summed
    since the last validation point, the history rows so far and the seconds trained. A
    checkpoint holds exactly this, so a resumed run continues as if it had never stopped."""

    step: int
    epoch: int
    position: int
    order: torch.Tensor | None  # this pass's permutation (CPU); None until it is drawn
    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int
    images: int
    rows: list[dict]
    seconds: float

    @classmethod
    def start(cls, device: torch.device) -> Progress:
        return cls(
            step=0,
            epoch=1,
            position=0,
            order=None,
            loss_sum=torch.zeros((), device=device),
            correct=torch.zeros((), device=device, dtype=torch.long),
            seen=0,
            images=0,
            rows=[],
            seconds=0.0,
        )

    def state(self) -> dict:
        """Plain values and CPU tensors, as a checkpoint stores them."""
        state = dataclasses.asdict(self)
        state["loss_sum"] = self.loss_sum.cpu()
        state["correct"] = self.correct.cpu()
        return state

    @classmethod
    def from_state(cls, state: dict, device: torch.device) -> Progress:
        values = dict(state)
        values["loss_sum"] = state["loss_sum"].to(device)
        values["correct"] = state["correct"].to(device)
        return cls(**values)


def checkpoint_seconds() -> float:
    """Seconds of training between two checkpoints: ``$POOLSTUDY_CHECKPOINT_SECONDS`` (0: at
    every step), else ``CHECKPOINT_SECONDS``."""
    value = os.environ.get(CHECKPOINT_ENV, "").strip()
    if not value:
        return CHECKPOINT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:
        raise ValueError(f"${CHECKPOINT_ENV} must be a number of seconds >= 0, got {value!r}")
    return seconds


@dataclass
class Checkpoint:
    """A run's checkpoint file. ``identity`` says which run it belongs to (seed, operator,
    spec, training settings, placement, data hash, device, torch version): a checkpoint of
    another run (settings changed since) is ignored and overwritten, never resumed from."""

    path: Path
    identity: str
    seconds: float
    # looked up at each construction, so that a patched clock applies
    last: float = dataclasses.field(default_factory=lambda: time.perf_counter())

    def due(self) -> bool:
        return time.perf_counter() - self.last >= self.seconds

    def save(self, model, optimizer, generator, progress: Progress, device) -> None:
        """Everything a resumed run needs, written atomically (a kill mid-write leaves the
        previous checkpoint)."""
        state = {
            "identity": self.identity,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "generator": generator.get_state(),
            "progress": progress.state(),
        }
        with atomic_path(self.path) as tmp, open(tmp, "wb") as handle:
            torch.save(state, handle)
        self.last = time.perf_counter()

    def resume(self, model, optimizer, generator, device, log=print) -> Progress | None:
        """Restore the network, optimiser and generators from the checkpoint and return its
        progress; None (start afresh) when there is none or it belongs to another run."""
        for leftover in leftover_temporaries(self.path):
            leftover.unlink(missing_ok=True)  # a write interrupted by a kill
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            identity = state["identity"]
            progress = Progress.from_state(state["progress"], device)
        except Exception as error:  # unreadable: the run is merely not resumed
            log(f"{self.path}: cannot resume from it ({type(error).__name__}); starting afresh")
            return None
        if identity != self.identity:
            log(f"{self.path}: a checkpoint of other settings; starting afresh")
            return None
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        generator.set_state(state["generator"])
        log(f"{self.path}: resuming at step {progress.step}")
        return progress


def remove_checkpoint(path) -> None:
    """Delete a run's checkpoint (and any temporary file of one) once its model is written."""
    for stale in (Path(path), *leftover_temporaries(path)):
        stale.unlink(missing_ok=True)
