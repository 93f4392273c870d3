"""The project's own checks: ruff on the code and Snakemake's linter on the workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_project, local_rules, tool_env

REPO = Path(__file__).resolve().parents[1]
TINY = "tests/data/tiny.yaml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; run `make setup`")
    return path


def workflow_rules() -> set[str]:
    """Every rule of the workflow, as `snakemake --list-rules` names them for the tiny config
    (which has a sweep, so every seed group's rules)."""
    result = subprocess.run(
        [tool("snakemake"), "--list-rules", "--configfile", TINY, "--replace-workflow-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return set(result.stdout.split())


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
    rules = workflow_rules()
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


# --- dvc.yaml against the Snakemake rules ----------------------------------------------------

PLANNED_JOBS = r"""
import json, sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings, StorageSettings,
)

repo, out, *configs = sys.argv[1:]
studies = []
for config in configs:
    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(
                configfiles=[Path(config)], replace_workflow_config=True
            ),
            storage_settings=StorageSettings(),
            snakefile=Path(repo) / "Snakefile",
            workdir=Path(repo),
        )
        workflow_api.dag(DAGSettings(forceall=True))
        # what a dry run builds, without its printing: Snakemake's own DAG of the study
        workflow = workflow_api._workflow
        workflow._prepare_dag(
            forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True
        )
        workflow._build_dag()
        studies.append([
            {
                "rule": job.rule.name,
                "output": sorted(map(str, job.output)),
                "input": sorted(map(str, job.input)),
                "params": {name: str(value) for name, value in job.params.items()},
                "shell": str(job.shellcmd or ""),
            }
            for job in workflow.dag.jobs
        ])
Path(out).write_text(json.dumps(studies))
"""
"""Every job Snakemake plans for each config file given (all of them, as with --forceall), with
what decides whether it reruns: its inputs, outputs, params and command. In one process: the
workflow's imports (torch among them) are paid once, not once per config."""


def planned_jobs(configs: list[dict], tmp_path: Path) -> list[list[dict]]:
    import yaml

    paths = []
    for index, config in enumerate(configs):
        path = tmp_path / f"study{index}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        paths.append(str(path))
    out = tmp_path / "jobs.json"
    result = subprocess.run(
        [sys.executable, "-c", PLANNED_JOBS, str(REPO), str(out), *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    import json

    return json.loads(out.read_text())


def dvc_stages() -> dict:
    import yaml

    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_every_dvc_output_is_kept_by_dvc_or_by_git():
    """An output that DVC does not cache (``cache: false``) is versioned by git, so git must
    not ignore it: else a clone and ``dvc pull`` lack it and DVC reruns its stage."""
    import subprocess

    outputs = [
        out
        for stage in dvc_stages().values()
        for kind in ("outs", "metrics", "plots")
        for out in stage.get(kind, [])
    ]
    assert outputs
    for out in outputs:
        if isinstance(out, dict):
            [(path, options)] = out.items()
            if options.get("cache", True) is False:
                ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
                assert ignored.returncode == 1, f"{path}: cache: false, but git ignores it"


def stage_params(stage: dict) -> list[str] | None:
    """The keys of config/config.yaml a stage names as params; None where it tracks the whole
    file (DVC: a params file with no keys)."""
    [entry] = stage["params"]
    [(path, keys)] = entry.items()
    assert path == "config/config.yaml"
    return None if keys is None else list(keys)


def jobs_by_stage(jobs: list[dict]) -> dict[str, list[str]]:
    """The jobs whose outputs lie in each stage's outs (a job's identity: its inputs, outputs,
    params and command)."""
    import json

    outs = {
        name: [
            out if isinstance(out, str) else next(iter(out))
            for kind in ("outs", "metrics", "plots")
            for out in stage.get(kind, [])
        ]
        for name, stage in dvc_stages().items()
    }

    def under(path, folder):
        return path == folder or path.startswith(folder + "/")

    return {
        name: sorted(
            json.dumps(job, sort_keys=True)
            for job in jobs
            if any(under(path, folder) for path in job["output"] for folder in folders)
        )
        for name, folders in outs.items()
    }


def with_setting(config: dict, dotted: str, value) -> dict:
    """A copy of ``config`` with the key ``dotted`` set to ``value`` (or ``value(old)``)."""
    import copy

    config = copy.deepcopy(config)
    *parents, key = dotted.split(".")
    node = config
    for parent in parents:
        node = node[parent]
    node[key] = value(node.get(key)) if callable(value) else value
    return config


# One change of each kind a study makes, each to one key: the tiny study (its placement condition
# kept to digits, so that glyphs can be added) and the default one (where a condition's own
# datasets decide which datasets are prepared).
CONFIG_CHANGES = [
    ("tiny", "experiment", "renamed"),
    ("tiny", "datasets", ["digits", "glyphs"]),
    ("tiny", "datasets", ["glyphs", "digits"]),  # the primary dataset
    ("tiny", "operators", ["none", "max", "avg"]),
    ("tiny", "seeds", [0, 1, 2]),
    ("tiny", "conditions", lambda old: {"first": {}, **old}),  # the primary condition
    ("tiny", "conditions.gap.train", {"epochs": 3}),
    ("tiny", "conditions.gap.evaluate", {"max_shift": 2}),
    ("default", "conditions.gap.datasets", ["glyphs"]),
    ("tiny", "sweep", None),
    ("tiny", "sweep.n_train", [64, 128]),
    ("tiny", "sweep.steps", 7),
    ("tiny", "sweep.gap_threshold", 2.0),
    ("tiny", "sweep.fit_floor", 90),
    ("tiny", "data.split", {"seed": 1}),
    ("tiny", "data.options", {"digits": {"size": 10, "canvas": 16}}),
    ("tiny", "model.widths", [4, 4]),
    ("tiny", "train.epochs", 3),
    ("tiny", "train.n_train", 128),
    ("tiny", "evaluate.max_shift", 2),
    ("tiny", "placement", {"step": 4}),
    ("tiny", "primary.margin", 2.0),
    ("tiny", "primary.gap_threshold", 2.0),
    ("tiny", "primary.recorded", []),
    ("tiny", "stats.confidence", 0.9),
    ("tiny", "stats.bootstrap_samples", 300),
]


def test_each_dvc_stage_tracks_every_config_key_its_rules_read(tmp_path):
    """`dvc repro` reruns a stage only when its params or deps change; Snakemake reruns a job
    when its inputs, outputs, params or command do. So each change of the config that changes
    a job of a stage's rules (as Snakemake plans them) must change one of the stage's params:
    a key it names (or one above it), or any key where it tracks the whole config. Derived
    from the rules as they are, not a list of what they read: every top-level key of the
    schema is changed at least once."""
    import yaml

    from poolstudy.config import load_schema

    tiny = yaml.safe_load((REPO / TINY).read_text())
    tiny["conditions"]["placed"]["datasets"] = ["digits"]
    bases = {"tiny": tiny, "default": yaml.safe_load((REPO / "config/config.yaml").read_text())}
    assert {key.split(".")[0] for _, key, _ in CONFIG_CHANGES} == set(load_schema()["properties"])
    names = list(bases)
    changed = [with_setting(bases[base], key, value) for base, key, value in CONFIG_CHANGES]
    studies = planned_jobs([bases[name] for name in names] + changed, tmp_path)
    before = dict(zip(names, map(jobs_by_stage, studies[: len(names)]), strict=True))
    stages = dvc_stages()
    missing = []
    for (base, key, _), jobs in zip(CONFIG_CHANGES, studies[len(names) :], strict=True):
        after = jobs_by_stage(jobs)
        rerun = [stage for stage in stages if after[stage] != before[base][stage]]
        assert rerun, f"changing {key} changes no job: a change that tests nothing"
        for stage in rerun:
            params = stage_params(stages[stage])
            if params is not None and not any(
                key == param or key.startswith(param + ".") for param in params
            ):
                missing.append(f"{stage}: {key}")
    assert missing == [], "Snakemake reruns these stages' jobs, DVC would skip them"


def test_settings_a_network_does_not_read_retrain_none_of_it(tmp_path):
    """Snakemake reruns a job whose params change: a training or evaluation job takes only
    its own operator's options and, of a placement that is off, only that it is off, so
    editing another operator's options or the grid of an unused placement changes none of
    the default study's training or evaluation jobs."""
    import yaml

    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    assert "fracmax" not in base["operators"] and base["placement"]["canvas"] is None
    changes = [
        with_setting(base, "model.operator_options", {"fracmax": {"test_draws": 8}}),
        with_setting(base, "placement", {"canvas": None, "region": "centre", "step": 4}),
    ]
    studies = planned_jobs([base, *changes], tmp_path)

    def runs(jobs):
        return sorted(
            json.dumps(job, sort_keys=True)
            for job in jobs
            if job["rule"].startswith(("train_", "evaluate_"))
        )

    assert runs(studies[0])  # the study trains and evaluates
    for changed in studies[1:]:
        assert runs(changed) == runs(studies[0])


def test_a_raw_folder_with_a_space_reaches_prepare_as_one_argument(tmp_path):
    """And only the prepare job of a dataset that downloads takes it."""
    import shlex

    import yaml

    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    study = with_setting(base, "data.raw_dir", "data/raw files")
    study = with_setting(study, "datasets", lambda old: [*old, "mnist"])
    [jobs] = planned_jobs(
        [with_setting(study, "conditions.real", {"datasets": ["mnist"]})], tmp_path
    )
    prepares = {
        Path(job["output"][0]).stem: shlex.split(job["shell"])
        for job in jobs
        if job["rule"] == "prepare"
    }
    assert set(prepares) == {"glyphs", "digits", "mnist"}
    words = prepares.pop("mnist")
    assert words[words.index("--raw-dir") + 1] == "data/raw files"
    for words in prepares.values():
        assert "--raw-dir" not in words and "--mirror" not in words


@pytest.mark.child
def test_a_copy_of_the_project_plans_and_runs_with_its_own_library(tmp_path):
    """An editable install points at one checkout, while `dvc exp run --temp` and `--queue`
    run the pipeline in copies: the Snakefile puts the copy's ``src`` first, for its own
    imports and (through PYTHONPATH) for its jobs', whatever the environment installed."""
    project = copy_project(tmp_path / "copy")
    package = project / "src" / "poolstudy"
    ran, planned = tmp_path / "ran.txt", tmp_path / "planned.txt"

    def mark(marker: Path, process: str) -> str:  # which file ran, under which PYTHONPATH
        return (
            f"\nimport os, pathlib, sys\nif {process!r} in sys.modules:\n"
            f"    pathlib.Path({str(marker)!r}).write_text("
            "__file__ + ' ' + os.environ['PYTHONPATH'])\n"
        )

    main, plan = package / "__main__.py", package / "plan.py"
    # the job's own Python; Snakemake's process (a job imports plan.py too)
    main.write_text(mark(ran, "poolstudy") + main.read_text())  # first: it ends in exit
    plan.write_text(plan.read_text() + mark(planned, "snakemake"))  # after __future__
    env = {**tool_env(), "PYTHONPATH": str(tmp_path / "elsewhere")}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "data/prepared/digits.pt"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    search = f"{project / 'src'}{os.pathsep}{tmp_path / 'elsewhere'}"
    assert ran.read_text() == f"{main} {search}"
    assert planned.read_text() == f"{plan} {search}"


def test_every_dvc_stage_depends_on_the_schema_and_the_common_rules():
    """The schema's defaults and workflow/rules/common.smk's functions reach every stage's
    jobs (their params, their list of runs)."""
    for name, stage in dvc_stages().items():
        deps = stage["deps"]
        assert "workflow/schemas/config.schema.yaml" in deps, name
        assert "workflow/rules/common.smk" in deps, name


def test_dvc_params_are_keys_every_valid_config_has():
    """DVC stops with MissingParamsError (after running the stage) on a named param that the
    config lacks: a stage names only top-level keys the schema requires, so that a config that
    passes `check-config` and Snakemake passes DVC too; a stage that reads an optional key
    (`primary`) tracks the whole file."""
    from poolstudy.config import load_schema

    required = set(load_schema()["required"])
    for name, stage in dvc_stages().items():
        params = stage_params(stage)
        if params is not None:
            assert set(params) <= required, (name, sorted(set(params) - required))


def dvc_exp_overrides(text: str) -> list[str]:
    """The ``-S`` overrides of each `dvc exp run` command in ``text`` (its rest of the line)."""
    import re
    import shlex

    overrides = []
    for line in re.findall(r"dvc exp run([^`\n]*)", text):
        words = shlex.split(line.split(" #")[0])
        overrides += [words[i + 1] for i, word in enumerate(words) if word == "-S"]
    return overrides


def test_the_docs_dvc_exp_run_examples_change_the_study(tmp_path):
    """Each `dvc exp run -S` example of README.md and config/README.md, applied by DVC's own
    code to config/config.yaml, changes a job Snakemake plans: a condition's own settings
    override the top-level ones, so an example at the top level can change no run."""
    import shutil

    import yaml
    from dvc.utils.hydra import apply_overrides

    overrides = dvc_exp_overrides((REPO / "README.md").read_text())
    overrides += dvc_exp_overrides((REPO / "config" / "README.md").read_text())
    assert len(overrides) >= 3, overrides
    configs = [yaml.safe_load((REPO / "config" / "config.yaml").read_text())]
    for index, override in enumerate(overrides):
        path, _, setting = override.partition(":")
        assert path == "config/config.yaml", override
        copy = shutil.copy(REPO / path, tmp_path / f"override{index}.yaml")
        apply_overrides(copy, [setting])
        configs.append(yaml.safe_load(Path(copy).read_text()))
    base, *studies = map(what_runs, planned_jobs(configs, tmp_path))
    unchanged = [o for o, jobs in zip(overrides, studies, strict=True) if jobs == base]
    assert unchanged == [], "these examples change no job"


def what_runs(jobs: list[dict]) -> list[str]:
    """The jobs, less the config's SHA-256 (the paper's provenance footer): a change that moves
    only that changes nothing the study computes."""
    import json
    import re

    return sorted(
        re.sub(r'config_sha256[\\"]*: *[\\"]*[0-9a-f]{64}', "config_sha256", json.dumps(job))
        for job in jobs
    )


def test_the_snakemake_floor_has_the_flags_the_docs_use():
    """--replace-workflow-config (README, Makefile) is new in Snakemake 9.0: the Snakefile's
    min_version and pyproject.toml's requirement say so, and the same version."""
    import re

    snakefile = (REPO / "Snakefile").read_text()
    [floor] = re.findall(r'min_version\("([\d.]+)"\)', snakefile)
    [required] = re.findall(r'"snakemake>=([\d.]+)"', (REPO / "pyproject.toml").read_text())
    assert floor == required
    docs = (REPO / "README.md").read_text() + (REPO / "Makefile").read_text()
    if "--replace-workflow-config" in docs:
        assert tuple(map(int, floor.split("."))) >= (9, 0)


def test_the_rules_that_need_tex_or_run_briefly_stay_off_the_cluster():
    """The paper needs TeX, which `make setup` installs only where it ran (the login node of a
    cluster): it is a local rule, as are the short steps before it; the rules the SLURM profile
    sizes for compute nodes (training, evaluation) are not."""
    import yaml

    assert (REPO / "Snakefile").read_text().count("\nlocalrules:") == 1  # one directive
    local = local_rules()
    assert {"paper", "paper_inputs", "figures", "analyze"} <= local
    assert local <= workflow_rules()
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
    assert not local & set(profile["set-resources"])
