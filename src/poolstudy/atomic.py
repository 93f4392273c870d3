"""Atomic file outputs: write to a temporary name in the same folder, flush it to the disk,
then rename (and flush the folder's entry).

An interrupted job therefore never leaves a file that looks finished, nor does a machine that
loses power after the job said it was done (a rename may reach the disk before the data it
names). Files of tensors (the
prepared datasets, the models) also record a content hash (:func:`tensor_digest`), checked
when they are read back, so a file damaged later (truncated by a full disk, altered by hand or
by a bad copy) is refused with the command that rebuilds it instead of a pickle or zip error.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success.

    Temporaries of ``path`` that a killed writer left behind are removed first, so that a
    folder written again after a kill holds the files of an uninterrupted run and nothing
    else (a DVC folder output records every file in it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in leftover_temporaries(target):
        leftover.unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_current_umask())
        _flush(tmp, os.O_RDONLY, folder=False)
        os.replace(tmp, target)
        _flush(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0), folder=True)
    finally:
        if tmp.exists():
            tmp.unlink()


def _flush(path: Path, flags: int, folder: bool) -> None:
    """``fsync`` a file or folder. A file that cannot be written to the disk (an I/O error, a
    full disk or quota, as a network file system may report only here) is an error, and is
    not renamed into place; a file system that cannot flush at all (EINVAL, ENOTSUP) or
    refuses it for folders leaves what the rename promised."""
    try:
        fd = os.open(path, flags)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as error:
        if not folder and error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_csv(path: str | os.PathLike):
    """A table as ``write_csv`` wrote it: an empty cell is a missing value, and text such as
    "NA" or "nan" stays text (pandas would read both as missing)."""
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def write_npy(path: str | os.PathLike, array) -> None:
    import numpy as np

    # A file object, not a path: np.save would append ".npy" to the temporary name.
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(array))


class CorruptFile(RuntimeError):
    """A file that exists but is not what was written: truncated, altered, or written by a
    version that recorded no content hash. Its message names the file and how to rebuild it."""


def tensor_digest(tensors, meta: object = None) -> str:
    """sha256 of ``meta`` (as sorted JSON) and of each tensor's name, dtype, shape and bytes,
    in name order: the content hash a file records beside its tensors and is checked against
    on load. Hashing the tensors rather than the file body lets the hash live in the file."""
    import torch

    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def damaged(path, detail: str, remedy: str) -> CorruptFile:
    """The one-line error for a damaged file: what is wrong and the command that rebuilds it."""
    return CorruptFile(f"{path} is damaged ({detail}); {remedy}")


def load_torch_file(path: str | os.PathLike, remedy: str) -> dict:
    """``torch.load`` of a file this project wrote (a dictionary of tensors and plain values).
    A file that cannot be unpickled or unzipped (truncated, overwritten) raises
    :class:`CorruptFile` with ``remedy`` instead of a zip or pickle traceback; a missing file
    raises ``FileNotFoundError`` as usual."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; {remedy}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # zip, pickle and EOF errors alike: the bytes are not a file
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise damaged(path, f"it cannot be read: {first_line}", remedy) from None
    if not isinstance(payload, dict):
        raise damaged(path, f"it holds a {type(payload).__name__}, not a dictionary", remedy)
    return payload


def check_digest(path, recorded: str | None, actual: str, remedy: str) -> None:
    """Raise :class:`CorruptFile` unless the hash recorded in the file matches its content."""
    if recorded is None:
        raise damaged(path, "it records no content hash: written by an older version", remedy)
    if recorded != actual:
        raise damaged(path, "its content does not match the sha256 recorded in it", remedy)


def leftover_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files of ``atomic_path(path)`` left behind by a process that was killed
    before it could rename or remove them."""
    target = Path(path)
    return sorted(target.parent.glob(f".{target.name}.*.tmp{target.suffix}"))
