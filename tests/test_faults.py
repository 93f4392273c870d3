"""Faults the pipeline survives or refuses cleanly: divergence is an error (a non-finite loss or
weight, one line from the command), a damaged prepared or model file is refused with the
command that rebuilds it, an interrupted write leaves no file, and an interrupted training run
resumes from its checkpoint to the weights of an uninterrupted one (in process, and a real
process killed with SIGKILL); an evaluation process killed with SIGKILL at any moment leaves
only complete tables, and the same command run again writes those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY_CONFIG, copy_project, quiet, same_state, state_of, tool_env
from conftest import run as run_in
from test_train import synthetic_dataset

import poolstudy.checkpoint as checkpoint_module
import poolstudy.train as train_module
from poolstudy.atomic import CorruptFile, atomic_path, leftover_temporaries
from poolstudy.checkpoint import CHECKPOINT_ENV, CHECKPOINT_NAME
from poolstudy.prepared import load_prepared, save_prepared
from poolstudy.run_files import load_model
from poolstudy.train import TrainingDiverged, make_optimizer, train_cell

MODEL = {"widths": [4, 8], "operator_options": {"fracmax": {"kernel_size": 3}}}
TRAIN = {"epochs": 3, "batch_size": 16, "device": "cpu", "val_points": 3}
RUN_FILES = ("model.pt", "history.csv", "meta.json")


def same_run(first, second) -> None:
    """Bit-identical weights, the same history (but its timings) and the same metadata."""
    assert same_state(state_of(first / "model.pt"), state_of(second / "model.pt"))
    histories = [
        pd.read_csv(run / "history.csv").drop(columns="seconds") for run in (first, second)
    ]
    pd.testing.assert_frame_equal(*histories)
    metas = [json.loads((run / "meta.json").read_text()) for run in (first, second)]
    for key in ("steps", "n_train", "final_val_accuracy", "data_sha256", "spec"):
        assert metas[0][key] == metas[1][key], key


def command(data_path, operator, out_dir, train_options) -> list[str]:
    return (
        [sys.executable, "-m", "poolstudy", "train", "--data", str(data_path)]
        + ["--operator", operator, "--seeds", "0", "--model", json.dumps(MODEL)]
        + ["--train", json.dumps(train_options), "--out-dir", str(out_dir), "--threads", "1"]
    )


def environment(**changes) -> dict:
    env = {k: v for k, v in os.environ.items() if k != CHECKPOINT_ENV}
    return {**env, **changes}


# --- divergence -------------------------------------------------------------------------------


@pytest.mark.fault
def test_a_non_finite_weight_is_divergence(data_path, tmp_path, monkeypatch):
    """The last step's update happens after its loss was measured: only the weights show it."""

    def poisoning(model, config):
        optimizer = make_optimizer(model, config)
        steps = []
        step = optimizer.step

        def step_then_poison():
            step()
            steps.append(1)
            if len(steps) == 9:  # 3 epochs of 3 steps: the last one
                with torch.no_grad():
                    optimizer.param_groups[0]["params"][0].view(-1)[0] = float("nan")

        optimizer.step = step_then_poison
        return optimizer

    monkeypatch.setattr(train_module, "make_optimizer", poisoning)
    with pytest.raises(
        TrainingDiverged, match=r"max seed 0: the weight \S+ is not finite by step 9"
    ):
        train_cell(data_path, "max", [0], MODEL, TRAIN, [tmp_path / "run"], log=quiet)
    assert not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.child
@pytest.mark.fault
def test_the_train_command_reports_divergence_in_one_line(data_path, tmp_path):
    options = {**TRAIN, "lr": 1e12, "warmup_epochs": 0.0}
    result = subprocess.run(
        command(data_path, "max", tmp_path / "run", options), capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.match(r"poolstudy train: max seed 0: the (training loss|weight \S+) is ", last)
    assert "no model is written. Lower train.lr" in last
    assert not (tmp_path / "run" / "model.pt").exists()


# --- corruption -------------------------------------------------------------------------------


def truncate(path, tensor) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def alter(path, tensor) -> None:
    """Flip one byte inside ``tensor``'s data, leaving the archive readable."""
    body = bytearray(path.read_bytes())
    start = body.find(tensor.contiguous().numpy().tobytes()[:64])
    assert start > 0
    body[start + 5] ^= 0xFF
    path.write_bytes(bytes(body))


def overwrite(path, tensor) -> None:
    path.write_bytes(b"not a file this project wrote\n")


def unhashed(path, tensor) -> None:
    """As a version without content hashes wrote it."""
    payload = torch.load(path, weights_only=True)
    del payload["sha256"]
    torch.save(payload, path)


DAMAGES = [truncate, alter, overwrite, unhashed]


@pytest.mark.fault
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_prepared_file_is_refused_with_how_to_rebuild_it(tmp_path, damage):
    path = tmp_path / "prepared" / "digits.pt"
    data = synthetic_dataset()
    save_prepared(data, path)
    assert torch.equal(load_prepared(path).images, data.images)
    damage(path, data.images)
    with pytest.raises(CorruptFile) as info:
        load_prepared(path)
    message = str(info.value)
    assert message.startswith(f"{path} is damaged (") and "\n" not in message
    assert f"`rm {path}`" in message and "snakemake --cores all --forcerun prepare" in message


@pytest.mark.fault
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__)
def test_a_damaged_model_file_is_refused_with_how_to_rebuild_it(data_path, tmp_path, damage):
    run = tmp_path / "run"
    train_cell(data_path, "max", [0], MODEL, TRAIN, [run], log=quiet)
    path = run / "model.pt"
    load_model(path)
    # a matrix or vector: its bytes lie in the file in the order numpy gives them
    largest = max((t for t in state_of(path).values() if t.ndim <= 2), key=lambda t: t.numel())
    damage(path, largest)
    with pytest.raises(CorruptFile) as info:
        load_model(path)
    message = str(info.value)
    assert message.startswith(f"{path} is damaged (") and "\n" not in message
    assert f"`rm {path}`" in message and "retrains its cell" in message


@pytest.mark.child
@pytest.mark.fault
def test_the_commands_refuse_damaged_files_in_one_line(data_path, tmp_path):
    run = tmp_path / "run"
    train_cell(data_path, "max", [0], MODEL, TRAIN, [run], log=quiet)
    truncate(run / "model.pt", None)
    evaluate = subprocess.run(
        [sys.executable, "-m", "poolstudy", "evaluate", "--data", str(data_path)]
        + ["--model", str(run / "model.pt"), "--seeds", "0", "--experiment", "x"]
        + ["--dataset", "synthetic", "--operator", "max", "--out", str(tmp_path / "0.csv")],
        capture_output=True,
        text=True,
    )
    assert evaluate.returncode == 2 and "Traceback" not in evaluate.stderr
    last = evaluate.stderr.strip().splitlines()[-1]
    assert last.startswith(f"poolstudy evaluate: {run / 'model.pt'} is damaged")
    overwrite(data_path, None)
    train = subprocess.run(command(data_path, "max", run, TRAIN), capture_output=True, text=True)
    assert train.returncode == 2 and "Traceback" not in train.stderr
    last = train.stderr.strip().splitlines()[-1]
    assert last.startswith(f"poolstudy train: {data_path} is damaged")


# --- interruption -----------------------------------------------------------------------------


@pytest.mark.fault
def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "model.pt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a file")
        raise KeyboardInterrupt
    assert not target.exists() and not leftover_temporaries(target)


class Interrupted(Exception):
    """Stands for a kill right after a checkpoint was written."""


def interrupt_after(saves: int):
    original = checkpoint_module.Checkpoint.save
    count = []

    def save(self, *args, **kwargs):
        original(self, *args, **kwargs)
        count.append(1)
        if len(count) == saves:
            raise Interrupted

    return save


@pytest.mark.fault
@pytest.mark.parametrize(
    ("operator", "changes", "placement", "saves"),
    [
        ("max", {"augment_shift": 2}, None, 4),  # mid-pass: 3 steps per pass
        ("fracmax", {}, None, 6),  # at the end of a pass; the global generator draws regions
        ("avg", {"n_train": 30}, {"canvas": 20, "region": "left"}, 5),  # placement draws
    ],
)
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    data_path, tmp_path, monkeypatch, operator, changes, placement, saves
):
    options = {**TRAIN, **changes}
    alone, resumed = tmp_path / "alone", tmp_path / "resumed"
    common = {"placement_options": placement}
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    train_cell(data_path, operator, [0], MODEL, options, [alone], log=quiet, **common)

    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    original = checkpoint_module.Checkpoint.save
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", interrupt_after(saves))
    with pytest.raises(Interrupted):
        train_cell(data_path, operator, [0], MODEL, options, [resumed], log=quiet, **common)
    assert (resumed / CHECKPOINT_NAME).is_file() and not (resumed / "model.pt").exists()
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", original)
    lines = []
    train_cell(data_path, operator, [0], MODEL, options, [resumed], log=lines.append, **common)
    assert f"{resumed / CHECKPOINT_NAME}: resuming at step {saves}" in lines
    assert not (resumed / CHECKPOINT_NAME).exists()
    same_run(alone, resumed)


@pytest.mark.fault
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_a_run_on_cuda_checkpoints_its_generators_and_resumes_there(
    data_path, tmp_path, monkeypatch
):
    """Every tensor of a CUDA run (inputs, shifted and placed batches, running sums, the
    model) must be on the GPU, its checkpoint must carry the GPU's generator state, and a
    resumed run must finish there; its metadata names the GPU."""
    options = {**TRAIN, "device": "cuda", "augment_shift": 2}
    placement = {"canvas": 20, "region": "left"}
    run = tmp_path / "run"
    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    original = checkpoint_module.Checkpoint.save
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", interrupt_after(4))
    with pytest.raises(Interrupted):
        train_cell(data_path, "max", [0], MODEL, options, [run], placement_options=placement)
    saved = torch.load(run / CHECKPOINT_NAME, weights_only=True)
    assert torch.equal(saved["cuda_rng"], torch.cuda.get_rng_state("cuda"))
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", original)
    lines = []
    train_cell(
        data_path, "max", [0], MODEL, options, [run], placement_options=placement,
        log=lines.append,
    )  # fmt: skip
    assert f"{run / CHECKPOINT_NAME}: resuming at step 4" in lines
    meta = json.loads((run / "meta.json").read_text())
    assert meta["device_name"] == torch.cuda.get_device_name("cuda") != "cpu"
    assert meta["steps"] > 4 and 0.0 <= meta["final_val_accuracy"] <= 100.0


def test_a_resumed_run_counts_the_training_time_before_the_interruption(
    data_path, tmp_path, monkeypatch
):
    """With a clock that stands still, an uninterrupted run trains for zero seconds; so must
    a resumed one, whose checkpoint carried the time trained before. The checkpoint names its
    seed and device."""
    # later than any real reading, which a checkpoint takes as its start
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: 1e9)
    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    run = tmp_path / "run"
    original = checkpoint_module.Checkpoint.save
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", interrupt_after(4))
    with pytest.raises(Interrupted):
        train_cell(data_path, "max", [2], MODEL, TRAIN, [run], log=quiet)
    identity = json.loads(torch.load(run / CHECKPOINT_NAME, weights_only=True)["identity"])
    assert identity["seed"] == 2 and identity["device"] == "cpu"
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", original)
    lines = []
    train_cell(data_path, "max", [2], MODEL, TRAIN, [run], log=lines.append)
    assert f"{run / CHECKPOINT_NAME}: resuming at step 4" in lines
    assert json.loads((run / "meta.json").read_text())["wall_seconds"] == 0.0


def test_a_checkpoint_of_other_settings_is_not_resumed(data_path, tmp_path, monkeypatch):
    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    run, alone = tmp_path / "run", tmp_path / "alone"
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", interrupt_after(4))
    with pytest.raises(Interrupted):
        train_cell(data_path, "max", [0], MODEL, TRAIN, [run], log=quiet)
    monkeypatch.undo()
    other = {**TRAIN, "lr": 0.1}
    lines = []
    train_cell(data_path, "max", [0], MODEL, other, [run], log=lines.append)
    assert f"{run / CHECKPOINT_NAME}: a checkpoint of other settings; starting afresh" in lines
    train_cell(data_path, "max", [0], MODEL, other, [alone], log=quiet)
    same_run(alone, run)


class NotWeights:
    """An object a checkpoint of weights never holds: unpickling it would run its class."""


@pytest.mark.fault
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"not a checkpoint", "UnpicklingError"),
        ({"identity": NotWeights(), "progress": {}}, "UnpicklingError"),
        ({"identity": "another run"}, "KeyError"),
    ],
    ids=["garbage", "pickled-object", "incomplete"],
)
def test_an_unreadable_checkpoint_is_named_and_training_starts_afresh(
    data_path, tmp_path, content, error
):
    run, alone = tmp_path / "run", tmp_path / "alone"
    run.mkdir()
    if isinstance(content, bytes):
        (run / CHECKPOINT_NAME).write_bytes(content)
    else:
        torch.save(content, run / CHECKPOINT_NAME)
    lines = []
    train_cell(data_path, "max", [0], MODEL, TRAIN, [run], log=lines.append)
    expected = f"{run / CHECKPOINT_NAME}: cannot resume from it ({error}); starting afresh"
    assert expected in lines
    train_cell(data_path, "max", [0], MODEL, TRAIN, [alone], log=quiet)
    same_run(alone, run)


@pytest.mark.fault
def test_a_cell_keeps_its_checkpoints_until_every_seed_is_written(data_path, tmp_path, monkeypatch):
    """Snakemake deletes all of a failed cell's outputs, so a seed finished before a kill must
    be resumable from its last checkpoint rather than trained again."""
    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    runs = [tmp_path / "0", tmp_path / "1"]
    monkeypatch.setattr(checkpoint_module.Checkpoint, "save", interrupt_after(9 + 2))
    with pytest.raises(Interrupted):
        train_cell(data_path, "max", [0, 1], MODEL, TRAIN, runs, log=quiet)
    assert (runs[0] / "model.pt").exists() and (runs[0] / CHECKPOINT_NAME).exists()
    monkeypatch.undo()
    monkeypatch.setenv(CHECKPOINT_ENV, "0")
    lines = []
    train_cell(data_path, "max", [0, 1], MODEL, TRAIN, runs, log=lines.append)
    assert f"{runs[0] / CHECKPOINT_NAME}: resuming at step 9" in lines
    assert f"{runs[1] / CHECKPOINT_NAME}: resuming at step 2" in lines
    for seed, run in enumerate(runs):
        alone = tmp_path / f"alone{seed}"
        train_cell(data_path, "max", [seed], MODEL, TRAIN, [alone], log=quiet)
        same_run(alone, run)
    assert not [path for run in runs for path in run.glob("*checkpoint*")]


@pytest.mark.child
@pytest.mark.fault
def test_a_killed_training_process_resumes_to_the_same_weights(data_path, tmp_path):
    """A real `poolstudy train` process, killed with SIGKILL once it has checkpointed, then
    the same command again: the weights of an uninterrupted run, bit for bit."""
    options = {"steps": 300, "batch_size": 8, "device": "cpu", "val_points": 5}
    options["augment_shift"] = 1
    killed, alone = tmp_path / "killed", tmp_path / "alone"
    checkpoint = killed / CHECKPOINT_NAME
    every_step = environment(**{CHECKPOINT_ENV: "0"})
    process = subprocess.Popen(
        command(data_path, "fracmax", killed, options),
        env=every_step,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within two minutes"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not (killed / "model.pt").exists()
    step = torch.load(checkpoint, weights_only=True)["progress"]["step"]
    assert 0 < step < options["steps"]

    again = subprocess.run(
        command(data_path, "fracmax", killed, options),
        env=every_step,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert f"{checkpoint}: resuming at step " in again.stdout
    assert not checkpoint.exists() and not leftover_temporaries(checkpoint)
    subprocess.run(
        command(data_path, "fracmax", alone, options),
        env=environment(),
        check=True,
        capture_output=True,
    )
    same_run(alone, killed)


def test_the_checkpoint_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    assert checkpoint_module.checkpoint_seconds() == checkpoint_module.CHECKPOINT_SECONDS
    monkeypatch.setenv(CHECKPOINT_ENV, "2.5")
    assert checkpoint_module.checkpoint_seconds() == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(CHECKPOINT_ENV, bad)
        with pytest.raises(ValueError, match=CHECKPOINT_ENV):
            checkpoint_module.checkpoint_seconds()


def test_a_checkpoint_is_due_once_its_interval_has_passed(monkeypatch, tmp_path):
    now = [100.0]
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: now[0])
    # the interval starts when the checkpoint is made, read from the (patched) clock
    checkpoint = checkpoint_module.Checkpoint(tmp_path / "c.pt", "run", seconds=5.0)
    assert checkpoint.last == 100.0
    assert not checkpoint.due()
    now[0] = 104.9
    assert not checkpoint.due()
    now[0] = 105.0
    assert checkpoint.due()
    every_step = checkpoint_module.Checkpoint(tmp_path / "c.pt", "run", seconds=0.0, last=105.0)
    assert every_step.due()


# --- an evaluation process killed with SIGKILL -------------------------------------------------

EVAL_SEEDS = [0, 1, 2]
EVALUATE = {
    "protocols": ["circular", "zero"],
    "max_shift": 2,
    "consistency_shift": 2,
    "device": "cpu",
}


def evaluate_command(cell: Path, out_dir: Path) -> list[str]:
    """`poolstudy evaluate` of the cell's three seeds, as the workflow runs it."""
    tables = [str(out_dir / f"{seed}.csv") for seed in EVAL_SEEDS]
    records = [str(out_dir / f"{seed}.correct.npy") for seed in EVAL_SEEDS]
    models = [str(cell / "models" / str(seed) / "model.pt") for seed in EVAL_SEEDS]
    return (
        [sys.executable, "-m", "poolstudy", "evaluate", "--data", str(cell / "data.pt")]
        + ["--model", *models, "--seeds", *map(str, EVAL_SEEDS), "--experiment", "x"]
        + ["--dataset", "synthetic", "--operator", "max", "--evaluate", json.dumps(EVALUATE)]
        + ["--out", *tables, "--correct-out", *records, "--threads", "1"]
    )


def eval_outputs(out_dir: Path) -> list[Path]:
    return [out_dir / f"{seed}{end}" for seed in EVAL_SEEDS for end in (".csv", ".correct.npy")]


@pytest.fixture(scope="module")
def evaluated_cell(tmp_path_factory) -> Path:
    """A prepared dataset with 200 test images, the three trained models of one cell, and the
    cell's evaluation run without interruption (``uninterrupted/``)."""
    cell = tmp_path_factory.mktemp("cell")
    save_prepared(synthetic_dataset(n=252), cell / "data.pt")
    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    train_cell(
        cell / "data.pt",
        "max",
        EVAL_SEEDS,
        MODEL,
        {**TRAIN, "epochs": 1, "val_points": 1},
        [cell / "models" / str(seed) for seed in EVAL_SEEDS],
        log=quiet,
    )
    torch.use_deterministic_algorithms(deterministic)
    torch.set_num_threads(threads)
    subprocess.run(evaluate_command(cell, cell / "uninterrupted"), check=True, capture_output=True)
    return cell


def kill_when(process: subprocess.Popen, ready, what: str) -> None:
    """SIGKILL ``process`` as soon as ``ready(line)`` holds for a line it printed (``line`` is
    None between lines, to poll for files)."""
    deadline = time.monotonic() + 120
    fd, pending = process.stdout.fileno(), b""
    while not ready(None):
        if select.select([fd], [], [], 0.002)[0]:
            pending += os.read(fd, 1 << 16)
            *lines, pending = pending.split(b"\n")
            if any(ready(line.decode()) for line in lines):
                break
        assert process.poll() is None, f"the evaluation ended before {what}"
        assert time.monotonic() < deadline, f"not {what} within two minutes"
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    process.stdout.close()


def first_table_written(out_dir: Path):
    return lambda line: (out_dir / "0.csv").exists()


def seed_started(seed: int):
    """The first protocol of ``seed`` done, the rest of its evaluation still to come."""
    done = []

    def ready(line) -> bool:
        if line is not None and line.startswith("circular: "):
            done.append(line)
        return len(done) > seed

    return ready


KILL_MOMENTS = {
    "mid-first-seed": lambda out_dir: seed_started(0),
    "first-table-written": first_table_written,
    "mid-second-seed": lambda out_dir: seed_started(1),
}


@pytest.mark.child
@pytest.mark.fault
@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_a_killed_evaluation_leaves_complete_tables_and_reruns_to_the_same(
    evaluated_cell, tmp_path, moment
):
    """A real `poolstudy evaluate` of three seeds killed with SIGKILL: each table or per-image
    record present is the whole file of an uninterrupted run, anything else in the folder is a
    hidden temporary; the same command again leaves the folder of an uninterrupted run, byte
    for byte, and clears the temporary a kill in the middle of a write leaves."""
    uninterrupted, out_dir = evaluated_cell / "uninterrupted", tmp_path / "eval"
    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        evaluate_command(evaluated_cell, out_dir),
        env=unbuffered,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    kill_when(process, KILL_MOMENTS[moment](out_dir), moment)

    outputs = eval_outputs(out_dir)
    present = [path for path in outputs if path.exists()]
    assert present == outputs[: len(present)], "written out of order"
    assert len(present) < len(outputs), "the evaluation finished before it was killed"
    if moment == "mid-first-seed":
        assert not present
    else:
        assert out_dir / "0.csv" in present
    if moment == "mid-second-seed":
        assert out_dir / "1.csv" not in present
    for path in present:
        assert path.read_bytes() == (uninterrupted / path.name).read_bytes(), path
    temporaries = {t for path in outputs for t in leftover_temporaries(path)}
    others = set(out_dir.iterdir()) - set(present) if out_dir.exists() else set()
    assert others == temporaries
    assert all(path.name.startswith(".") for path in others)

    # a kill in the middle of writing the next file leaves part of it under a hidden temporary
    # name (tests/test_atomic.py), never under the file's own name
    cut = outputs[len(present)]
    cut.parent.mkdir(exist_ok=True)
    part = cut.parent / f".{cut.name}.killed.tmp{cut.suffix}"
    part.write_bytes((uninterrupted / cut.name).read_bytes()[:100])
    assert part in leftover_temporaries(cut) and not cut.exists()

    again = subprocess.run(
        evaluate_command(evaluated_cell, out_dir), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        p.name for p in uninterrupted.iterdir()
    )
    for path in outputs:
        assert path.read_bytes() == (uninterrupted / path.name).read_bytes(), path


# --- the whole of snakemake killed with SIGKILL --------------------------------------------------


def killed_study(project: Path) -> Path:
    """The tiny study cut to one cell of two seeds: prepare, train, evaluate, analyze."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.update(experiment="killed", operators=["max"], seeds=[0, 1], conditions={"gap": {}})
    config.update(sweep=None, primary=None)
    config["train"]["epochs"] = 1
    config["evaluate"]["protocols"] = ["circular", "zero"]
    copy_project(project, config=None)
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return project


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.e2e
@pytest.mark.fault
def test_a_killed_snakemake_reruns_only_the_unfinished_job_to_the_same_tables(tmp_path):
    """`snakemake` and every job it started (its process group), killed with SIGKILL while
    the cell's evaluation has written its first seed's table: `snakemake --unlock` and
    `snakemake` again rerun that evaluation (its outputs are marked incomplete) and the
    analysis, nothing else, and end with the tables of the same jobs run without interruption
    (forced to run again afterwards)."""
    project = killed_study(tmp_path / "project")
    command = ["snakemake", "--cores", "1", "analyze"]
    snakemake = subprocess.Popen(
        command,
        cwd=project,
        env={**tool_env(), "PYTHONPATH": str(project / "src")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first_table = project / "results" / "eval" / "killed" / "digits" / "gap" / "max" / "0.csv"
    deadline = time.monotonic() + 90
    while not first_table.exists():
        assert snakemake.poll() is None, "snakemake ended before its first evaluation"
        assert time.monotonic() < deadline, "no evaluation within 90 seconds"
        time.sleep(0.005)
    os.killpg(snakemake.pid, signal.SIGKILL)
    assert snakemake.wait() == -signal.SIGKILL
    assert not first_table.with_name("1.csv").exists()
    assert not (project / "results" / "tables").exists()
    trained = files_under(project / "models")
    # model, history, metadata and receipt of each seed: training had ended
    assert len(trained) == 8

    run_in(["snakemake", "--unlock"], cwd=project)
    again = run_in(command, cwd=project, check=False)
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-3000:]
    rules = set(re.findall(r"^localrule (\w+):$", log, flags=re.MULTILINE))
    evaluations = {rule for rule in rules if rule.startswith("evaluate_")}
    assert len(evaluations) == 1 and rules == {"analyze", *evaluations}, rules
    assert files_under(project / "models") == trained
    after_kill = files_under(project / "results")
    assert not [name for name in after_kill if "/." in name or name.startswith(".")]

    # the same evaluation and analysis, run without interruption (without the receipts, which
    # would keep the tables the resumed run wrote)
    for receipt in (project / "results" / "eval").rglob("*.receipt.json"):
        receipt.unlink()
    run_in([*command, "--forcerun", *evaluations], cwd=project)
    uninterrupted = files_under(project / "results")
    assert after_kill.keys() == uninterrupted.keys()
    for name in uninterrupted:
        assert after_kill[name] == uninterrupted[name], name
