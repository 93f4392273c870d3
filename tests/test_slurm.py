"""The SLURM profile on a real SLURM: a single-node cluster from Debian's packages (started
here as root, stopped at the end) runs the small study through
`snakemake --workflow-profile workflow/profiles/slurm`; SLURM's own records show that every
job but those of the Snakefile's `localrules` went through `sbatch`, and the tables equal those
of a local run.

Needs root and Debian's slurm-wlm and munge (installed with apt-get when missing); reported
as skipped elsewhere. `pytest -m "not slurm"` leaves it out.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import local_rules, run
from slurm_cluster import PARTITION, LocalSlurm, conf_in_the_way, install, missing_requirement
from small_study import small_config, small_local_run, small_project  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slurm, pytest.mark.e2e]

PROFILE = Path("workflow") / "profiles" / "slurm"
# Memory (MB) of the jobs on the test's node: training and evaluation, and the others.
GPU_JOB_MB, JOB_MB = 2000, 1000
# Columns that measure the run rather than its results (time taken, where it ran).
RUN_COLUMNS = re.compile(r"seconds|wall|time|host|device|date|version", re.IGNORECASE)


@pytest.fixture(scope="session")  # before the local run it is compared with: skip first
def slurm(tmp_path_factory):
    reason = missing_requirement()
    if reason is None:
        reason = install()
        if reason is not None and os.environ.get("CI"):
            pytest.fail(f"SLURM could not be installed on the CI machine: {reason}")
    reason = reason or conf_in_the_way()
    if reason is not None:
        pytest.skip(f"no local SLURM: {reason}")
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def set_site(project: Path) -> None:
    """What a user edits for their site, and nothing else: the site settings at the top of the
    profile (partitions, job sizes for this node, status from squeue: no accounting here)."""
    path = project / PROFILE / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    profile["default-resources"]["slurm_partition"] = PARTITION
    profile["default-resources"]["mem_mb"] = JOB_MB
    for rule, resources in profile["set-resources"].items():
        profile["set-resources"][rule] = {
            **resources,
            "slurm_partition": PARTITION,
            "mem_mb": GPU_JOB_MB,
        }
    profile["set-threads"] = dict.fromkeys(profile["set-threads"], 1)
    profile["slurm-status-command"] = "squeue"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))


@contextmanager
def slurm_environment(cluster: LocalSlurm):
    """The cluster's variables (SLURM_CONF for sbatch/squeue/srun) in this process's
    environment, which run() passes on; the environment as it was afterwards."""
    before = dict(os.environ)
    os.environ.update(cluster.env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


def planned_jobs(project: Path) -> Counter:
    """Jobs per rule that a dry run plans (the target rule `all` runs no command)."""
    output = run(["snakemake", "--cores", "1", "--dry-run"], cwd=project).stdout
    table = output.split("Job stats:")[1].split("total")[0]
    counts = Counter()
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "all":
            counts[parts[0]] = int(parts[1])
    return counts


def slurm_jobs(cluster: LocalSlurm) -> list[dict[str, str]]:
    """Every job slurmctld knows (finished ones for MinJobAge), with the comment the plugin
    gives each (``rule_<name>_wildcards_...``)."""
    result = cluster.run("squeue", "--states=all", "--noheader", "--format=%i|%j|%k|%T|%P|%Z")
    assert result.returncode == 0, result.stderr
    keys = ("id", "name", "comment", "state", "partition", "workdir")
    return [dict(zip(keys, line.split("|"), strict=True)) for line in result.stdout.splitlines()]


def read_tables(project: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for path in sorted((project / "results" / "tables").glob("*.csv")):
        frame = pd.read_csv(path)
        tables[path.stem] = frame.drop(columns=[c for c in frame if RUN_COLUMNS.search(c)])
    return tables


def test_the_slurm_profile_runs_the_study_through_sbatch(slurm, small_local_run, tmp_path):  # noqa: F811
    started = time.monotonic()
    # the node in slurm.conf has this machine's real memory
    total_mb = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    assert 0.9 * total_mb <= slurm.real_memory_mb <= total_mb
    assert f"RealMemory={slurm.real_memory_mb}" in slurm.run("scontrol", "show", "node").stdout
    project = small_project(tmp_path / "cluster")
    set_site(project)
    planned = planned_jobs(project)
    assert {"prepare", "train_main", "evaluate_main", "analyze", "paper"} <= set(planned)

    with slurm_environment(slurm):
        result = run(
            [
                "snakemake",
                "--workflow-profile",
                str(PROFILE),
                # The first status check about when a job of the small study ends (each takes
                # about 20 s: a Snakemake job step, then the rule). The plugin adds 10 s to
                # the wait after every check that finds no job finished, so a shorter first
                # wait costs more than it saves: 2 s made each level of the DAG take 36 s.
                "--slurm-init-seconds-before-status-checks",
                "25",
            ],
            cwd=project,
            check=False,
        )
        jobs = slurm_jobs(slurm)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:] + "\n" + slurm.logs()
    assert (project / "paper" / "build" / "paper.pdf").read_bytes()[:5] == b"%PDF-"

    # SLURM's records: one sbatch job per planned job (but the local rules', which run here),
    # each of its rule, all completed, in the partition the site settings name, in the
    # project's folder
    rules = {j["id"]: re.match(r"rule_(\w+?)(_wildcards_|$)", j["comment"]).group(1) for j in jobs}
    local = local_rules(project)
    assert "paper" in local  # TeX is installed where `make setup` ran, not on the nodes
    sent = Counter({rule: count for rule, count in planned.items() if rule not in local})
    assert Counter(rules.values()) == sent, (rules, planned, output[-3000:])
    assert {j["state"] for j in jobs} == {"COMPLETED"}
    assert {j["partition"] for j in jobs} == {PARTITION}
    assert {Path(j["workdir"]).resolve() for j in jobs} == {project.resolve()}
    submitted = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    assert submitted == {j["id"] for j in jobs}
    # and the job completion log slurmctld writes as each job ends
    completed = {j["JobId"]: j for j in slurm.completed_jobs()}
    assert submitted <= set(completed)
    assert {completed[i]["JobState"] for i in submitted} == {"COMPLETED"}
    # with the memory the profile gives each rule (training and evaluation: set-resources)
    for job_id, rule in rules.items():
        mem = GPU_JOB_MB if rule.startswith(("train_", "evaluate_")) else JOB_MB
        assert f"mem={mem}M" in completed[job_id]["Tres"], (rule, completed[job_id])
    cluster_seconds = time.monotonic() - started

    # the same study run locally gives the same tables
    ours, theirs = read_tables(project), read_tables(small_local_run)
    assert ours.keys() == theirs.keys() and "summary" in ours
    for name in ours:
        pd.testing.assert_frame_equal(ours[name], theirs[name], obj=name)
    print(f"SLURM run: {len(jobs)} jobs in {cluster_seconds:.0f} s")


def test_a_study_with_devices_left_to_auto_is_refused_before_any_job_is_sent(slurm, tmp_path):
    """On a cluster `auto` would be decided by the GPUs of the host that submits the jobs, not
    of the nodes that run them: the run stops before anything reaches SLURM."""
    config = small_config()
    config["train"]["device"] = "auto"
    project = small_project(tmp_path / "auto", config)
    set_site(project)
    with slurm_environment(slurm):
        before = slurm_jobs(slurm)
        result = run(["snakemake", "--workflow-profile", str(PROFILE)], cwd=project, check=False)
        after = slurm_jobs(slurm)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "train.device (condition gap) is auto: on a cluster the host that submits the jobs "
        "cannot tell whether the nodes that run them have a GPU" in output
    ), output[-3000:]
    assert after == before and not (project / "data" / "prepared").exists()
