"""The project's own checks: ruff on the code and Snakemake's linter on the workflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = "tests/data/tiny.yaml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run `make setup`")
    return path


def test_ruff_is_clean():
    result = subprocess.run(
        [tool("ruff"), "check", "src", "tests"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_snakemake_lint_is_clean():
    result = subprocess.run([tool("snakemake"), "--lint"], cwd=REPO, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Lints for" not in output, output


def test_workflow_is_formatted():
    """`snakefmt --check` (settings in pyproject.toml: 100 columns, directives kept in order)."""
    result = subprocess.run(
        [tool("snakefmt"), "--check", "Snakefile", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def shipped_configs() -> list[str]:
    """The configs `make lint` dry-runs (the Makefile's CONFIGS)."""
    lines = (REPO / "Makefile").read_text().splitlines()
    return next(line for line in lines if line.startswith("CONFIGS ?=")).split("=", 1)[1].split()


def test_make_lint_dry_runs_every_shipped_config():
    studies = {path.relative_to(REPO).as_posix() for path in (REPO / "config").glob("*.yaml")}
    assert studies | {"tests/data/tiny.yaml"} <= set(shipped_configs())


@pytest.mark.parametrize("config", shipped_configs())
def test_every_shipped_config_plans(config):
    """A dry run of each shipped config on its own (as `make lint` does): the config passes
    its checks and Snakemake builds every job of its study, running none."""
    result = subprocess.run(
        [
            tool("snakemake"),
            "--dry-run",
            "--quiet",
            "rules",
            "--configfile",
            config,
            "--replace-workflow-config",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "train_main" in output and "paper" in output, output


def test_the_slurm_profile_names_rules_of_the_workflow():
    """Settings for a rule that does not exist are ignored without a word: every rule the
    SLURM profile sizes must be one of the workflow's (those of the tiny config, which has a
    sweep)."""
    import yaml

    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    result = subprocess.run(
        [tool("snakemake"), "--list-rules", "--configfile", TINY, "--replace-workflow-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = set(result.stdout.split())
    assert {"train_main", "evaluate_main", "train_sweep", "evaluate_sweep"} <= rules
    assert set(profile["set-resources"]) <= rules
    assert set(profile["set-threads"]) <= rules
    assert set(profile["set-resources"]) == {
        r for r in rules if r.startswith(("train_", "evaluate_"))
    }


def test_every_file_that_shares_a_study_runs_it_on_one_worker():
    """A test file that takes a study's session fixture is in ``SHARED_RUNS`` under that
    study, so that a parallel run (`make test`) runs each study once, on one worker; every
    other file is a unit of its own."""
    from conftest import SHARED_RUNS, worker_group

    fixtures = {"snakemake_project": "tiny study", "small_local_run": "small study"}
    users = {}
    for path in sorted((REPO / "tests").glob("test_*.py")):
        text = path.read_text()
        used = {study for fixture, study in fixtures.items() if f"{fixture}," in text}
        used |= {study for fixture, study in fixtures.items() if f"{fixture})" in text}
        if used:
            assert len(used) == 1, f"{path.name} uses two studies: {used}"
            users[path.name] = used.pop()
    assert users == SHARED_RUNS
    assert worker_group("tests/test_slurm.py::test_x") == worker_group(
        "tests/test_dvc_incremental.py::test_y[a::b]"
    )
    assert worker_group("tests/test_optim.py::test_z") == "test_optim.py"
