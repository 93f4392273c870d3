"""DVC reruns only what changed: an operator added through `dvc exp run -S` trains and
evaluates only its own runs; every model file trained before stays as it was."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from conftest import run
from small_study import small_local_run  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

GIT = ["git", "-c", "user.name=poolstudy", "-c", "user.email=poolstudy@localhost"]


def model_files(project: Path) -> dict[Path, tuple[int, str]]:
    """Every file under models/: modification time and sha256 of its bytes."""
    return {
        path.relative_to(project): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted((project / "models").rglob("*"))
        if path.is_file()
    }


def jobs_run(output: str) -> list[str]:
    """The rules of the Snakemake jobs a run started, in order."""
    return re.findall(r"^(?:local)?rule (\w+):$", output, flags=re.MULTILINE)


def test_adding_an_operator_through_dvc_trains_only_its_runs(small_local_run, tmp_path):  # noqa: F811
    # the small study as Snakemake left it (outputs, metadata), taken over by DVC
    project = Path(shutil.copytree(small_local_run, tmp_path / "project", symlinks=True))
    run(["git", "init", "-q"], cwd=project)
    baseline = run(["dvc", "repro"], cwd=project)
    assert "rule train_main:" not in baseline.stdout + baseline.stderr
    run(["git", "add", "-A"], cwd=project)
    run([*GIT, "commit", "-qm", "baseline"], cwd=project)
    before = model_files(project)
    # models/<experiment>/<dataset>/<condition>/<operator>/<seed>/<file>
    assert {p.parts[4] for p in before} == {"none", "max"}

    operators = "config/config.yaml:operators=[none,max,avg]"
    result = run(["dvc", "exp", "run", "-n", "with-avg", "-S", operators], cwd=project)
    output = result.stdout + result.stderr
    assert "Running stage 'models'" in output

    after = model_files(project)
    unchanged = {path: after.get(path) for path in before}
    assert unchanged == before, "a model trained before was rewritten"
    new = {path.parts[4:6] for path in set(after) - set(before) if path.name == "model.pt"}
    assert new == {("avg", "0"), ("avg", "1")}
    # Snakemake trained and evaluated the new cell only, then remade the tables and the paper
    jobs = jobs_run(output)
    assert jobs.count("train_main") == 1 and jobs.count("evaluate_main") == 1, jobs
    assert "prepare" not in jobs
    assert (project / "results" / "eval" / "small" / "digits" / "gap" / "avg" / "1.csv").exists()
    shown = run(["dvc", "exp", "show", "--json"], cwd=project).stdout
    assert "with-avg" in shown


def test_adding_a_seed_through_dvc_trains_and_evaluates_only_that_seed(small_local_run, tmp_path):  # noqa: F811
    project = Path(shutil.copytree(small_local_run, tmp_path / "project", symlinks=True))
    run(["git", "init", "-q"], cwd=project)
    run(["dvc", "repro"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    run([*GIT, "commit", "-qm", "baseline"], cwd=project)
    before = {path: digest for path, (_, digest) in model_files(project).items()}
    evals = project / "results" / "eval" / "small" / "digits" / "gap"
    tables = {path: path.read_bytes() for path in sorted(evals.rglob("*.csv"))}
    assert {p.parts[5] for p in before} == {"0", "1"}

    seeds = "config/config.yaml:seeds=[0,1,2]"
    result = run(["dvc", "exp", "run", "-n", "three-seeds", "-S", seeds], cwd=project)
    output = result.stdout + result.stderr
    after = {path: digest for path, (_, digest) in model_files(project).items()}
    assert {path: after.get(path) for path in before} == before, "a trained seed was retrained"
    assert {p.parts[4:6] for p in set(after) - set(before) if p.name == "model.pt"} == {
        ("none", "2"),
        ("max", "2"),
    }
    # each cell's job ran again (its outputs were incomplete) and kept seeds 0 and 1
    for operator in ("none", "max"):
        for seed in (0, 1):
            assert f"{operator} seed {seed}: current (" in output
    assert {path: path.read_bytes() for path in tables} == tables
    assert all((evals / operator / "2.csv").exists() for operator in ("none", "max"))
