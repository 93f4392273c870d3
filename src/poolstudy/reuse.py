"""Seeds whose files are current, kept when their cell's job runs again.

A job trains (or evaluates) every seed of one cell, so adding a seed to the config reruns the
cell's job. The seeds it made before are kept instead of made again: beside each seed's files
the job writes a receipt, saying what made them (the command's arguments for that seed, the
SHA-256 of each file it read, the SHA-256 of the phase's code, PyTorch's version) and the
SHA-256 of each file it wrote. A seed is current where its receipt says the same of the command
about to run and its files still have those hashes; anything else (another setting, other
data or another model, an edit to the phase's code, a file changed or restored since) makes it
again. The rules mark these files ``update``, so that Snakemake leaves them in place when the
job runs again (and puts the old ones back if the job fails).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from poolstudy.atomic import write_json, write_text
from poolstudy.phases import module_path, phase_modules

RECEIPT_FORMAT = 1


def file_sha256(path: str | Path) -> str:
    stat = os.stat(path)
    return _sha256(str(path), stat.st_mtime_ns, stat.st_size)


@cache
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    """The hash of a file as it is at this modification time and size: the data file that
    every seed of a command reads is read once."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def code_sha256(phase: str) -> str:
    """One hash of the source of every module ``phase`` runs (``poolstudy.phases``): the code
    inputs its rule reruns on."""
    digest = hashlib.sha256()
    for name in phase_modules(phase):
        digest.update(name.encode() + b"\0" + module_path(name).read_bytes() + b"\0")
    return digest.hexdigest()


def made_by(phase: str, arguments: dict, inputs: Iterable[str | Path], code: str) -> dict:
    """What makes one seed's files: the phase, the command's ``arguments`` for this seed, the
    hash of each input file (by its path as given), the phase's ``code`` hash
    (``code_sha256``) and PyTorch's version."""
    import torch

    return {
        "format": RECEIPT_FORMAT,
        "phase": phase,
        "arguments": json.loads(json.dumps(arguments, sort_keys=True)),
        "inputs": {str(path): file_sha256(path) for path in inputs},
        "code": code,
        "torch": torch.__version__,
    }


def is_current(receipt: str | Path, maker: dict, outputs: Iterable[str | Path]) -> bool:
    """Whether the files ``outputs`` were made by ``maker`` and are unchanged since, as the
    ``receipt`` beside them says. No receipt, or one that cannot be read, is not current."""
    try:
        recorded = json.loads(Path(receipt).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(recorded, dict) or recorded.get("made_by") != maker:
        return False
    outputs = [str(path) for path in outputs]
    written = recorded.get("outputs")
    if not isinstance(written, dict) or sorted(written) != sorted(outputs):
        return False
    try:
        return all(file_sha256(path) == written[path] for path in outputs)
    except OSError:
        return False


def write_receipt(receipt: str | Path, maker: dict, outputs: Iterable[str | Path]) -> None:
    """Say that ``maker`` made the files ``outputs`` as they are now."""
    write_json(
        receipt,
        {"made_by": maker, "outputs": {str(path): file_sha256(path) for path in outputs}},
    )


CHECKPOINT_WRITER = "checkpoint.code"
"""Beside a run's checkpoint: what started writing it (``checkpoint_writer``)."""


def checkpoint_writer(maker: dict) -> str:
    """What a checkpoint's bytes depend on beyond what it holds itself: the hash of the
    training code and, on the CPU, the thread count (``maker``, a seed's ``made_by``)."""
    return json.dumps({"code": maker["code"], "threads": maker["arguments"].get("threads")})


def checkpoint_writer_matches(folder: str | Path, writer: str) -> bool:
    """Whether a checkpoint in ``folder`` may be resumed by ``writer`` (``checkpoint_writer``):
    the checkpoint's own identity does not hold it, so it is written beside the checkpoint when
    the seed's training starts (``mark_checkpoint_writer``). A checkpoint without it is not."""
    try:
        return (Path(folder) / CHECKPOINT_WRITER).read_text() == writer
    except (OSError, UnicodeDecodeError):
        return False


def mark_checkpoint_writer(folder: str | Path, writer: str) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text(folder / CHECKPOINT_WRITER, writer)


def stale_seeds(
    seeds: list[int], makers: dict[int, dict], receipts: dict[int, Path], outputs: dict
) -> list[int]:
    """The ``seeds`` whose files are not current, in order."""
    return [seed for seed in seeds if not is_current(receipts[seed], makers[seed], outputs[seed])]
