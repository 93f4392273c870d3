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
    "dvc_plots",
    ".whl",
}
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}


def copy_sources(dest: Path, source: Path = REPO) -> Path:
    """Copy ``source`` to ``dest``, leaving out outputs (top-level paths), caches, built
    package metadata and ``dest`` itself where it lies inside ``source`` (``bench --pipeline
    --keep tmp/run``: else the copy would copy itself, folder in folder, until it fails)."""
    target = Path(dest).resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        relative = Path(folder).relative_to(source)
        return [
            name
            for name in names
            if name in CACHES
            or name.endswith(".egg-info")
            or (relative / name).as_posix() in OUTPUTS
            or (Path(folder) / name).resolve() == target
        ]

    shutil.copytree(source, dest, ignore=ignore)
    return dest
