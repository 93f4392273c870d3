from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "data" / "tiny.yaml"
# What a fresh clone holds: the copy a pipeline test runs in leaves out every output.
NOT_COPIED = {
    ".git", ".venv", ".snakemake", ".dvc-remote", "data", "models", "results", "logs",
    "paper/build", "paper/generated", ".dvc/cache", ".dvc/tmp",
}
NEVER_COPIED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}


def _ignore(folder: str, names: list[str]) -> list[str]:
    relative = Path(folder).relative_to(REPO)
    return [
        name for name in names
        if name in NEVER_COPIED or (relative / name).as_posix() in NOT_COPIED
    ]


def tool_env() -> dict:
    """The environment with this interpreter's bin folder first, as in an activated venv."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("POOLSTUDY_DATA_MIRROR", None)
    return env


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-4000:]}"
        )
    return result


def copy_project(dest: Path, config: Path | None = TINY_CONFIG) -> Path:
    """Copy the project's source files (no outputs) to ``dest``; use ``config`` as default."""
    shutil.copytree(REPO, dest, ignore=_ignore)
    if config is not None:
        shutil.copy(config, dest / "config" / "config.yaml")
    return dest


@pytest.fixture(scope="session")
def snakemake_project(tmp_path_factory) -> Path:
    """The tiny study run once through `snakemake --cores 2`, shared by the e2e tests."""
    project = copy_project(tmp_path_factory.mktemp("snakemake") / "project")
    run(["snakemake", "--cores", "2"], cwd=project)
    return project
