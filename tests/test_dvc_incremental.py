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
