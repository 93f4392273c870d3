"""The tiny config end to end on a device, the device check's last part (``python -m poolstudy
bench --device cuda``): a fresh copy of the project runs it from data to PDF (or to the paper's
generated inputs, without LaTeX) with its training and evaluation on that device, stopped with
every job it started when it runs past its time or the check is stopped; then what the
evaluation's reduced precision does to the metrics of the networks it trained
(``precisioncheck``)."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml

from poolstudy.precisioncheck import precision_effect
from poolstudy.torch_settings import evaluation_settings
from poolstudy.workspace import REPO, copy_sources


def tiny_config_on(device: torch.device, path: Path) -> Path:
    """The tiny end-to-end config with training and evaluation on ``device``."""
    config = yaml.safe_load((REPO / "tests" / "data" / "tiny.yaml").read_text())
    config["train"]["device"] = str(device)
    config.setdefault("evaluate", {})["device"] = str(device)
    # key order matters: the first condition and dataset are the primary ones
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


TINY_GPU_JOBS = 4
"""GPU jobs of the tiny run at once: its networks and batches take a few hundred MB, and one at
a time its 22 GPU jobs would spend minutes of the check's GPU time starting up in turn."""


def tiny_pipeline_command(
    python: str, cores: str, config: Path, targets: tuple[str, ...] = (), gpu_jobs: int = 0
) -> list[str]:
    """Snakemake, as a module of ``python``, on ``config`` alone: ``--configfile`` by itself
    would merge it into the project's ``config/config.yaml`` (whose conditions name datasets
    the tiny config does not study), so the workflow's config is replaced. ``gpu_jobs``: the
    GPU jobs that may run at once (the ``gpu`` resource; 0: one per GPU, the workflow's
    default)."""
    resources = ["--resources", f"gpu={gpu_jobs}"] if gpu_jobs else []
    return [
        python,
        "-m",
        "snakemake",
        "--cores",
        cores,
        *resources,
        "--configfile",
        str(config),
        "--replace-workflow-config",
        *targets,
    ]


def tiny_pipeline_targets() -> tuple[str, ...]:
    """Everything (``all``, to the PDF) where LaTeX is installed; else up to the paper's
    generated inputs (rule ``paper_inputs``), so that a GPU machine without TeX still runs
    every job that touches the device."""
    return () if shutil.which("latexmk") else ("paper_inputs",)


def python_shim(folder: Path, interpreter: str = sys.executable) -> Path:
    """``folder`` with a ``python`` and a ``python3`` that run ``interpreter`` (this one): the
    rules call ``python -m poolstudy``, and a GPU machine may have ``python3`` alone. Scripts
    rather than links, so that a virtual environment's interpreter keeps its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(interpreter)} "$@"\n')
        script.chmod(0o755)
    return folder


TINY_TIMEOUT_S = 420.0
"""How long the tiny run may take (on a GPU it takes a minute or two): a run that hangs is
stopped, with its jobs, and recorded as failed, rather than spending the rest of the
device's time."""


PRECISION_RESERVE_S = 60.0
"""Of a ``time_limit``, what the tiny run leaves for the check of its networks' evaluation
precision (on a GPU, seconds: six small networks evaluated twice)."""
MIN_TINY_S = 60.0
"""A tiny run given less than this is skipped instead: it would be stopped half-way."""


def tiny_timeout(time_limit: float | None, elapsed: float) -> float | None:
    """How long the tiny run may take after ``elapsed`` seconds of a check that must end within
    ``time_limit`` (None: no limit but ``TINY_TIMEOUT_S``); None where too little is left."""
    if time_limit is None:
        return TINY_TIMEOUT_S
    left = time_limit - elapsed - PRECISION_RESERVE_S
    return min(TINY_TIMEOUT_S, left) if left >= MIN_TINY_S else None


@contextmanager
def stopped_by_sigterm():
    """SIGTERM (``timeout``'s, a scheduler's at the end of its allocation) raises
    ``SystemExit`` here, so that a tiny run in progress is stopped with its jobs
    (``run_within``) instead of leaving them on the GPU, and the figures saved so far stay."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def run_within(command: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int, str, bool]:
    """(exit status, stdout and stderr together, whether it was stopped) of ``command``,
    stopped after ``timeout`` seconds together with every process it started (its own
    process group: Snakemake's jobs would otherwise go on and keep its output open), and
    stopped with them where the caller is interrupted."""
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=30)
            return process.returncode, output, True
        except BaseException:
            # its own session does not get the terminal's Ctrl-C: stop it with the check
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return process.returncode, output, False


def run_tiny_pipeline(
    device: torch.device, cores: str = "all", timeout: float = TINY_TIMEOUT_S
) -> dict:
    """The tiny config from data to PDF (or to the paper's inputs, without LaTeX) in a fresh
    copy of the project, on ``device``, stopped after ``timeout`` seconds (``run_within``);
    skipped, with the reason, where Snakemake is not
    importable by this Python (on a machine with PyTorch alone, ``make device-wheels``
    brings it and jsonschema as wheels: README.md)."""
    if importlib.util.find_spec("snakemake") is None:
        return {"skipped": f"{sys.executable} cannot import snakemake: install it (README.md)"}
    bin_dir = Path(sys.executable).parent  # this interpreter's scripts (snakemake)
    targets = tiny_pipeline_targets()
    gpu_jobs = TINY_GPU_JOBS if device.type == "cuda" else 0
    with tempfile.TemporaryDirectory() as tmp:
        project = copy_sources(Path(tmp) / "project")
        config = tiny_config_on(device, Path(tmp) / "tiny.yaml")
        shim = python_shim(Path(tmp) / "bin")  # the rules' `python` is this one
        path = os.pathsep.join([str(shim), str(bin_dir), os.environ.get("PATH", "")])
        env = {**os.environ, "PATH": path}
        start = time.perf_counter()
        returncode, output, timed_out = run_within(
            tiny_pipeline_command(sys.executable, cores, config, targets, gpu_jobs),
            project,
            env,
            timeout,
        )
        seconds = time.perf_counter() - start
        metas = list((project / "models").rglob("meta.json"))
        used = {json.loads(meta.read_text())["device"] for meta in metas}
        tiny = {
            "target": " ".join(targets) or "all",
            "gpu_jobs": gpu_jobs,
            "returncode": returncode,
            "seconds": seconds,
            "runs": len(metas),
            "devices": sorted(used),
            "log_tail": output[-2000:] if returncode else "",
        }
        if timed_out:
            tiny["timed_out"] = f"stopped after {timeout:g} s"
        if not returncode:
            tiny.update(evaluation_precision(project, device))
    return tiny


def evaluation_precision(project: Path, device: torch.device) -> dict:
    """``{"precision": ...}``: what the evaluation's reduced precision does to the metrics of
    the networks the tiny run trained in ``project`` (``precisioncheck``), or
    ``{"precision_error": traceback}`` where that raised."""
    try:
        models, data = project / "models", project / "data" / "prepared"
        with evaluation_settings(device):  # as the evaluation jobs compute the metrics
            return {"precision": precision_effect(models, data, device)}
    except Exception as error:  # noqa: BLE001 - recorded and reported; the exit code says so
        return {"precision_error": "".join(traceback.format_exception(error))[-3000:]}
