"""What each phase of the pipeline reruns on: the modules it runs, found from its imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO, imports_after

from poolstudy.phases import (
    ENTRIES,
    PLUMBING,
    imported_modules,
    phase_code,
    phase_modules,
    prepare_job_code,
)


def test_training_runs_its_optimiser_and_the_maxima_and_never_the_evaluation():
    train = phase_modules("train")
    assert {
        "poolstudy.train",
        "poolstudy.checkpoint",
        "poolstudy.run_files",
        "poolstudy.optim",
        "poolstudy.maxima",
        "poolstudy.pooling",
        "poolstudy.translate",
    } <= set(train)
    # editing evaluation code reruns the evaluations, never the training: the shift
    # protocols too, though training shifts its batches with the translations they share
    assert not set(train) & {"poolstudy.evaluate", "poolstudy.metrics", "poolstudy.shifts"}
    # nor editing a dataset's source or how it is prepared: training reads the prepared file
    assert "poolstudy.prepared" in train
    assert [name for name in train if name.startswith("poolstudy.data")] == []
    # the paper names the modules a recorded run's tables come from that changed since
    assert {"poolstudy.train", "poolstudy.optim", "poolstudy.analyze"} <= set(
        phase_modules("paper_inputs")
    )
    assert "poolstudy.train" not in phase_modules("figures")
    # the evaluation loads its networks through run_files.load_model, imported inside a
    # function, and runs none of the training loop or the optimiser
    evaluate = set(phase_modules("evaluate"))
    assert {"poolstudy.evaluate", "poolstudy.run_files", "poolstudy.maxima"} <= evaluate
    assert not evaluate & {"poolstudy.train", "poolstudy.optim", "poolstudy.checkpoint"}


SOURCES = {
    "digits": "data/digits.py",
    "glyphs": "data/glyphs.py",
    "mnist": "data/torchvision_sets.py",
    "fashion_mnist": "data/torchvision_sets.py",
    "cifar10": "data/torchvision_sets.py",
    "svhn": "data/torchvision_sets.py",
}


def test_a_prepare_job_runs_its_own_datasets_source_and_the_phase_every_ones():
    from poolstudy.data import DATASET_SOURCES, DATASETS
    from poolstudy.phases import dataset_sources

    package = REPO / "src" / "poolstudy"
    assert dataset_sources(package) == DATASET_SOURCES  # read as the registry has it
    shared = {"data/__init__.py", "data/base.py", "data/prepare.py", "prepared.py"}
    assert list(DATASETS) == list(SOURCES)
    jobs = {}
    for dataset, source in SOURCES.items():
        assert DATASETS[dataset].name == dataset
        jobs[dataset] = {
            Path(path).relative_to(package).as_posix()
            for path in prepare_job_code(dataset, package)
        }
        assert jobs[dataset] == shared | {source}, dataset
    phase = {Path(path).relative_to(package).as_posix() for path in phase_code("prepare", package)}
    assert phase == set().union(*jobs.values())
    with pytest.raises(KeyError, match="unknown dataset 'emnist'; datasets: digits, glyphs"):
        prepare_job_code("emnist", package)


def test_the_datasets_sources_are_read_from_the_package_given(tmp_path):
    from poolstudy.phases import dataset_modules

    data = tmp_path / "poolstudy" / "data"
    data.mkdir(parents=True)
    (data / "base.py").write_text("")
    (data / "toy.py").write_text("from poolstudy.data.base import X\n")
    # a module the installed package does not have; its package's __init__ runs first
    (data / "prepare.py").write_text("from poolstudy.data.splits import fractions\n")
    (data / "splits.py").write_text("")
    (data / "__init__.py").write_text(  # read, never run: X.y is no target with a name
        'X.y = 1\nDATASET_SOURCES: dict\nDATASET_SOURCES = {"toy": ("poolstudy.data.toy", "T")}\n'
    )
    assert dataset_modules("toy", tmp_path / "poolstudy") == (
        "poolstudy.data",  # its package, whose __init__ runs first
        "poolstudy.data.base",
        "poolstudy.data.toy",
    )
    assert prepare_job_code("toy", tmp_path / "poolstudy") == [
        (data / name).as_posix()
        for name in ("__init__.py", "base.py", "prepare.py", "splits.py", "toy.py")
    ]
    assert "poolstudy.data.toy" in phase_modules("prepare", tmp_path / "poolstudy")
    with pytest.raises(KeyError, match="unknown dataset 'digits'; datasets: toy"):
        dataset_modules("digits", tmp_path / "poolstudy")
    (data / "__init__.py").write_text('DATASET_SOURCES = {"toy": ("poolstudy.data.toy", "T")}\n')
    assert dataset_modules("toy", tmp_path / "poolstudy")[-1] == "poolstudy.data.toy"
    (data / "__init__.py").write_text("SOURCES = {}\n")
    with pytest.raises(ValueError, match=r"data/__init__.py assigns no DATASET_SOURCES"):
        dataset_modules("toy", tmp_path / "poolstudy")
    (data / "__init__.py").write_text("DATASET_SOURCES = {\n")
    with pytest.raises(SyntaxError) as broken:
        dataset_modules("toy", tmp_path / "poolstudy")
    assert broken.value.filename == str(data / "__init__.py")


def test_the_registry_imports_a_datasets_source_when_its_entry_is_first_asked_for():
    prepared = "import poolstudy.data.prepare, poolstudy.train, poolstudy.evaluate"
    assert not imports_after(prepared, "poolstudy.data.glyphs")
    assert not imports_after(prepared, "poolstudy.data.torchvision_sets")
    known = (
        "from poolstudy.data import DATASETS; assert 'glyphs' in DATASETS and 'x' not in DATASETS"
    )
    assert not imports_after(known, "poolstudy.data.glyphs")
    asked = "from poolstudy.data import DATASETS; DATASETS['glyphs']"
    assert imports_after(asked, "poolstudy.data.glyphs")
    assert not imports_after(asked, "poolstudy.data.digits")


def test_plumbing_is_in_no_phase_and_every_entry_in_its_own():
    for phase, entries in ENTRIES.items():
        modules = set(phase_modules(phase))
        assert set(entries) <= modules, phase
        assert not modules & PLUMBING, phase
    data = ("base", "digits", "glyphs", "prepare", "torchvision_sets")
    assert phase_modules("prepare") == (
        "poolstudy.data",
        *(f"poolstudy.data.{m}" for m in data),
        "poolstudy.prepared",
    )


PHASE_IMPORTS = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "poolstudy")))
"""


@pytest.mark.parametrize("phase", sorted(ENTRIES))
def test_every_module_a_phases_entries_load_is_code_of_the_phase(phase):
    """What Python loads when the phase's modules are imported (a package's __init__ too),
    less the plumbing, the phase holds: an edit to any of it reruns the phase."""
    import json
    import subprocess
    import sys

    def loaded(modules) -> set[str]:
        command = [sys.executable, "-c", PHASE_IMPORTS, *modules]
        return set(json.loads(subprocess.run(command, capture_output=True, check=True).stdout))

    # what the plumbing loads (the config's validation imports plan) is its own business
    plumbing = loaded(sorted(PLUMBING))
    assert loaded(ENTRIES[phase]) - plumbing - set(phase_modules(phase)) == set()


def test_phase_code_names_the_files_under_the_given_folder(tmp_path):
    package = tmp_path / "poolstudy"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from poolstudy.sub.leaf import f\n")
    (package / "sub" / "leaf.py").write_text("import os\n\ndef f():\n    import poolstudy.far\n")
    (package / "far.py").write_text("from poolstudy import atomic, near as n\n")
    (package / "near.py").write_text("x = 1\n")
    (package / "atomic.py").write_text("from poolstudy import never\n")
    (package / "figures.py").write_text("from poolstudy import sub\nfrom . import never\n")
    # the package itself is a module (plumbing: its __init__), a name from a module is not
    assert imported_modules(package / "far.py", package) == {
        "poolstudy",
        "poolstudy.atomic",
        "poolstudy.near",
    }
    assert phase_modules("figures", package) == (
        "poolstudy.far",
        "poolstudy.figures",
        "poolstudy.near",
        "poolstudy.sub",
        "poolstudy.sub.leaf",
    )
    assert phase_code("figures", package) == sorted(
        (package / name).as_posix()
        for name in ("far.py", "figures.py", "near.py", "sub/__init__.py", "sub/leaf.py")
    )
    # a file that does not parse is named in the error
    broken = package / "broken.py"
    broken.write_text("def f(:\n")
    with pytest.raises(SyntaxError) as error:
        imported_modules(broken, package)
    assert error.value.filename == str(broken)
    relative = phase_code("figures", Path("src/poolstudy"))
    assert relative[0].startswith("src/poolstudy/") and "src/poolstudy/figures/style.py" in relative


def test_an_unknown_phase_or_a_missing_entry_is_refused(tmp_path):
    with pytest.raises(KeyError, match="unknown phase 'plot'; phases: prepare, train"):
        phase_modules("plot")
    (tmp_path / "poolstudy").mkdir()
    with pytest.raises(ValueError, match="poolstudy.figures is not a module of"):
        phase_modules("figures", tmp_path / "poolstudy")


DVC_STAGE_PHASES = {
    "data": "prepare",
    "models": "train",
    "evaluations": "evaluate",
    "tables": "analyze",
    "figures": "figures",
    "paper": "paper_inputs",
}
"""Each stage of dvc.yaml and the phase (``poolstudy.phases``) whose Snakemake rule it runs."""


WORKFLOW_CODE = [
    "src/poolstudy/config.py",
    "src/poolstudy/jobs.py",
    "src/poolstudy/plan.py",
    "src/poolstudy/phases.py",
]
"""The library modules the workflow itself runs to plan every stage's jobs (the Snakefile's
validation, ``workflow/rules/common.smk``'s runs, settings and code inputs): a stage that
did not depend on them would keep its outputs in ``dvc.lock`` while Snakemake, run by a
later stage, remade them."""


def test_each_dvc_stage_depends_on_exactly_the_code_its_phase_runs():
    """The library files among a stage's ``deps`` (a folder stands for the files in it) are
    those the phase's rule takes as code inputs and those the workflow runs to plan its jobs
    (``WORKFLOW_CODE``): every one of them, and no other."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert set(DVC_STAGE_PHASES) <= set(stages)
    for stage, phase in DVC_STAGE_PHASES.items():
        deps = [dep for dep in stages[stage]["deps"] if dep.startswith("src/")]
        code = [
            Path(path).relative_to(REPO).as_posix()
            for path in phase_code(phase, REPO / "src" / "poolstudy")
        ]
        code = [*code, *(path for path in WORKFLOW_CODE if path not in code)]

        def covers(dep, path):
            return path == dep or path.startswith(dep + "/")

        assert [p for p in code if not any(covers(d, p) for d in deps)] == [], stage
        # a folder stands for every module in it: each must be code of the phase
        named = [p.relative_to(REPO).as_posix() for d in deps for p in (REPO / d).rglob("*.py")]
        assert [p for p in named if p not in code] == [], stage
        assert [d for d in deps if not any(covers(d, p) for p in code)] == [], stage


def test_the_phases_a_phase_reads_are_found_in_the_same_sources(tmp_path):
    """The paper reads the code of the recorded phases (``READS``): in the sources given, not
    the installed package's."""
    import shutil

    package = Path(shutil.copytree(REPO / "src" / "poolstudy", tmp_path / "poolstudy"))
    (package / "extra.py").write_text("x = 1\n")
    with (package / "train.py").open("a") as handle:
        handle.write("\nimport poolstudy.extra\n")
    assert "poolstudy.extra" in phase_modules("paper_inputs", package)
    assert "poolstudy.extra" not in phase_modules("paper_inputs")
    assert "poolstudy.extra" not in phase_modules("figures", package)
