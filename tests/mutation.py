"""Mutation testing of the modules that produce results: ``make mutation`` (not part of CI).

mutmut 3 (``[tool.mutmut]`` in pyproject.toml) changes one thing at a time in a module (an
operator, a constant, a call dropped) and runs the tests of that module only, the ones
listed in ``GROUPS``; a mutant that no test notices "survives". Each group runs in its own
copy of the project under ``--workdir`` (default: ``$TMPDIR/poolstudy-mutation``), so the
checkout is left alone and a rerun only tests the functions that changed since.

A surviving mutant gets a test that kills it, or a line in ``tests/mutation_survivors.txt``
(``<mutant name>: <why no test can or should notice it>``), reviewed like code. The run
prints the killed share per group and every survivor without such a line, and fails when
there is one.

    python tests/mutation.py                 # every group (hours on 2 cores)
    python tests/mutation.py metrics stats   # some groups
    python tests/mutation.py --report        # the last results, without running
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SURVIVORS = REPO / "tests" / "mutation_survivors.txt"

# group -> (the modules it mutates, the tests of those modules); test files that do not
# exist (yet) are left out
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "metrics": (["src/poolstudy/metrics.py"], ["tests/test_metrics.py"]),
    "stats": (["src/poolstudy/stats.py"], ["tests/test_stats.py", "tests/test_contrasts.py"]),
    "atomic": (["src/poolstudy/atomic.py"], ["tests/test_atomic.py", "tests/test_faults.py"]),
    "evaluate": (
        ["src/poolstudy/evaluate.py"],
        ["tests/test_metrics.py", "tests/test_placement.py"],
    ),
    "analyze": (["src/poolstudy/analyze.py"], ["tests/test_analyze.py"]),
    "paper": (
        [
            "src/poolstudy/paper/numbers.py",
            "src/poolstudy/paper/claims.py",
            "src/poolstudy/paper/contrasts.py",
            "src/poolstudy/paper/conditions.py",
        ],
        ["tests/test_paper.py", "tests/test_contrasts.py"],
    ),
    "paper_inputs": (["src/poolstudy/paper/__init__.py"], ["tests/test_paper.py"]),
    "tables": (
        [
            "src/poolstudy/paper/format.py",
            "src/poolstudy/paper/tables.py",
            "src/poolstudy/paper/recorded.py",
            "src/poolstudy/paper/provenance.py",
        ],
        [
            "tests/test_paper_tables.py",
            "tests/test_paper.py",
            "tests/test_record.py",
            "tests/test_contrasts.py",
        ],
    ),
    "train": (
        ["src/poolstudy/train.py", "src/poolstudy/checkpoint.py", "src/poolstudy/run_files.py"],
        [
            "tests/test_train.py",
            "tests/test_placement.py",
            "tests/test_engine.py",
            "tests/test_device_check.py",
            "tests/test_faults.py",
        ],
    ),
    "pooling": (
        ["src/poolstudy/pooling.py", "src/poolstudy/maxima.py"],
        [
            "tests/test_pooling.py",
            "tests/test_operators.py",
            "tests/test_controls.py",
            "tests/test_models.py",
        ],
    ),
    "models": (
        ["src/poolstudy/models.py"],
        [
            "tests/test_models.py",
            "tests/test_controls.py",
            "tests/test_operators.py",
            "tests/test_pooling.py",
        ],
    ),
    "shifts": (
        ["src/poolstudy/shifts.py", "src/poolstudy/translate.py"],
        [
            "tests/test_shifts.py",
            "tests/test_metrics.py",
            "tests/test_operators.py",
        ],
    ),
    "inference": (
        ["src/poolstudy/inference.py"],
        [
            "tests/test_inference.py",
            "tests/test_train.py",
            "tests/test_metrics.py",
            "tests/test_engine.py",
            "tests/test_device_check.py",
        ],
    ),
    "placement": (["src/poolstudy/placement.py"], ["tests/test_placement.py"]),
    "optim": (["src/poolstudy/optim.py"], ["tests/test_optim.py"]),
    "plan": (
        ["src/poolstudy/plan.py"],
        [
            "tests/test_plan.py",
            "tests/test_contrasts.py",
            "tests/test_bad_configs.py",
            "tests/test_engine.py",
            "tests/test_device_check.py",
        ],
    ),
    "equivalence": (
        ["src/poolstudy/equivalence.py"],
        ["tests/test_equivalence.py", "tests/test_contrasts.py", "tests/test_figures.py"],
    ),
    "record": (["src/poolstudy/record.py"], ["tests/test_record.py"]),
    "table_files": (["src/poolstudy/table_files.py"], ["tests/test_table_files.py"]),
    "phases": (["src/poolstudy/phases.py"], ["tests/test_phases.py"]),
    "jobs": (["src/poolstudy/jobs.py"], ["tests/test_jobs.py"]),
    # the figures' shared logic and registry; the drawing functions' mutants (answer, regime,
    # shift: some 1,500) are mostly sizes, colours and type sizes that no test should pin
    "figures": (
        ["src/poolstudy/figures/__init__.py", "src/poolstudy/figures/style.py"],
        ["tests/test_figures.py", "tests/test_record.py"],
    ),
    "estimate": (
        [
            "src/poolstudy/estimate/cost.py",
            "src/poolstudy/estimate/rates.py",
            "src/poolstudy/estimate/calibrate.py",
            "src/poolstudy/estimate/gpu_check.py",
            "src/poolstudy/estimate/report.py",
        ],
        ["tests/test_estimate.py"],
    ),
    "device": (
        ["src/poolstudy/device.py"],
        ["tests/test_engine.py", "tests/test_device_check.py", "tests/test_config.py"],
    ),
    "checks": (
        ["src/poolstudy/config.py", "src/poolstudy/checks.py"],
        ["tests/test_config.py", "tests/test_bad_configs.py", "tests/test_plan.py"],
    ),
    "data": (
        ["src/poolstudy/data/*.py", "src/poolstudy/prepared.py"],
        [
            "tests/test_data_digits.py",
            "tests/test_data_glyphs.py",
            "tests/test_data_torchvision.py",
        ],
    ),
}
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
ESCAPED = {"survived", "no tests", "suspicious"}  # results mutmut keeps until the code changes
# what a copy of the project leaves out: outputs at the top, caches anywhere
OUTPUTS = {".git", ".venv", ".snakemake", ".dvc", ".dvc-remote", "data", "models", "results"}
OUTPUTS |= {"logs", "benchmarks", "mutants", "dvc_plots"}
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def skipped(folder: str, names: list[str]) -> list[str]:
    top = Path(folder) == REPO
    return [name for name in names if name in CACHES or (top and name in OUTPUTS)]


def group_config(group: str) -> str:
    """The lines that turn the project's ``[tool.mutmut]`` into this group's."""
    modules, tests = GROUPS[group]
    tests = [test for test in tests if (REPO / test).is_file()]
    return (
        f"only_mutate = {json.dumps(modules)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
    )


def prepare(group: str, workdir: Path) -> Path:
    """A copy of the project for ``group`` (updated in place when it exists, so mutmut keeps
    the results of functions that did not change)."""
    folder = workdir / group
    shutil.copytree(REPO, folder, ignore=skipped, dirs_exist_ok=True)
    pyproject = (REPO / "pyproject.toml").read_text()
    if "[tool.mutmut]\n" not in pyproject:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table")
    pyproject = pyproject.replace("[tool.mutmut]\n", "[tool.mutmut]\n" + group_config(group))
    (folder / "pyproject.toml").write_text(pyproject)
    return folder


def statuses(folder: Path) -> dict[str, str]:
    """mutant name -> status (killed, survived, no tests, timeout, ...) of the last run, of
    the modules the project still has (the copy keeps a module moved or deleted since)."""
    from mutmut.stats import status_by_exit_code

    found = {}
    for meta in sorted((folder / "mutants").rglob("*.py.meta")):
        if not (REPO / meta.relative_to(folder / "mutants").with_suffix("")).is_file():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found.update({name: status_by_exit_code[code] for name, code in codes.items()})
    return found


def reviewed() -> dict[str, str]:
    """The reviewed survivors: mutant name -> the reason no test kills it."""
    entries = {}
    for line in SURVIVORS.read_text().splitlines() if SURVIVORS.exists() else []:
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, reason = line.partition(":")
            entries[name.strip()] = reason.strip()
    return entries


def run(group: str, folder: Path, max_children: int) -> None:
    """mutmut on one group, its tests mapped to the functions they run afresh; mutants that
    escaped an earlier run and that the code still has are tried again (mutmut keeps a result
    until the function changes, and the tests may have changed since; a change of code can
    take a mutant away, and mutmut refuses a name it does not know)."""
    # one thread per child: with one child per core, more threads only contend for the cores
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    escaped = [name for name, status in statuses(folder).items() if status in ESCAPED]
    # mutmut maps each test to the functions it runs once, when it first sees the test: a test
    # older than a function it reaches (or than a change that makes it reach one) would never
    # run against that function's mutants, which would escape. Mapped afresh every run.
    (folder / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)]
    print(f"== {group}: {' '.join(GROUPS[group][0])}", flush=True)
    subprocess.run(command, cwd=folder, env=env, check=True)
    known = statuses(folder)
    escaped = [name for name in escaped if name in known]
    if escaped:
        print(f"== {group}: {len(escaped)} mutants that escaped before, again", flush=True)
        subprocess.run([*command, *escaped], cwd=folder, env=env, check=True)


def module_of(mutant: str) -> str:
    """The module a mutant name belongs to: ``poolstudy.data.glyphs.x_render__mutmut_3`` ->
    ``poolstudy.data.glyphs`` (methods are written ``xǁClassǁmethod__mutmut_N``)."""
    return mutant.rsplit(".", 1)[0]


def row(label: str, names: list[str], found: dict[str, str], notes: dict[str, str]) -> str:
    """One line of the report for these mutants: how many, killed, reviewed survivors, score."""
    killed = sum(found[name] in DETECTED for name in names)
    excused = sum(found[name] not in DETECTED and name in notes for name in names)
    score = 100.0 * killed / len(names)
    return f"{label:22} {len(names):8d} {killed:7d} {excused:9d} {score:6.1f}%"


def report(groups: list[str], workdir: Path) -> int:
    """Print the killed share per group, the unreviewed survivors (1 if there are any) and
    the reviewed lines whose mutant no longer survives."""
    notes = reviewed()
    unreviewed, stale = [], []
    totals = [0, 0]
    print(f"{'group / module':22} {'mutants':>8} {'killed':>7} {'reviewed':>9} {'score':>7}")
    for group in groups:
        found = statuses(workdir / group)
        if not found:
            print(f"{group:22} (not run)")
            continue
        unreviewed += [
            (name, status)
            for name, status in found.items()
            if status not in DETECTED and name not in notes
        ]
        stale += stale_reviews(found, notes)
        totals[0] += len(found)
        totals[1] += sum(status in DETECTED for status in found.values())
        print(row(group, list(found), found, notes))
        modules = sorted({module_of(name) for name in found})
        for module in modules if len(modules) > 1 else []:
            mine = [name for name in found if module_of(name) == module]
            print(row("  " + module.removeprefix("poolstudy."), mine, found, notes))
    if totals[0]:
        score = 100.0 * totals[1] / totals[0]
        print(f"{'all':22} {totals[0]:8d} {totals[1]:7d} {'':9} {score:6.1f}%")
    for name, status in sorted(unreviewed):
        print(f"unreviewed {status}: {name}  (mutmut show {name}, in {workdir}/<group>)")
    for name, why in sorted(stale):
        print(f"stale review ({why}): {name}  (delete its line from {SURVIVORS.name})")
    return 1 if unreviewed else 0


def stale_reviews(found: dict[str, str], notes: dict[str, str]) -> list[tuple[str, str]]:
    """Reviewed lines of the modules in ``found`` whose mutant no longer survives: killed now,
    or gone (mutmut numbers a function's mutants afresh when it changes, so a stale line could
    one day excuse a different mutant of the same name without anyone reading it)."""
    modules = {module_of(name) for name in found}
    return [
        (name, "gone" if name not in found else "killed")
        for name in notes
        if module_of(name) in modules and (name not in found or found[name] in DETECTED)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("groups", nargs="*", help=f"some of: {', '.join(GROUPS)} (all)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "poolstudy-mutation"
    )
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--report", action="store_true", help="only report the last results")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    args = parser.parse_args(argv)
    groups = args.groups or list(GROUPS)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown groups {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    if args.fresh:
        for group in groups:
            shutil.rmtree(args.workdir / group / "mutants", ignore_errors=True)
    if not args.report:
        for group in groups:
            run(group, prepare(group, args.workdir), args.max_children)
    return report(groups, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
