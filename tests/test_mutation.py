"""The mutation run's report (tests/mutation.py): shares per group and module, and the
survivors nobody reviewed."""

from __future__ import annotations

import json

import mutation
import pytest

# mutmut 3's exit codes: 1 killed, 0 survived, 36 timeout, None not checked yet
PAPER = {
    "numbers": {
        "poolstudy.paper.numbers.x_rows__mutmut_1": 1,
        "poolstudy.paper.numbers.x_rows__mutmut_2": 1,
        "poolstudy.paper.numbers.x_rows__mutmut_3": 36,
        "poolstudy.paper.numbers.xǁTableǁcell__mutmut_1": 0,
    },
    "claims": {
        "poolstudy.paper.claims.x_verdict__mutmut_1": 1,
        "poolstudy.paper.claims.x_verdict__mutmut_2": 0,
    },
}


def write_results(workdir, group: str, modules: dict, package: str | None = None) -> None:
    """Results as mutmut leaves them, for modules of ``src/poolstudy/<package>`` (the group's
    name by default)."""
    folder = (
        workdir / group / "mutants" / "src" / "poolstudy" / (group if package is None else package)
    )
    folder.mkdir(parents=True)
    for module, codes in modules.items():
        meta = {"exit_code_by_key": codes, "hash_by_function_name": {}}
        (folder / f"{module}.py.meta").write_text(json.dumps(meta))


@pytest.fixture
def reviewed(tmp_path, monkeypatch):
    path = tmp_path / "survivors.txt"
    monkeypatch.setattr(mutation, "SURVIVORS", path)
    return path


def report_lines(capsys, groups, workdir) -> tuple[int, dict[str, list[str]]]:
    code = mutation.report(groups, workdir)
    lines = capsys.readouterr().out.splitlines()
    return code, {line.split()[0]: line.split()[1:] for line in lines}


def test_the_report_gives_each_group_and_module_its_killed_share(tmp_path, reviewed, capsys):
    reviewed.write_text(
        "# a comment: not a mutant\n"
        "poolstudy.paper.numbers.xǁTableǁcell__mutmut_1: equal for every input\n"
    )
    write_results(tmp_path, "paper", PAPER)
    code, rows = report_lines(capsys, ["paper", "stats"], tmp_path)
    # a timeout counts as killed; the reviewed survivor does not
    assert rows["paper"] == ["6", "4", "1", "66.7%"]
    assert rows["paper.numbers"] == ["4", "3", "1", "75.0%"]
    assert rows["paper.claims"] == ["2", "1", "0", "50.0%"]
    assert rows["stats"] == ["(not", "run)"]
    assert rows["all"] == ["6", "4", "66.7%"]
    assert rows["unreviewed"][:2] == ["survived:", "poolstudy.paper.claims.x_verdict__mutmut_2"]
    assert code == 1


def test_a_run_whose_every_survivor_is_reviewed_passes(tmp_path, reviewed, capsys):
    reviewed.write_text(
        "poolstudy.paper.numbers.xǁTableǁcell__mutmut_1: equal for every input\n"
        "  poolstudy.paper.claims.x_verdict__mutmut_2 : a default argument written out\n"
    )
    write_results(tmp_path, "paper", PAPER)
    code, rows = report_lines(capsys, ["paper"], tmp_path)
    assert code == 0 and "unreviewed" not in rows
    assert rows["paper"] == ["6", "4", "2", "66.7%"]


def test_a_mutant_not_yet_checked_is_neither_killed_nor_excused(tmp_path, reviewed, capsys):
    reviewed.write_text("")
    write_results(tmp_path, "train", {"train": {"poolstudy.train.x_step__mutmut_1": None}}, "")
    code, rows = report_lines(capsys, ["train"], tmp_path)
    # one module: no row of its own
    assert rows["train"] == ["1", "0", "0", "0.0%"] and "train.train" not in rows
    assert rows["unreviewed"][:3] == ["not", "checked:", "poolstudy.train.x_step__mutmut_1"]
    assert code == 1


def test_a_group_config_selects_its_modules_and_existing_tests_only(monkeypatch):
    monkeypatch.setitem(
        mutation.GROUPS, "made_up", (["src/poolstudy/stats.py"], ["tests/test_stats.py", "x.py"])
    )
    lines = mutation.group_config("made_up").splitlines()
    assert lines == [
        'only_mutate = ["src/poolstudy/stats.py"]',
        'pytest_add_cli_args_test_selection = ["tests/test_stats.py"]',
    ]


def test_an_unknown_group_is_refused_with_the_known_ones(capsys):
    with pytest.raises(SystemExit):
        mutation.main(["--report", "nonsense"])
    assert "unknown groups nonsense; choose from metrics, stats" in capsys.readouterr().err


def test_reviews_of_mutants_that_no_longer_survive_are_named_stale(tmp_path, reviewed, capsys):
    reviewed.write_text(
        "poolstudy.paper.numbers.xǁTableǁcell__mutmut_1: still survives\n"
        "poolstudy.paper.claims.x_verdict__mutmut_2: still survives\n"
        "poolstudy.paper.numbers.x_rows__mutmut_1: killed since\n"
        "poolstudy.paper.claims.x_verdict__mutmut_9: numbered afresh since\n"
        "poolstudy.stats.x_mean__mutmut_1: a module this run did not mutate\n"
    )
    write_results(tmp_path, "paper", PAPER)
    code = mutation.report(["paper"], tmp_path)
    stale = [line for line in capsys.readouterr().out.splitlines() if line.startswith("stale")]
    assert stale == [
        "stale review (gone): poolstudy.paper.claims.x_verdict__mutmut_9  (delete its line "
        "from survivors.txt)",
        "stale review (killed): poolstudy.paper.numbers.x_rows__mutmut_1  (delete its line "
        "from survivors.txt)",
    ]
    assert code == 0  # stale lines excuse nothing, so they fail nothing


def test_a_run_maps_the_tests_afresh_and_tries_escaped_mutants_again(tmp_path, monkeypatch):
    """mutmut maps a test to the functions it runs only when it first sees the test: the map
    is removed before each run, so that a test older than a function still meets its
    mutants; the mutants that survived before are run again after the first pass."""
    write_results(tmp_path, "paper", PAPER)
    folder = tmp_path / "paper"
    stats = folder / "mutants" / "mutmut-stats.json"
    stats.write_text("{}")
    calls = []

    def run(command, cwd, env, check):
        calls.append((command[3:], stats.exists()))

    monkeypatch.setattr(mutation.subprocess, "run", run)
    mutation.run("paper", folder, max_children=2)
    survived = [
        "poolstudy.paper.numbers.xǁTableǁcell__mutmut_1",
        "poolstudy.paper.claims.x_verdict__mutmut_2",
    ]
    assert [(command[:3], present) for command, present in calls] == [
        (["run", "--max-children", "2"], False),
        (["run", "--max-children", "2"], False),
    ]
    assert calls[0][0][3:] == [] and sorted(calls[1][0][3:]) == sorted(survived)


def test_a_module_the_project_no_longer_has_is_not_counted(tmp_path, reviewed, capsys):
    """The group's copy keeps a module that was moved or deleted since, and its results."""
    write_results(tmp_path, "paper", {**PAPER, "gone": {"poolstudy.paper.gone.x_f__mutmut_1": 0}})
    assert "poolstudy.paper.gone.x_f__mutmut_1" not in mutation.statuses(tmp_path / "paper")
    assert len(mutation.statuses(tmp_path / "paper")) == 6


def test_an_escaped_mutant_that_the_code_no_longer_has_is_not_asked_for(tmp_path, monkeypatch):
    """A change of code can take a mutant away; mutmut stops on a name it does not know."""
    write_results(tmp_path, "paper", PAPER)
    folder = tmp_path / "paper"
    calls = []

    def run(command, cwd, env, check):
        calls.append(command[3:])
        if len(calls) == 1:  # the first pass: the function of cell changed, its mutant went
            meta = folder / "mutants" / "src" / "poolstudy" / "paper" / "numbers.py.meta"
            codes = {k: v for k, v in PAPER["numbers"].items() if "cell" not in k}
            meta.write_text(json.dumps({"exit_code_by_key": codes}))

    monkeypatch.setattr(mutation.subprocess, "run", run)
    mutation.run("paper", folder, max_children=2)
    assert calls[1][3:] == ["poolstudy.paper.claims.x_verdict__mutmut_2"]
