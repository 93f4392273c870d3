"""Recorded runs in words (``poolstudy.record``): what a longer study than this one, recorded
in ``paper/recorded/``, answered, with its checks of the regime; or why a record is not quoted.

Two macros: ``\\psrecordedanswer``, one sentence per quoted record for the abstract and the
conclusion (empty without one), and ``\\psrecordedbody``, a paragraph per record for the
section "The answer"."""

from __future__ import annotations

import pandas as pd

from poolstudy.paper.contrasts import budget_tex, regime_tex, split_answer, whole
from poolstudy.paper.format import latex_escape
from poolstudy.record import Record, quoted_record, quoted_records

FIGURE = (
    "\\begin{figure}[tbp]\n\\centering\n\\psgraphic{recorded_learning_curves}\n"
    "\\caption{Learning curves of the recorded longer study (mean over seeds): training "
    "accuracy solid, validation dashed. Lines that meet: no overfitting; whether the networks "
    "had converged is checked against its runs at half the budget. "
    "\\psdrawn{recorded_learning_curves}}\n\\label{fig:recorded-learning}\n\\end{figure}\n"
)

RERUN = (
    "a run of {config} followed by \\texttt{{python -m poolstudy record}} records it again; "
    "README.md, \\emph{{Recorded runs}}"
)


def path_tex(path: str) -> str:
    """A file's path in typewriter type, breakable after each slash."""
    breakable = latex_escape(path).replace("/", "/\\allowbreak{}")
    return f"\\texttt{{{breakable}}}"


def source_tex(record: Record) -> str:
    """Where a record comes from: its config file, experiment and commit, and the modules its
    tables come from that have changed since."""
    code = (
        f"code at commit \\texttt{{{latex_escape(record.commit[:12])}}}"
        if record.commit
        else "no commit recorded"
    )
    if record.changed_code:
        names = ", ".join(path_tex(name) for name in record.changed_code)
        verb = "has" if len(record.changed_code) == 1 else "have"
        code += f"; of the code its tables come from, {names} {verb} changed since"
    return (
        f"{path_tex(record.config)} (experiment "
        f"\\texttt{{{latex_escape(record.experiment)}}}, {code})"
    )


def level_text(record: Record, confidence_text: str) -> str:
    """The confidence level a record's numbers were computed at, as the paper prints it:
    its own, or this run's (``confidence_text``) for a record that did not keep it."""
    if record.confidence is None:
        return confidence_text
    from poolstudy.plan import confidence_percent

    return confidence_percent(record.confidence)


def deciding_rows(record: Record) -> list:
    by_name = {row.name: row for row in record.contrasts.itertuples()}
    return [by_name[name] for name in record.answer if name in by_name]


def record_answer(record: Record, confidence_text: str, split: bool = True) -> str:
    """The recorded run's own verdict on its deciding contrasts; with ``split``, followed by
    the answer split into its mechanisms."""
    return split_answer(
        record.contrasts,
        record.regime,
        record.answer,
        record.mechanisms if split else [],
        confidence_text,
        run="that run",
    )


def most_steps(regime: pd.DataFrame | None) -> float:
    """The longest training of a regime's networks, in optimiser steps (NaN without one)."""
    if regime is None or regime.empty or "steps" not in regime:
        return float("nan")
    return float(pd.to_numeric(regime["steps"], errors="coerce").max())


def budget_words(record: Record, regime: pd.DataFrame | None) -> str:
    """``32000 optimiser steps against 4000 in this run`` (the latter where this run has a
    primary regime)."""
    recorded, here = most_steps(record.regime), most_steps(regime)
    if pd.isna(recorded):
        return "trained longer"
    text = f"{whole(recorded)} optimiser steps"
    return text if pd.isna(here) else f"{text} against {whole(here)} in this run"


def record_paragraph(
    record: Record, confidence_text: str, regime=None, with_figure: bool = False
) -> str:
    """A record's paragraph for the section "The answer"; ``with_figure``: the record whose
    learning curves the figures drew (``figures.recorded_tables``)."""
    title = f"\\paragraph{{Recorded run: {latex_escape(record.name)}.}} "
    confidence_text = level_text(record, confidence_text)
    rerun = RERUN.format(config=path_tex(record.config))
    if not record.current:
        return (
            f"{title}A run of {path_tex(record.config)} is recorded in "
            f"{path_tex(f'paper/recorded/{record.name}')}, but {latex_escape(record.problem)}, so "
            f"its numbers are not quoted: {rerun}.\n"
        )
    text = (
        f"{title}What longer training does to the answer is measured by a longer study, run "
        f"apart ({budget_words(record, regime)}) and recorded: {source_tex(record)}, not "
        f"rerun by this study ({rerun}). "
        + regime_tex(
            record.regime,
            figure="fig:recorded-learning" if with_figure else None,
            subject="Its primary regime",
        )
        + budget_tex(deciding_rows(record), confidence_text)
        + f"Its answer: {record_answer(record, confidence_text)}\n"
    )
    return text + (f"\n{FIGURE}" if with_figure else "")


def recorded_tex(
    records: list[Record],
    experiment: str | None,
    confidence_text: str,
    regime: pd.DataFrame | None = None,
) -> str:
    """Both macros for the records of a paper of ``experiment`` (``regime``: this run's
    ``regime.csv``, to compare budgets)."""
    shown = [r for r in records if r.experiment != experiment]
    answers = " ".join(
        f"A longer study ({budget_words(r, regime)}; recorded from "
        f"{path_tex(r.config)}, Section~\\ref{{sec:answer}}) answers: "
        f"{record_answer(r, level_text(r, confidence_text), split=False)}"
        for r in quoted_records(records, experiment)
    )
    drawn = quoted_record(records, experiment)
    body = "\n".join(
        record_paragraph(r, confidence_text, regime, with_figure=r is drawn) for r in shown
    )
    return (
        "% Generated by `python -m poolstudy paper`: do not edit.\n"
        f"\\newcommand{{\\psrecordedanswer}}{{{answers}}}\n"
        f"\\newcommand{{\\psrecordedbody}}{{%\n{body}}}\n"
    )
