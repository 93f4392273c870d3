"""A copy of the project's sources: what a fresh clone holds, and nothing it would not."""

from __future__ import annotations

from pathlib import Path

from poolstudy.workspace import copy_sources


def files_under(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


def project(root: Path) -> Path:
    """A project with sources, outputs, caches, wheels and built package metadata."""
    for name in (
        "Snakefile",
        "src/poolstudy/train.py",
        "config/config.yaml",
        "paper/main.tex",
        "results/tables/summary.csv",
        "models/run/model.pt",
        "paper/build/paper.pdf",
        "dvc_plots/index.html",
        ".whl/torch-2.9.0-cp312-linux_x86_64.whl",
        "src/poolstudy.egg-info/PKG-INFO",
        "src/poolstudy/__pycache__/train.cpython-311.pyc",
        "tmp/notes.txt",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    return root


SOURCES = {"Snakefile", "src/poolstudy/train.py", "config/config.yaml", "paper/main.tex"}


def test_a_copy_holds_the_sources_and_no_output(tmp_path):
    source = project(tmp_path / "project")
    copy = copy_sources(tmp_path / "copy", source)
    assert files_under(copy) == SOURCES | {"tmp/notes.txt"}


def test_a_copy_inside_the_project_does_not_copy_itself(tmp_path):
    source = project(tmp_path / "project")
    copy = copy_sources(source / "tmp" / "run", source)
    assert files_under(copy) == SOURCES | {"tmp/notes.txt"}
    assert not (copy / "tmp" / "run").exists()
