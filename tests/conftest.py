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


def imports_after(code: str, module: str) -> bool:
    """Whether a fresh interpreter has imported ``module`` after running ``code``."""
    script = f"{code}\nimport sys; print({module!r} in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1] == "True"


def local_rules(project: Path = REPO) -> set[str]:
    """The rules the Snakefile's `localrules` directive names: they run where Snakemake runs,
    also under a cluster's profile."""
    import re

    text = (project / "Snakefile").read_text()
    return {
        name
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", text, re.MULTILINE)
        for name in re.findall(r"\w+", block)
    }


def copy_project(dest: Path, config: Path | None = TINY_CONFIG) -> Path:
    """Copy the project's source files (no outputs) to ``dest``; use ``config`` as default."""
    copy_sources(dest)
    if config is not None:
        shutil.copy(config, dest / "config" / "config.yaml")
    return dest


@pytest.fixture(autouse=True)
def restore_torch_state():
    """Tests that train or evaluate set process-wide torch state: put it back. And seed
    torch's global generator, so that a network built without a seed of its own (a
    benchmark's untrained one) is the same whichever tests a worker ran before."""
    import torch

    torch.manual_seed(0)
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


def nearest_class_mean_accuracy(train_images, train_labels, test_images, test_labels) -> float:
    """Accuracy (%) on the test images of the classifier that gives each image the class of
    the nearest (Euclidean) mean of the training images of a class: far above chance only when
    the images show what their labels say, the same way in both sets."""
    import torch

    x = train_images.flatten(1).double()
    classes = train_labels.unique()
    means = torch.stack([x[train_labels == c].mean(0) for c in classes])
    predicted = classes[torch.cdist(test_images.flatten(1).double(), means).argmin(1)]
    return 100.0 * (predicted == test_labels).double().mean().item()


FIGURES = {"bad_config": "bad configs refused", "fault": "faults survived"}
"""Markers whose passed tests the suite counts in its summary (tests/test_bad_configs.py,
tests/test_faults.py), and the words it prints after each count."""


def pytest_configure(config):
    config.addinivalue_line("markers", "bad_config: a config that cannot run, refused")
    config.addinivalue_line("markers", "fault: a fault caught or survived")


SHARED_RUNS = {
    "test_pipeline_e2e.py": "tiny study",
    "test_dvc_incremental.py": "small study",
    "test_slurm.py": "small study",
}
"""Test files whose session fixtures run a study (``snakemake_project``, ``small_local_run``):
in a parallel run the files of one study go to one worker, which runs the study once."""


def worker_group(nodeid: str) -> str:
    """Where a parallel run sends a test: with the other tests of its file, or of its study."""
    file = Path(nodeid.split("::")[0]).name
    return SHARED_RUNS.get(file, file)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``pytest -n N --dist loadfile`` (as `make test` runs): pytest-xdist's file by file
    scheduling, with the files of a shared study as one unit, so that each module and session
    fixture is built once. (xdist's ``loadgroup`` would do it with markers, but it renames the
    tests' ids to do so, which pytest 9 no longer lets it do.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class StudyScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return StudyScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """In the workers of a parallel run, the studies first: with ``--no-loadscope-reorder``
    the workers take units in this order, so that none is left with a long study at the end
    while the others have finished."""
    if hasattr(config, "workerinput"):
        studies = set(SHARED_RUNS.values())
        items.sort(key=lambda item: worker_group(item.nodeid) not in studies)  # stable


def pytest_terminal_summary(terminalreporter):
    """Print e.g. "19 bad configs refused, 14 faults survived": passed tests per marker."""
    passed = [r for r in terminalreporter.stats.get("passed", []) if r.when == "call"]
    counts = {m: sum(1 for r in passed if m in r.keywords) for m in FIGURES}
    if any(counts.values()):
        terminalreporter.write_line(
            ", ".join(f"{count} {FIGURES[marker]}" for marker, count in counts.items())
        )


# Nearly every test module uses torch: importing it once at collection (and making the first
# call of use_deterministic_algorithms, which imports about 2 s of torch's compiler modules,
# with the current setting: a no-op) keeps the fixture above from paying for both inside the
# first test, and lets mutmut's fork server share them with every mutant's test run.
import torch as _torch  # noqa: E402

_torch.use_deterministic_algorithms(_torch.are_deterministic_algorithms_enabled())


def quiet(*args, **kwargs):
    """A logger that prints nothing."""


@pytest.fixture
def data_path(tmp_path):
    """A small synthetic prepared dataset on disk (``test_train.synthetic_dataset``)."""
    from test_train import synthetic_dataset

    from poolstudy.data.prepare import save_prepared

    path = tmp_path / "data.pt"
    save_prepared(synthetic_dataset(), path)
    return path


def state_of(path) -> dict:
    """The weights saved in a model file."""
    import torch

    return torch.load(path, weights_only=True)["state_dict"]


def same_state(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
