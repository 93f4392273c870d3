"""Tidy tables -> LaTeX for ``paper/generated/``: numbers as keyed values, tables, and the
comparative sentences, all computed from the results so no claim outlives its numbers.

``numbers.tex`` holds ``\\psset{key}{value}`` lines; the hand-written text reads them with
``\\psvalue{key}``, which stops the build on a key the pipeline did not produce.
"""

from __future__ import annotations

import os

import pandas as pd

from poolstudy.atomic import write_text
from poolstudy.paper.claims import (
    FIT_FLOOR,
    GAP_THRESHOLD,
    comparison_sentence,
    contrast_sentence,
    controls_tex,
    findings_tex,
    identical_protocols_tex,
    placement_tex,
    sweep_tex,
)
from poolstudy.paper.contrasts import answer_tex, contrasts_tex
from poolstudy.paper.format import (
    fmt_ci,
    latex_escape,
    ordered,
)
from poolstudy.paper.numbers import number_entries, numbers_tex
from poolstudy.paper.tables import (
    STABILITY_COLUMNS,
    datasets_table,
    operators_table,
    results_table,
    stability_table,
)

__all__ = [
    "STABILITY_COLUMNS",
    "comparison_sentence",
    "contrast_sentence",
    "controls_tex",
    "datasets_table",
    "findings_tex",
    "fmt_ci",
    "identical_protocols_tex",
    "latex_escape",
    "number_entries",
    "numbers_tex",
    "operators_table",
    "placement_tex",
    "results_table",
    "stability_table",
    "sweep_tex",
    "write_paper_inputs",
]


def figure_inputs(figures_dir: str) -> str:
    """The figure folder as a LaTeX graphics path (relative to paper/)."""
    return f"\\graphicspath{{{{{figures_dir.rstrip('/')}/}}}}\n"


def write_paper_inputs(tables_dir, out_dir, settings: dict, figures_dir: str) -> list[str]:
    def read(name):
        return pd.read_csv(
            os.path.join(tables_dir, f"{name}.csv"), keep_default_na=False, na_values=[""]
        )

    names = (
        "observations",
        "summary",
        "paired",
        "models",
        "sweep_observations",
        "sweep",
        "bootstrap",
    )
    tables = {name: read(name) for name in names}
    contrasts, regime = read("contrasts"), read("regime")
    confidence_text = str(settings.get("confidence_text", settings.get("confidence", 95)))
    contrasts["protocol"] = contrasts["protocol"].astype(object).fillna("")
    for name in ("observations", "summary", "paired", "sweep_observations", "sweep"):
        tables[name]["protocol"] = tables[name]["protocol"].astype(object).fillna("")
    if "significant" in tables["paired"]:
        tables["paired"]["significant"] = tables["paired"]["significant"].astype(str) == "True"
    datasets = ordered(tables["summary"], "dataset")
    primary = datasets[0]
    confidence = int(settings.get("confidence", 95))
    outputs = {
        "numbers.tex": numbers_tex(number_entries(tables, settings)),
        "operators_table.tex": operators_table(
            tables["models"][tables["models"]["dataset"] == primary]
        ),
        "datasets_table.tex": datasets_table(datasets),
        "results_table.tex": results_table(tables["summary"], primary, tables["bootstrap"]),
        "stability_table.tex": stability_table(
            tables["summary"], primary, ordered(tables["summary"], "condition")[0], confidence
        ),
        "findings.tex": findings_tex(tables["paired"], primary, confidence)
        + identical_protocols_tex(tables["summary"], primary),
        "placement.tex": placement_tex(
            tables["summary"], tables["paired"], tables["models"], primary, confidence
        ),
        "controls.tex": controls_tex(tables["observations"], tables["models"], primary, confidence),
        "sweep.tex": sweep_tex(
            tables["sweep"],
            tables["sweep_observations"],
            confidence,
            gap_threshold=float(settings.get("sweep_gap_threshold", GAP_THRESHOLD)),
            fit_floor=float(settings.get("sweep_fit_floor", FIT_FLOOR)),
            steps=settings.get("sweep_steps"),
        ),
        "contrasts.tex": contrasts_tex(contrasts, confidence_text, regime),
        "answer.tex": answer_tex(
            contrasts,
            regime,
            settings.get("answer", []),
            settings.get("mechanisms", {}),
            confidence_text,
        ),
        "graphics.tex": figure_inputs(figures_dir),
    }
    written = []
    for name, text in outputs.items():
        path = os.path.join(out_dir, name)
        write_text(path, text)
        written.append(path)
    return written
