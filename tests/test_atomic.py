"""Atomic outputs: a file that exists is complete, even when its writer is killed mid-write."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import poolstudy
from poolstudy.atomic import (
    CorruptFile,
    atomic_path,
    check_digest,
    leftover_temporaries,
    load_torch_file,
    read_csv,
    tensor_digest,
    write_csv,
    write_json,
    write_npy,
    write_text,
)

# Writes half its content through ``atomic_path``, says so, then waits to be killed.
SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from poolstudy.atomic import atomic_path

    with atomic_path(sys.argv[1]) as tmp, open(tmp, "w") as handle:
        handle.write("partial")
        handle.flush()
        print("half written", flush=True)
        time.sleep(60)
        handle.write(" and the rest")
    """
)


def writer_env() -> dict:
    """The environment with the poolstudy this test imported first on the path, so the writer
    runs the same code (a copy of the sources under test, or the checkout)."""
    env = dict(os.environ)
    source = str(Path(poolstudy.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("old", [None, "the finished old file\n"])
def test_a_writer_killed_mid_write_leaves_the_old_file_or_none(tmp_path, old):
    target = tmp_path / "out" / "table.csv"
    if old is not None:
        target.parent.mkdir()
        target.write_text(old)
    writer = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=writer_env(),
    )
    try:
        line = writer.stdout.readline()
        assert line == "half written\n", writer.stderr.read()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()
        writer.stderr.close()
    assert writer.returncode == -signal.SIGKILL
    if old is None:
        assert not target.exists()
    else:
        assert target.read_text() == old
    # what is left is a temporary beside the target, hidden and never named like it
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    assert all(name.startswith(".") and name != target.name for name in leftovers)
    # writing the file again clears them: the folder is as an uninterrupted writer leaves it
    write_text(target, "the new file\n")
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert target.read_text() == "the new file\n"


def test_an_error_inside_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "numbers.tex"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("new but unfinished")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["numbers.tex"]


def test_success_replaces_the_file_with_the_permissions_of_a_new_one(tmp_path):
    target = tmp_path / "deep" / "er" / "model.pt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        assert tmp.name.startswith(".model.pt.") and tmp.name.endswith(".pt")
        tmp.write_bytes(b"weights")
        assert not target.exists()
    assert target.read_bytes() == b"weights"
    assert [p.name for p in target.parent.iterdir()] == ["model.pt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_the_file_reaches_the_disk_before_its_rename_and_the_folder_after(tmp_path, monkeypatch):
    """A rename can reach the disk before the data it names: after a power cut the finished
    name would hold nothing. So the temporary is flushed before it is renamed, and the folder
    (its new entry) after; a file system that refuses to flush a folder is no error."""
    import poolstudy.atomic as atomic

    target = tmp_path / "table.csv"
    events, real_replace = [], os.replace

    def fsync(fd):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        events.append(("fsync", path.name, path.read_bytes() if path.is_file() else None))
        if path.is_dir():
            raise OSError("folders cannot be flushed here")

    def replace(source, destination):
        events.append(("replace", Path(destination).name, None))
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    with atomic_path(target) as tmp:
        tmp.write_text("a,b\n")
    assert [
        (kind, name.startswith(".table.csv.") if kind == "fsync" and data else name, data)
        for kind, name, data in events
    ] == [  # fmt: skip
        ("fsync", True, b"a,b\n"),
        ("replace", "table.csv", None),
        ("fsync", tmp_path.name, None),
    ]
    assert target.read_text() == "a,b\n"


@pytest.mark.parametrize("error", [errno.EIO, errno.ENOSPC, errno.EINVAL])
def test_a_file_the_disk_did_not_take_is_not_renamed_into_place(tmp_path, monkeypatch, error):
    """An error that fsync reports on the file (a network file system may say only then that
    the disk is full) leaves the old file and no temporary; a file system that cannot flush at
    all (EINVAL) is no error."""
    import poolstudy.atomic as atomic

    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def fsync(fd):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_file():
            raise OSError(error, os.strerror(error))

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    if error == errno.EINVAL:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
        assert target.read_bytes() == b"new"
    else:
        with pytest.raises(OSError) as raised, atomic_path(target) as tmp:
            tmp.write_bytes(b"new")
        assert raised.value.errno == error
        assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_writers_round_trip(tmp_path):
    frame = pd.DataFrame({"operator": ["none", "max"], "value": [1.5, 2.0]})
    write_csv(tmp_path / "t.csv", frame)
    pd.testing.assert_frame_equal(read_csv(tmp_path / "t.csv"), frame)
    # names that pandas would read as missing stay names; only an empty cell is missing
    names = pd.DataFrame({"condition": ["NA", "nan", "None", None], "value": [1.0, 2, 3, None]})
    write_csv(tmp_path / "t.csv", names)
    back = read_csv(tmp_path / "t.csv")
    assert back["condition"].tolist()[:3] == ["NA", "nan", "None"]
    assert back.isna().to_dict("list") == {
        "condition": [False, False, False, True],
        "value": [False, False, False, True],
    }
    write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    write_text(tmp_path / "x.tex", "é\n")
    assert (tmp_path / "x.tex").read_bytes() == "é\n".encode()
    write_npy(tmp_path / "c.npy", [1, 0, 1])
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), [1, 0, 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "m.json", "t.csv", "x.tex"]


# --- reading back: the content hash and the one-line refusals ---------------------------------

REMEDY = "`rm it` and run the command again"


def test_tensor_digest_is_sha256_of_meta_then_each_named_tensor_in_name_order():
    import hashlib
    import json

    import torch

    tensors = {"b": torch.tensor([[1, 2], [3, 4]], dtype=torch.int16), "a": torch.ones(3)}
    expected = hashlib.sha256(json.dumps({"k": 1, "j": [2]}, sort_keys=True).encode())
    expected.update(b"a:torch.float32:(3,)\n" + np.ones(3, dtype=np.float32).tobytes())
    expected.update(b"b:torch.int16:(2, 2)\n" + np.array([1, 2, 3, 4], np.int16).tobytes())
    digest = tensor_digest(tensors, {"j": [2], "k": 1})
    assert digest == expected.hexdigest()
    # the same tensors in another order, or the same values in a non-contiguous view
    assert tensor_digest(dict(reversed(tensors.items())), {"k": 1, "j": [2]}) == digest
    transposed = tensors["b"].t().contiguous().t()
    assert not transposed.is_contiguous()
    assert tensor_digest({**tensors, "b": transposed}, {"j": [2], "k": 1}) == digest
    for changed in (
        {**tensors, "a": torch.ones(3, dtype=torch.float64)},  # dtype
        {**tensors, "a": torch.ones(1, 3)},  # shape
        {"c": tensors["a"], "b": tensors["b"]},  # name
    ):
        assert tensor_digest(changed, {"j": [2], "k": 1}) != digest
    assert tensor_digest(tensors, {"j": [2], "k": 2}) != digest
    assert tensor_digest(tensors) == tensor_digest(tensors, None) != digest


def test_load_torch_file_returns_the_dictionary_written(tmp_path):
    import torch

    path = tmp_path / "file.pt"
    torch.save({"weights": torch.arange(4), "steps": 7}, path)
    payload = load_torch_file(path, REMEDY)
    assert payload["steps"] == 7 and torch.equal(payload["weights"], torch.arange(4))


def test_load_torch_file_refuses_in_one_line_and_names_the_remedy(tmp_path, monkeypatch):
    import torch

    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError) as info:
        load_torch_file(missing, REMEDY)
    assert str(info.value) == f"{missing} does not exist; {REMEDY}"

    path = tmp_path / "file.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CorruptFile) as info:
        load_torch_file(str(path), REMEDY)
    assert str(info.value) == f"{path} is damaged (it holds a list, not a dictionary); {REMEDY}"

    path.write_bytes(b"not a file this project wrote\n")
    with pytest.raises(CorruptFile) as info:
        load_torch_file(path, REMEDY)
    message = str(info.value)
    assert message.startswith(f"{path} is damaged (it cannot be read: ")
    assert message.endswith(f"); {REMEDY}") and "\n" not in message
    # the zip or pickle error is not chained: the traceback would bury the one line
    assert info.value.__cause__ is None and info.value.__suppress_context__

    # the first line of a many-line error, or the error's type when it says nothing
    for error, shown in ((ValueError("first\nsecond"), "first"), (EOFError(), "EOFError")):

        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(torch, "load", fail)
        with pytest.raises(CorruptFile) as info:
            load_torch_file(path, REMEDY)
        assert str(info.value) == f"{path} is damaged (it cannot be read: {shown}); {REMEDY}"


def test_load_torch_file_reads_on_the_cpu_and_only_weights(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "file.pt"
    torch.save({"x": torch.zeros(1)}, path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_torch_file(path, REMEDY)
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_check_digest_refuses_a_missing_or_different_hash():
    check_digest("f.pt", "abc", "abc", REMEDY)  # the same: nothing raised
    with pytest.raises(CorruptFile) as info:
        check_digest("f.pt", None, "abc", REMEDY)
    assert str(info.value) == (
        f"f.pt is damaged (it records no content hash: written by an older version); {REMEDY}"
    )
    with pytest.raises(CorruptFile) as info:
        check_digest("f.pt", "abd", "abc", REMEDY)
    assert str(info.value) == (
        f"f.pt is damaged (its content does not match the sha256 recorded in it); {REMEDY}"
    )


def test_leftover_temporaries_are_the_hidden_temporaries_of_that_target_only(tmp_path):
    target = tmp_path / "model.pt"
    mine = [tmp_path / ".model.pt.a1.tmp.pt", tmp_path / ".model.pt.zz.tmp.pt"]
    others = [".model.pt.a1.tmp.csv", ".other.pt.a1.tmp.pt", "model.pt", ".model.pt"]
    for path in [*mine, *(tmp_path / name for name in others)]:
        path.write_text("x")
    assert leftover_temporaries(target) == mine
    assert leftover_temporaries(str(target)) == mine
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(others)
    assert target.read_text() == "new"


def test_atomic_path_leaves_the_process_umask_as_it_found_it(tmp_path):
    before = os.umask(0o027)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("a")
        assert os.umask(0o027) == 0o027
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
    finally:
        os.umask(before)
