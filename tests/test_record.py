"""Recorded runs (poolstudy.record): a longer study's tables kept for the papers that name it,
quoted only while the config they came from is unchanged, refused when they are not that
config's run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from table_rows import as_written
from test_contrasts import contrast_rows, regime_rows

from poolstudy.cli import main
from poolstudy.config import config_digest, load_config
from poolstudy.paper.recorded import recorded_tex
from poolstudy.record import (
    RECORD_TABLES,
    RecordError,
    read_record,
    read_records,
    record_folders,
    record_inputs,
    rehash_record,
    run_digest,
    write_record,
)

REPO = Path(__file__).resolve().parents[1]
LONG_CONFIG = REPO / "config" / "convergence.yaml"


def finished_run(folder: Path, experiment: str = "convergence", **contrast) -> Path:
    """The tables a finished run of config/convergence.yaml leaves in results/tables: its
    deciding contrast max - none_rf (-0.8 points, a difference), both networks converged."""
    folder.mkdir(parents=True)
    change = {
        "name": "max - none_rf",
        "first_condition": "primary",
        "second_condition": "primary",
        "second_operator": "none_rf",
        "mean": -0.79,
        "ci_low": -1.26,
        "ci_high": -0.31,
        **contrast,
    }
    mechanism = {
        **change,
        "name": "maxdil - none_rf",
        "first_operator": "maxdil",
        "mean": 5.7,
        "ci_low": 5.3,
        "ci_high": 6.0,
    }
    if "half_budget_mean" in contrast:  # the mechanism at half the budget: above zero too
        mechanism.update(half_budget_mean=5.4, half_budget_ci_low=5.0, half_budget_ci_high=5.8)
    contrast_rows(change, mechanism).to_csv(folder / "contrasts.csv", index=False)
    regime = regime_rows(
        ("primary", "max", 0.5, 0.4, True, True), ("primary", "none_rf", 0.4, 0.8, True, True)
    )
    as_written("regime", regime).to_csv(folder / "regime.csv", index=False)
    curves = pd.DataFrame(
        {
            "experiment": experiment,
            "dataset": "glyphs",
            "condition": "primary",
            "operator": ["max"] * 4 + ["none_rf"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "step": [500, 1000] * 4,
            "train_loss": 1.0,
            "train_accuracy": [70.0, 80.0, 72.0, 82.0, 60.0, 78.0, 62.0, 80.0],
            "val_accuracy": [69.0, 79.0, 71.0, 81.0, 59.0, 77.0, 61.0, 79.0],
        }
    )
    curves.to_csv(folder / "learning_curves.csv", index=False)
    models = pd.DataFrame({"experiment": [experiment] * 2, "operator": ["max", "none_rf"]})
    as_written("models", models).to_csv(folder / "models.csv", index=False)
    return folder


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A folder with config/convergence.yaml, as the paper command sees the project: the
    shipped one, with two contrasts, each a mechanism, the first the answer."""
    (tmp_path / "config").mkdir()
    config = yaml.safe_load(LONG_CONFIG.read_text())
    config["operators"] = ["max", "maxdil", "none_rf"]
    config["conditions"] = {
        name: config["conditions"][name] for name in ("primary", "primary_half")
    }
    config["primary"] |= {
        "contrasts": ["max - none_rf", "maxdil - none_rf"],
        "answer": ["max - none_rf"],
        "half_budget": "primary_half",
        "mechanisms": {
            "receptive field": "max - none_rf",
            "what pooling computes, not how much it shrinks": "maxdil - none_rf",
        },
    }
    (tmp_path / "config" / "convergence.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_record_keeps_the_tables_and_the_validated_configs_hash(project):
    tables = finished_run(project / "results" / "tables")
    out = write_record(tables, "config/convergence.yaml", "paper/recorded/convergence", "abc123")
    meta = json.loads((out / "record.json").read_text())
    validated = load_config("config/convergence.yaml")
    del validated["primary"]["recorded"]  # which records its paper quotes: not how it ran
    assert meta["config_sha256"] == config_digest(validated)
    assert meta["answer"] == ["max - none_rf"] and meta["commit"] == "abc123"
    declared = load_config("config/convergence.yaml")["primary"]["mechanisms"]
    assert meta["mechanisms"] == [list(pair) for pair in declared.items()]
    record = read_record(out)
    assert record.current and record.problem == ""
    written = pd.read_csv(tables / "contrasts.csv", keep_default_na=False, na_values=[""])
    pd.testing.assert_frame_equal(record.contrasts, written)
    assert list(record.regime["operator"]) == ["max", "none_rf"]
    # committed with the paper, so written for reading in a diff
    assert (out / "record.json").read_text() == json.dumps(meta, indent=2) + "\n"
    again = write_record(tables, "config/convergence.yaml", out, "def456")  # a rerun's record
    assert read_record(again).commit == "def456"


def test_a_config_that_names_no_records_hashes_as_its_papers_provenance(project):
    config = load_config("config/convergence.yaml")
    del config["primary"]["recorded"]
    assert run_digest(config) == config_digest(config)
    del config["primary"]
    assert run_digest(config) == config_digest(config)


def test_a_comment_or_the_records_it_quotes_keep_a_record_current_a_setting_stales_it(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    config = project / "config" / "convergence.yaml"
    config.write_text("# a new comment\n" + config.read_text())
    assert read_record("rec/convergence").current
    settings = yaml.safe_load(config.read_text())
    settings["primary"]["recorded"] = ["convergence"]
    config.write_text(yaml.safe_dump(settings))
    assert read_record("rec/convergence").current
    settings["seeds"] = [0, 1, 2]
    config.write_text(yaml.safe_dump(settings))
    stale = read_record("rec/convergence")
    assert not stale.current and stale.contrasts is None
    then = json.loads(Path("rec/convergence/record.json").read_text())["config_sha256"]
    now = run_digest(load_config(config))
    assert stale.problem == (
        "config/convergence.yaml has changed since the run was recorded "
        f"(config SHA-256 {then[:12]} then, {now[:12]} now)"
    )
    config.unlink()
    assert read_record("rec/convergence").problem == "config/convergence.yaml no longer exists"


def unrecorded(experiments: list[str]):
    """Tables of a finished run whose models.csv lists ``experiments``."""

    def tables(folder: Path) -> None:
        finished_run(folder)
        models = pd.DataFrame({"experiment": experiments})
        as_written("models", models).to_csv(folder / "models.csv", index=False)

    return tables


def declaring(**primary):
    """Tables of a finished run without its contrasts, and the config changed to declare
    ``primary``."""

    def tables(folder: Path) -> None:
        finished_run(folder)
        contrasts = pd.read_csv(folder / "contrasts.csv")
        contrasts.iloc[:0].to_csv(folder / "contrasts.csv", index=False)
        config = Path("config/convergence.yaml")
        settings = yaml.safe_load(config.read_text())
        settings["primary"] |= primary
        config.write_text(yaml.safe_dump(settings, sort_keys=False))

    return tables


@pytest.mark.parametrize(
    ("tables", "words"),
    [
        (
            lambda p: finished_run(p, experiment="default"),
            "t holds experiment default, but config/convergence.yaml runs experiment convergence",
        ),
        (unrecorded(["default", "other"]), "t holds experiment default, other, but"),
        (unrecorded([]), "t holds experiment (none), but"),
        (
            lambda p: finished_run(p, name="max - maxdil"),
            "declares no deciding contrast (primary.answer) that t/contrasts.csv holds "
            "(max - none_rf)",
        ),
        (
            declaring(answer=["maxdil - none_rf", "max - none_rf"]),
            "t/contrasts.csv holds (maxdil - none_rf, max - none_rf)",
        ),
        (declaring(answer=[]), "t/contrasts.csv holds (none declared)"),
        (
            lambda p: p.mkdir(),
            "t: no contrasts.csv, regime.csv, learning_curves.csv, models.csv; run the study "
            "of config/convergence.yaml to its end first",
        ),
    ],
)
def test_tables_that_are_not_that_configs_finished_run_are_refused(project, tables, words):
    tables(project / "t")
    with pytest.raises(RecordError) as refused:
        write_record("t", "config/convergence.yaml", "rec/convergence", None)
    assert words in str(refused.value)
    assert not (project / "rec").exists()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda folder: (folder / "record.json").write_text("{"), "(JSONDecodeError: "),
        (lambda folder: (folder / "record.json").write_text("{}"), "(KeyError: 'config')"),
        (
            lambda folder: (folder / "record.json").write_text(
                json.dumps({"config": "config/convergence.yaml", "config_sha256": "0"})
            ),
            "(KeyError: 'experiment')",
        ),
    ],
)
def test_an_unreadable_record_is_refused_with_its_path(project, damage, words):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    damage(project / "rec" / "convergence")
    with pytest.raises(RecordError) as refused:
        read_record("rec/convergence")
    assert str(refused.value).startswith("rec/convergence/record.json: not a readable record ")
    assert words in str(refused.value)


def test_a_current_record_without_its_tables_is_refused(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    (project / "rec" / "convergence" / "regime.csv").unlink()
    with pytest.raises(RecordError) as refused:
        read_record("rec/convergence")
    assert str(refused.value) == "rec/convergence: the record has no regime.csv"


def test_a_record_whose_tables_another_version_wrote_is_out_of_date_not_broken(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    regime = pd.read_csv(project / "rec" / "convergence" / "regime.csv")
    regime.drop(columns=["gap_threshold"]).to_csv(
        project / "rec" / "convergence" / "regime.csv", index=False
    )
    record = read_record("rec/convergence")
    assert not record.current and record.regime is None and record.contrasts is None
    assert (
        record.problem
        == "its regime.csv is not as this version writes it (it has no column gap_threshold)"
    )
    tex = recorded_tex([record], "default", "95")
    assert "so its numbers are not quoted" in tex and "gap\\_threshold" in tex


def test_the_record_command_says_what_is_wrong_in_one_line(project, capsys):
    finished_run(project / "t", experiment="default")
    record = ["record", "--configfile", "config/convergence.yaml", "--out", "r"]
    assert main([*record, "--tables", "t"]) == 2
    assert "poolstudy record: t holds experiment default" in capsys.readouterr().err
    finished_run(project / "u")
    assert main([*record, "--tables", "u", "--commit", "f00"]) == 0
    assert read_record("r").commit == "f00"


def test_the_paper_quotes_a_current_record_with_its_own_numbers_and_budget(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", "c0")
    this_run = regime_rows(("primary", "max", 0.2, 2.0, True, False))
    this_run["steps"] = 250.0
    tex = recorded_tex(read_records("rec"), "default", "95", this_run)
    answer, body = tex.split("\\newcommand{\\psrecordedbody}")
    assert (
        "A longer study (1,000 optimiser steps against 250 in this run; recorded from "
        "\\texttt{config/\\allowbreak{}convergence.yaml}, Section~\\ref{sec:answer}) answers: "
        "No: where no compared network overfits, pooling lowered accuracy (\\texttt{max} $-$ "
        "\\texttt{none\\_rf}: -0.8 points (95\\,\\% CI [-1.3, -0.3]))." in answer
    )
    assert "\\paragraph{Recorded run: convergence.}" in body
    assert (
        "Its primary regime trains 2 networks on glyphs (condition primary; "
        "Figure~\\ref{fig:recorded-learning}). " in body
    )
    assert "their training had converged" in body and "commit \\texttt{c0}" in body
    assert "fig:learning}" not in body  # the record's own learning curves, not this run's
    # the mechanisms the config declares, split in the section but not in the abstract
    split = (
        "Split into its parts: \\emph{what pooling computes, not how much it shrinks} raised "
        "accuracy (\\texttt{maxdil} $-$ \\texttt{none\\_rf}: +5.7 points, 95\\,\\% CI "
        "[+5.3, +6.0])"
    )
    assert split in body and "Split into" not in answer
    assert "\\psgraphic{recorded_learning_curves}" in body


def test_a_record_that_fails_its_own_checks_is_quoted_as_not_settled_by_that_run(project):
    tables = finished_run(project / "t")
    regime = regime_rows(
        ("primary", "max", 0.5, 0.4, True, True), ("primary", "none_rf", 0.4, 1.6, True, False)
    )
    as_written("regime", regime).to_csv(tables / "regime.csv", index=False)
    write_record(tables, "config/convergence.yaml", "rec/convergence", None)
    tex = recorded_tex(read_records("rec"), "default", "95")
    assert "answers: Not settled: at that run's budget" in tex
    assert "no commit recorded" in tex


def test_a_stale_record_and_the_studys_own_record_are_not_quoted(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    assert "answers:" not in recorded_tex(read_records("rec"), "convergence", "95")
    assert "Recorded run" not in recorded_tex(read_records("rec"), "convergence", "95")
    config = project / "config" / "convergence.yaml"
    settings = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**settings, "operators": ["no_such_op"]}))
    invalid = recorded_tex(read_records("rec"), "default", "95")
    assert "is no longer a valid config" in invalid and "no\\_such\\_op" in invalid
    (project / "config" / "convergence.yaml").unlink()
    tex = recorded_tex(read_records("rec"), "default", "95")
    assert "\\newcommand{\\psrecordedanswer}{}" in tex
    assert "config/convergence.yaml no longer exists, so its numbers are not quoted" in tex
    assert recorded_tex(read_records("no-such-folder"), "default", "95").count("{}") == 1


def test_a_paper_depends_on_each_records_files_and_the_config_it_names(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    write_record(finished_run(project / "u"), "config/convergence.yaml", "rec/other", None)
    assert record_inputs("rec", ["convergence"]) == [
        "rec/convergence/record.json",
        "rec/convergence/contrasts.csv",
        "rec/convergence/regime.csv",
        "rec/convergence/learning_curves.csv",
        "config/convergence.yaml",
    ]
    assert record_folders(record_inputs("rec", ["convergence"])) == "rec/convergence"
    assert record_folders(record_inputs("rec", ["other", "convergence"])) == (
        "rec/other rec/convergence"
    )


def test_a_study_depends_on_and_quotes_only_the_records_it_names(project):
    with pytest.raises(RecordError) as refused:
        record_inputs("rec", ["longer"])
    assert str(refused.value).endswith(
        "recorded runs: none (write one with `python -m poolstudy record`)"
    )
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    write_record(finished_run(project / "u"), "config/convergence.yaml", "rec/other", None)
    assert record_inputs("rec", []) == []
    with pytest.raises(RecordError) as refused:
        record_inputs("rec", ["longer"])
    assert str(refused.value) == (
        "config key primary.recorded: no recorded run 'longer' (rec/longer/record.json does "
        "not exist); recorded runs: convergence, other (write one with "
        "`python -m poolstudy record`)"
    )


def test_a_broken_record_leaves_planning_to_the_paper_rule_which_reports_it(project):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    write_record(finished_run(project / "u"), "config/convergence.yaml", "rec/other", None)
    (project / "rec" / "other" / "record.json").write_text("{")
    (project / "rec" / "third").mkdir()
    (project / "rec" / "third" / "record.json").write_text("{}")
    inputs = record_inputs("rec", ["other", "third", "convergence"])
    assert inputs[:2] == ["rec/other/record.json", "rec/other/contrasts.csv"]
    assert "rec/third/record.json" in inputs and inputs[-1] == "config/convergence.yaml"
    with pytest.raises(RecordError, match="not a readable record"):
        read_records("rec")


def test_the_shipped_record_is_a_current_run_of_the_config_it_names(monkeypatch):
    monkeypatch.chdir(REPO)
    records = read_records("paper/recorded")
    assert [r.name for r in records] == ["convergence"]
    (record,) = records
    assert record.current, record.problem
    assert set(record.answer) <= set(record.contrasts["name"])
    assert set(record.regime["operator"]) == set(load_config(record.config)["operators"])


def test_the_figures_draw_the_quoted_records_learning_curves(project, monkeypatch):
    from test_figures import capture

    from poolstudy import figures
    from poolstudy.figures.style import operator_styles

    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    tables = figures.recorded_tables(["rec/convergence"], "default")
    saved = capture(monkeypatch)
    figures.FIGURES["recorded_learning_curves"].draw(
        tables, {"styles": operator_styles(["max", "none_rf"])}, "unused.pdf"
    )
    lines = saved["fig"].axes[0].get_lines()
    # max's mean over its two seeds: training solid, validation dashed
    assert list(lines[0].get_ydata()) == [71.0, 81.0]
    assert list(lines[1].get_ydata()) == [70.0, 80.0] and list(lines[0].get_xdata()) == [500, 1000]
    own = figures.recorded_tables(["rec/convergence"], "convergence")
    assert own["recorded_learning_curves"].empty and own["recorded_regime"].empty


def test_a_records_source_budget_and_deciding_rows_in_words(project):
    from poolstudy.paper.recorded import budget_words, deciding_rows, source_tex

    out = write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/c", "0" * 40)
    record = read_record(out)
    assert source_tex(record) == (
        "\\texttt{config/\\allowbreak{}convergence.yaml} (experiment \\texttt{convergence}, "
        "code at commit \\texttt{000000000000})"
    )
    uncommitted = read_record(write_record(project / "t", "config/convergence.yaml", out, None))
    assert source_tex(uncommitted).endswith(
        "(experiment \\texttt{convergence}, no commit recorded)"
    )
    assert [row.name for row in deciding_rows(record)] == ["max - none_rf"]
    assert budget_words(record, None) == "1,000 optimiser steps"
    here = record.regime.assign(steps=["250", "--"])  # read back as text: what is not a number
    assert budget_words(record, here) == "1,000 optimiser steps against 250 in this run"
    for unknown in (record.regime.drop(columns="steps"), record.regime.iloc[:0]):
        assert budget_words(record, unknown) == "1,000 optimiser steps"
        stepless = dataclasses.replace(record, regime=unknown)
        assert budget_words(stepless, here) == "trained longer"


def test_a_stale_records_paragraph_in_full(project):
    from poolstudy.paper.recorded import record_paragraph

    write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/convergence", None)
    (project / "config" / "convergence.yaml").unlink()
    assert record_paragraph(read_record("rec/convergence"), "95") == (
        "\\paragraph{Recorded run: convergence.} A run of "
        "\\texttt{config/\\allowbreak{}convergence.yaml} is recorded in "
        "\\texttt{paper/\\allowbreak{}recorded/\\allowbreak{}convergence}, but "
        "config/convergence.yaml no longer exists, so its numbers are not quoted: a run of "
        "\\texttt{config/\\allowbreak{}convergence.yaml} followed by "
        "\\texttt{python -m poolstudy record} records it again; README.md, "
        "\\emph{Recorded runs}.\n"
    )


def test_the_records_macros_draw_the_first_quoted_ones_curves_and_compare_budgets(project):
    from poolstudy.paper.recorded import FIGURE

    for name in ("first", "second"):
        write_record(finished_run(project / name), "config/convergence.yaml", f"rec/{name}", None)
    here = read_record("rec/first").regime.assign(steps=250.0)
    tex = recorded_tex(read_records("rec"), "default", "95", here)
    assert tex.startswith(
        "% Generated by `python -m poolstudy paper`: do not edit.\n"
        "\\newcommand{\\psrecordedanswer}{A longer study (1,000 optimiser steps against 250 in "
        "this run; recorded from \\texttt{config/\\allowbreak{}convergence.yaml}, "
        "Section~\\ref{sec:answer}) answers: "
    )
    answer, body = tex.split("\\newcommand{\\psrecordedbody}{%\n")
    assert answer.count("A longer study") == 2 and ". A longer study (" in answer
    # the abstract's sentence without the mechanisms, the section's with them
    assert "Split into its parts" not in answer and "Split into its parts" in body
    first, second = body.split("\n\\paragraph{Recorded run: second.} ")
    assert first.startswith("\\paragraph{Recorded run: first.} ")
    assert "(1,000 optimiser steps against 250 in this run)" in first
    assert first.endswith(f"\n\n{FIGURE}") and FIGURE not in second
    assert "fig:recorded-learning" in first and "fig:recorded-learning" not in second
    assert tex.endswith("]).\n}\n")  # the last paragraph ends with its answer


def test_the_figure_is_the_first_record_of_another_experiment(project):
    from poolstudy.paper.recorded import FIGURE

    own = yaml.safe_load((project / "config" / "convergence.yaml").read_text())
    (project / "config" / "own.yaml").write_text(yaml.safe_dump({**own, "experiment": "default"}))
    write_record(
        finished_run(project / "a", experiment="default"), "config/own.yaml", "rec/a", None
    )
    write_record(finished_run(project / "b"), "config/convergence.yaml", "rec/b", None)
    tex = recorded_tex(read_records("rec"), "default", "95")
    assert "Recorded run: a." not in tex and "Recorded run: b." in tex and FIGURE in tex


def test_a_current_records_paragraph_words_its_budget_check_without_a_figure(project):
    from poolstudy.paper.recorded import FIGURE, record_paragraph

    checked = {
        "budget_n": 5,
        "budget_change": 0.3,
        "budget_change_ci_low": -0.3,
        "budget_change_ci_high": 0.9,
        "budget_change_p_equivalence": 0.01,
        "budget_change_within_margin": True,
        # -1.09 [-1.5, -0.7] at half the budget: below zero, as -0.79 [-1.26, -0.31] at the full
        "half_budget_mean": -1.09,
        "half_budget_ci_low": -1.5,
        "half_budget_ci_high": -0.7,
        "stable_under_budget": True,
    }
    write_record(finished_run(project / "t", **checked), "config/convergence.yaml", "rec/c", None)
    paragraph = record_paragraph(read_record("rec/c"), "90")
    # at the record's own level (the schema's default), not this run's 90 %: the interval
    # its equivalence rests on (90 % beside 95 %)
    assert "by +0.3 points (90\\,\\% CI [-0.2, +0.8])" in paragraph
    assert (
        "and at half the budget it was -1.1 points (95\\,\\% CI [-1.5, -0.7]), below zero as at "
        "the full budget (95\\,\\% CI [-1.3, -0.3]): over this range the answer does not depend "
        "on the budget" in paragraph
    )
    assert FIGURE not in paragraph and "fig:recorded-learning" not in paragraph
    assert paragraph.endswith("]).\n")


def test_a_record_keeps_the_hash_of_each_module_its_tables_come_from(project, tmp_path):
    """The SHA-256 of every module of the phases from the data to `analyze`, by its path in
    the package; read back against the package's sources now, the modules that changed,
    appeared or went since are named, and the paper names them beside the commit."""
    import hashlib
    import shutil

    from poolstudy.paper.recorded import source_tex
    from poolstudy.phases import RECORDED_PHASES, phase_modules
    from poolstudy.record import changed_modules

    package = Path(shutil.copytree(REPO / "src" / "poolstudy", tmp_path / "src" / "poolstudy"))
    with (package / "train.py").open("a") as handle:  # the copy's code, not the installed
        handle.write("\n# recorded from this copy\n")
    tables = finished_run(project / "t")
    out = write_record(tables, "config/convergence.yaml", "rec/c", "0" * 40, package)
    recorded = json.loads((out / "record.json").read_text())["code_sha256"]
    modules = {m for phase in RECORDED_PHASES for m in phase_modules(phase, package)}
    assert "poolstudy.optim" in modules and "poolstudy.stats" in modules
    assert "poolstudy.figures" not in modules  # the figures do not make the tables
    assert len(recorded) == len(modules)
    for name, digest in recorded.items():
        assert digest == hashlib.sha256((package / name).read_bytes()).hexdigest()
    assert recorded["data/glyphs.py"] != recorded["train.py"]

    assert read_record(out, package).changed_code == ()
    plain = source_tex(read_record(out, package))
    assert plain.endswith("code at commit \\texttt{000000000000})")

    with (package / "optim.py").open("a") as handle:
        handle.write("\n# a comment is a change of the file\n")
    one = read_record(out, package)
    assert one.changed_code == ("optim.py",) and one.current
    assert source_tex(one) == plain.removesuffix(")") + (
        "; of the code its tables come from, \\texttt{optim.py} has changed since)"
    )
    (package / "data" / "glyphs.py").write_text("")
    assert source_tex(read_record(out, package)).endswith(
        "\\texttt{data/\\allowbreak{}glyphs.py}, \\texttt{optim.py} have changed since)"
    )

    # a record from before code was hashed says nothing of its code
    meta = json.loads((out / "record.json").read_text())
    del meta["code_sha256"]
    (out / "record.json").write_text(json.dumps(meta))
    assert read_record(out, package).changed_code is None
    assert source_tex(read_record(out, package)) == plain

    assert changed_modules({"a.py": "1"}, {"a.py": "1", "b.py": "2"}) == ("b.py",)
    assert changed_modules({"a.py": "1", "b.py": "2"}, {"b.py": "3"}) == ("a.py", "b.py")


def test_rehashing_renews_only_a_records_commit_and_code_and_refuses_a_stale_one(project, tmp_path):
    """A change of code that the tables do not depend on (a function moved between modules)
    renews the hashes, so the paper names no module; tables, config hash, answer and the
    rest stay byte for byte. A record the paper would not quote is not renewed."""
    import shutil

    from poolstudy.phases import imports_of

    package = Path(shutil.copytree(REPO / "src" / "poolstudy", tmp_path / "src" / "poolstudy"))
    out = write_record(
        finished_run(project / "t"), "config/convergence.yaml", "rec/c", "a" * 40, package
    )
    tables = {name: (out / f"{name}.csv").read_bytes() for name in RECORD_TABLES}
    written = (out / "record.json").read_bytes()
    rehash_record(out, "a" * 40, package)  # nothing changed: the file as write_record wrote it
    assert (out / "record.json").read_bytes() == written
    before = json.loads(written)
    (package / "moved.py").write_text("")  # a new module the training imports
    with (package / "train.py").open("a") as handle:
        handle.write("\nfrom poolstudy import moved  # noqa\n")
    imports_of.cache_clear()  # each file is parsed once per process
    assert read_record(out, package).changed_code == ("moved.py", "train.py")

    assert rehash_record(out, "b" * 40, package) == out
    after = json.loads((out / "record.json").read_text())
    assert read_record(out, package).changed_code == ()
    assert after["commit"] == "b" * 40
    assert set(after["code_sha256"]) == set(before["code_sha256"]) | {"moved.py"}
    assert after["code_sha256"]["train.py"] != before["code_sha256"]["train.py"]
    assert {k: v for k, v in after.items() if k not in ("commit", "code_sha256")} == {
        k: v for k, v in before.items() if k not in ("commit", "code_sha256")
    }
    assert tables == {name: (out / f"{name}.csv").read_bytes() for name in RECORD_TABLES}

    config = yaml.safe_load((project / "config" / "convergence.yaml").read_text())
    config["seeds"] = [0]
    (project / "config" / "convergence.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(RecordError, match=r"rec/c: not rehashed: config/convergence.yaml has "):
        rehash_record(out, "c" * 40, package)
    assert json.loads((out / "record.json").read_text()) == after


def test_the_record_command_rehashes_with_code_only_and_refuses_mixed_arguments(project, capsys):
    write_record(finished_run(project / "t"), "config/convergence.yaml", "r", "a" * 40)
    meta = json.loads((project / "r" / "record.json").read_text())
    meta["code_sha256"]["train.py"] = "0" * 64
    (project / "r" / "record.json").write_text(json.dumps(meta))
    assert read_record("r").changed_code == ("train.py",)
    assert main(["record", "--out", "r", "--code-only", "--tables", "t"]) == 2
    assert capsys.readouterr().err == (
        "poolstudy record: --code-only keeps the record's tables and config: it takes no --tables\n"
    )
    assert main(["record", "--out", "r", "--tables", "t"]) == 2
    assert capsys.readouterr().err == (
        "poolstudy record: record needs --tables and --configfile (a finished run's), or "
        "--code-only\n"
    )
    assert read_record("r").changed_code == ("train.py",)
    assert main(["record", "--out", "r", "--code-only", "--commit", "f00"]) == 0
    assert "r: its tables kept, its code's hashes those of commit f00" in capsys.readouterr().out
    record = read_record("r")
    assert record.changed_code == () and record.commit == "f00" and record.current


def test_a_record_keeps_its_confidence_level_and_its_paragraphs_quote_it(project):
    config = project / "config" / "convergence.yaml"
    settings = yaml.safe_load(config.read_text())
    settings["stats"] = {**(settings.get("stats") or {}), "confidence": 0.9}
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    out = write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/x", None)
    assert json.loads((out / "record.json").read_text())["confidence"] == 0.9
    assert read_record(out).confidence == 0.9
    # this run's intervals are at 95 %; the record's numbers were computed at 90 %
    tex = recorded_tex(read_records("rec"), "default", "95")
    answer, body = tex.split("\\newcommand{\\psrecordedbody}")
    assert "(90\\,\\% CI [" in answer and "(90\\,\\% CI [" in body
    assert "(95\\,\\% CI [" not in tex


def test_a_record_without_a_confidence_level_is_quoted_at_this_runs(project):
    out = write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/x", None)
    meta = json.loads((out / "record.json").read_text())
    assert meta.pop("confidence") == 0.95  # the schema's default
    (out / "record.json").write_text(json.dumps(meta))
    assert read_record(out).confidence is None
    tex = recorded_tex(read_records("rec"), "default", "97.5")
    answer, body = tex.split("\\newcommand{\\psrecordedbody}")
    assert "(97.5\\,\\% CI [" in answer and "(97.5\\,\\% CI [" in body
    assert "None" not in tex


@pytest.mark.parametrize("level", ["high", 95, 0, True, None])
def test_a_records_confidence_level_must_be_a_probability(project, level):
    out = write_record(finished_run(project / "t"), "config/convergence.yaml", "rec/x", None)
    meta = json.loads((out / "record.json").read_text())
    (out / "record.json").write_text(json.dumps(meta | {"confidence": level}))
    if level is None:
        assert read_record(out).confidence is None
        return
    with pytest.raises(RecordError, match="its confidence level .* is not a number between 0"):
        read_record(out)
