from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from poolstudy.workspace import copy_sources

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "data" / "tiny.yaml"


def tool_env() -> dict:
    """The environment with this interpreter's bin folder first, as in an activated venv."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("POOLSTUDY_DATA_MIRROR", None)
    return env


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = tool_env()
    if (Path(cwd) / "src" / "poolstudy").is_dir():
        # a copied project runs its own code, not the checkout's (editable install)
        env["PYTHONPATH"] = str(Path(cwd) / "src")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result


def copy_project(dest: Path, config: Path | None = TINY_CONFIG) -> Path:
    """Copy the project's source files (no outputs) to ``dest``; use ``config`` as default."""
    copy_sources(dest)
    if config is not None:
        shutil.copy(config, dest / "config" / "config.yaml")
    return dest


@pytest.fixture(autouse=True)
def restore_torch_state():
    """Tests that train or evaluate set process-wide torch state: put it back."""
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(deterministic)
    torch.utils.deterministic.fill_uninitialized_memory = fill
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def snakemake_project(tmp_path_factory) -> Path:
    """The tiny study run once through `snakemake --cores 2`, shared by the e2e tests."""
    project = copy_project(tmp_path_factory.mktemp("snakemake") / "project")
    run(["snakemake", "--cores", "2"], cwd=project)
    return project
