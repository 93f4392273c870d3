"""A smaller study than tests/data/tiny.yaml for the tests that pay per job (SLURM, DVC
reruns): one dataset, one condition, two operators, no sweep; still every rule of the
pipeline, down to the PDF."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import TINY_CONFIG, copy_project, run


def small_config() -> dict:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config.update(
        experiment="small",
        operators=["none", "max"],
        seeds=[0, 1],
        conditions={"gap": {}},
        sweep=None,
        primary={"contrasts": ["max - none"], "answer": ["max - none"]},
    )
    # named, not auto: the SLURM test sends it to a cluster (jobs.cluster_device_problem)
    config["train"]["device"] = config["evaluate"]["device"] = "cpu"
    return config


def small_project(dest: Path, config: dict | None = None) -> Path:
    """A copy of the project whose config/config.yaml is the small study (or ``config``)."""
    project = copy_project(dest, config=None)
    text = yaml.safe_dump(config or small_config(), sort_keys=False)
    (project / "config" / "config.yaml").write_text(text)
    return project


_LOCAL_RUN: dict[str, Path] = {}


@pytest.fixture(scope="session")
def small_local_run(tmp_path_factory) -> Path:
    """The small study run once per session through `snakemake --cores 2` (shared by the
    SLURM and DVC tests, which import this fixture: the reference for the first, the starting
    point of the second). Do not write into it: copy it."""
    if "project" not in _LOCAL_RUN:
        project = small_project(tmp_path_factory.mktemp("small") / "project")
        run(["snakemake", "--cores", "2"], cwd=project)
        _LOCAL_RUN["project"] = project
    return _LOCAL_RUN["project"]
