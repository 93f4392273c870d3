"""Atomic outputs: a file that exists is complete, even when its writer is killed mid-write."""

from __future__ import annotations

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
from poolstudy.atomic import atomic_path, write_csv, write_json, write_npy, write_text

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


def test_writers_round_trip(tmp_path):
    frame = pd.DataFrame({"operator": ["none", "max"], "value": [1.5, 2.0]})
    write_csv(tmp_path / "t.csv", frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), frame)
    write_json(tmp_path / "m.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "m.json").read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    write_text(tmp_path / "x.tex", "é\n")
    assert (tmp_path / "x.tex").read_bytes() == "é\n".encode()
    write_npy(tmp_path / "c.npy", [1, 0, 1])
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), [1, 0, 1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.npy", "m.json", "t.csv", "x.tex"]
