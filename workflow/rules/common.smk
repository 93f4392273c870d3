import json
import os
import re
import shlex

from poolstudy.device import uses_cuda, visible_gpus
from poolstudy.figures import FIGURE_TABLES
from poolstudy.figures import FIGURES as FIGURE_REGISTRY
from poolstudy.paper import GENERATED as GENERATED_FILES
from poolstudy.phases import ENTRIES as PHASES
from poolstudy.phases import phase_code, prepare_job_code
from poolstudy.config import ConfigError
from poolstudy.config import config_digest as digest_of_config
from poolstudy.record import record_folders, record_inputs
from poolstudy.jobs import (
    cluster_device_problem,
    evaluation_settings,
    job_placement,
    raw_data_args,
    training_settings,
)
from poolstudy.plan import (
    condition_settings,
    datasets_used,
    paper_settings,
    planned_runs,
    primary_contrasts,
    primary_regime,
    seed_groups,
    sweep_points,
)

EXPERIMENT = config["experiment"]
DATASETS = config["datasets"]
OPERATORS = config["operators"]
SEEDS = config["seeds"]
CONDITIONS = list(config["conditions"])
RUNS = planned_runs(config)
SWEEP = sweep_points(config)
SEED_GROUPS = seed_groups(config)

# Jobs that run on a GPU take one unit of the `gpu` resource, so that a local run never
# starts more of them at once than there are GPUs. Without `--resources gpu=N` the count is
# what torch would see (CUDA_VISIBLE_DEVICES, else the driver's list); the SLURM profile
# gives its own, since there this host's GPUs are not where the jobs run.
GPUS = visible_gpus()
if GPUS and "gpu" not in workflow.global_resources:
    workflow.register_resource("gpu", GPUS)

PREPARED = "data/prepared/{dataset}.pt"
RUN_DIR = "models/{experiment}/{dataset}/{condition}/{operator}/{seed}"
EVAL = "results/eval/{experiment}/{dataset}/{condition}/{operator}/{seed}.csv"
# Per clean test image, 1 if classified correctly: the bootstrap over test images reads these.
CORRECT = "results/eval/{experiment}/{dataset}/{condition}/{operator}/{seed}.correct.npy"
TABLES = "results/tables"
TABLE_NAMES = [
    "observations",
    "summary",
    "paired",
    "shift_curves",
    "models",
    "sweep_observations",
    "sweep",
    "bootstrap",
    "placement",
    "sweep_plot",
    "accuracy_plot",
    "contrasts",
    "learning_curves",
    "regime",
]
# The tables the paper's generated LaTeX reads; the figures and the generated files are named
# by the code that makes them.
PAPER_TABLES = ["summary", "paired", "models", "sweep", "bootstrap", "contrasts", "regime"]
FIGURES = "results/figures"
FIGURE_NAMES = list(FIGURE_REGISTRY)
METRICS = "results/metrics.json"
GENERATED = "paper/generated"
GENERATED_NAMES = list(GENERATED_FILES)
PAPER_PDF = "paper/build/paper.pdf"
# Longer studies recorded for papers to quote (poolstudy.record): the ones this study names
RECORDS = "paper/recorded"
RECORDED = (config.get("primary") or {}).get("recorded") or []

# The library modules each phase runs, found from its imports (poolstudy.phases), as inputs:
# editing one reruns every phase that runs it and what follows (the `deps` of the stages in
# dvc.yaml name the same files; tests/test_phases.py holds them to it). A prepare job takes
# its phase's modules but the other datasets' sources (phases.prepare_job_code), not these.
CODE = {phase: phase_code(phase, "src/poolstudy") for phase in PHASES if phase != "prepare"}


def as_arg(value):
    """A config value as one shell-quoted JSON argument."""
    return shlex.quote(json.dumps(value, sort_keys=True))


def every_run(pattern):
    """``pattern`` filled in for every planned run: the main grid, then the sweep."""
    return [
        pattern.format(
            experiment=EXPERIMENT,
            dataset=run.dataset,
            condition=run.condition,
            operator=run.operator,
            seed=run.seed,
        )
        for run in RUNS
    ]


def one_of(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names)


def gpus_for(section):
    """The `gpu` resource of a job of ``section`` (train/evaluate): 1 where it runs on CUDA."""
    return lambda w: int(
        uses_cuda(condition_settings(config, w.condition)[section]["device"], GPUS)
    )


# Sent to a cluster (known only once the run starts, after this file is read), the jobs run
# on nodes this host cannot see, so a device of `auto` is refused before any job is submitted.
onstart:
    if workflow.non_local_exec and (problem := cluster_device_problem(config)):
        raise ConfigError(problem)


def cell_files(pattern, seeds):
    """One file of ``pattern`` per seed, the cell's other wildcards left open."""
    return expand(pattern, seed=seeds, allow_missing=True)


def evaluation_arg():
    """An evaluation job's view of config["evaluate"] (``jobs.evaluation_settings``: the
    protocols' settings leave a condition that evaluates none as it is) as a shell argument."""
    return lambda w: as_arg(evaluation_settings(config, w.condition))


def training_arg(section):
    """A training job's view of config[section] (``jobs.training_settings``: another
    operator's options or a placement that is off leave it as it is) as a shell argument."""
    return lambda w: as_arg(training_settings(config, w.condition, w.operator)[section])


def placement_arg():
    """The condition's placement as its evaluation jobs take it (``jobs.job_placement``)."""
    return lambda w: as_arg(job_placement(condition_settings(config, w.condition)["placement"]))


def figure_settings():
    """What the figures take from the config: the experiment (whose own record they do not
    draw), the primary dataset and condition, the conditions that differ only in width
    (``primary.compute``, else the primary condition), the sweep's gap threshold and the
    intervals' confidence level."""
    primary = config.get("primary") or {}
    condition = primary.get("condition") or CONDITIONS[0]
    return {
        "experiment": EXPERIMENT,
        "dataset": primary.get("dataset") or DATASETS[0],
        "condition": condition,
        "compute": primary.get("compute") or [condition],
        "gap_threshold": (config.get("sweep") or {}).get("gap_threshold"),
        "confidence": config["stats"]["confidence"],
    }


def config_digest():
    """SHA-256 of the validated config (keys sorted), for the paper's provenance footer."""
    return digest_of_config(config)


def paper_inputs_settings():
    """What the paper quotes from the config, the figures' settings and the provenance that
    only the workflow knows (the config's hash)."""
    return {
        **paper_settings(config),
        "figures": figure_settings(),
        "provenance": {"config_sha256": config_digest()},
    }
