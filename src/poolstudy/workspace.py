"""A copy of the project's sources without any output: what a fresh clone holds.

Used by the end-to-end tests and the pipeline benchmark to run the pipeline from scratch
without touching the user's outputs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = {
    ".git",
    ".venv",
    ".snakemake",
    ".dvc-remote",
    "data",
    "models",
    "results",
    "logs",
    "benchmarks",
    "paper/build",
    "paper/generated",
    ".dvc/cache",
    ".dvc/tmp",
}
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}


def copy_sources(dest: Path, source: Path = REPO) -> Path:
    """Copy ``source`` to ``dest``, leaving out outputs (top-level paths) and caches."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(source)
        return [name for name in names if name in CACHES or (relative / name).as_posix() in OUTPUTS]

    shutil.copytree(source, dest, ignore=ignore)
    return dest
