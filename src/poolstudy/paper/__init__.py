"""Tidy tables -> LaTeX for ``paper/generated/``: numbers as keyed values, tables, and the
comparative sentences, all computed from the results so no claim outlives its numbers.

``numbers.tex`` holds ``\\psset{key}{value}`` lines; the hand-written text reads them with
``\\psvalue{key}``, which stops the build on a key the pipeline did not produce.
"""

from __future__ import annotations

import os

from poolstudy.atomic import write_text
from poolstudy.paper.claims import (
    comparison_sentence,
    controls_tex,
    identical_protocols_tex,
    paired_table,
    placement_tex,
    sweep_tex,
)
from poolstudy.paper.conditions import conditions_table
from poolstudy.paper.contrasts import answer_tex, contrasts_appendix, contrasts_tex
from poolstudy.paper.format import (
    confidence_text,
    fmt_ci,
    latex_escape,
    ordered,
    typeset_minus,
)
from poolstudy.paper.numbers import number_entries, numbers_tex, primary_cell
from poolstudy.paper.provenance import drawn_tex, provenance, provenance_tex
from poolstudy.paper.recorded import recorded_tex
from poolstudy.paper.tables import (
    STABILITY_COLUMNS,
    consistency_table,
    datasets_table,
    operators_table,
    parameters_table,
    results_table,
    stability_appendix,
    stability_protocol,
    stability_table,
)
from poolstudy.table_files import read_table

__all__ = [
    "STABILITY_COLUMNS",
    "comparison_sentence",
    "conditions_table",
    "consistency_table",
    "controls_tex",
    "datasets_table",
    "fmt_ci",
    "identical_protocols_tex",
    "latex_escape",
    "number_entries",
    "numbers_tex",
    "operators_table",
    "paired_table",
    "parameters_table",
    "placement_tex",
    "results_table",
    "stability_appendix",
    "stability_table",
    "sweep_tex",
    "write_paper_inputs",
    "GENERATED",
]

# Every file ``write_paper_inputs`` writes into paper/generated/ (without .tex).
GENERATED = (
    "numbers",
    "operators_table",
    "parameters_table",
    "datasets_table",
    "conditions_table",
    "results_table",
    "consistency_table",
    "stability_table",
    "stability_appendix",
    "paired_appendix",
    "protocols",
    "placement",
    "controls",
    "sweep",
    "graphics",
    "contrasts",
    "contrasts_appendix",
    "answer",
    "provenance",
    "recorded",
)


def figure_inputs(figures_dir: str, settings: dict | None = None) -> str:
    """The figure folder as a LaTeX graphics path (relative to paper/), ``\\psdrawn``: each
    figure's rule and drawing function, from the figures' registry, and the conditions whose
    networks the accuracy-FLOPs figure joins (``figure.compute``)."""
    from poolstudy.figures import FIGURES

    drawn = {name: figure.qualified_name for name, figure in FIGURES.items()}
    compute = ((settings or {}).get("figures") or {}).get("compute") or []
    joined = ", ".join(f"\\texttt{{{latex_escape(c)}}}" for c in compute) or "none"
    return (
        f"\\graphicspath{{{{{figures_dir.rstrip('/')}/}}}}\n"
        + drawn_tex(drawn)
        + f"\\psset{{figure.compute}}{{{joined}}}\n"
    )


def write_paper_inputs(
    tables_dir, out_dir, settings: dict, figures_dir: str, record_folders=()
) -> list[str]:
    """Every file of ``GENERATED`` from the run's tables in ``tables_dir``, the settings the
    paper quotes and the recorded runs in ``record_folders`` (``poolstudy.record``)."""
    from poolstudy.config import schema_default
    from poolstudy.record import read_record

    names = ("summary", "paired", "models", "sweep", "bootstrap", "contrasts", "regime")
    tables = {name: read_table(tables_dir, name) for name in names}
    contrasts, regime = tables["contrasts"], tables["regime"]
    confidence = confidence_text(settings)

    def sweep_setting(name):
        """The sweep's criterion as the settings give it, else as the schema does."""
        return settings.get(f"sweep_{name}", schema_default("sweep", name))

    datasets = ordered(tables["summary"], "dataset")
    primary, condition = primary_cell(tables["summary"], settings)
    models = tables["models"][tables["models"]["dataset"] == primary]
    shown = stability_protocol(tables["summary"], primary, condition)
    outputs = {
        "numbers": numbers_tex(number_entries(tables, settings)),
        "operators_table": operators_table(models, condition),
        "parameters_table": parameters_table(models),
        "datasets_table": datasets_table(datasets, settings.get("data_options")),
        "conditions_table": conditions_table(
            settings.get("conditions_table", []), tables["models"]
        ),
        "results_table": results_table(tables["summary"], primary, tables["bootstrap"]),
        "consistency_table": consistency_table(tables["summary"], primary),
        "stability_table": stability_table(tables["summary"], primary, condition)
        + f"\\def\\psstabilityprotocol{{{latex_escape(shown)}}}\n",
        "stability_appendix": stability_appendix(tables["summary"], primary, condition, confidence),
        "paired_appendix": paired_table(tables["paired"], primary, confidence),
        "protocols": identical_protocols_tex(tables["summary"], primary),
        "placement": placement_tex(
            tables["summary"], tables["paired"], tables["models"], primary, confidence
        ),
        "controls": controls_tex(
            contrasts, tables["paired"], tables["models"], primary, confidence, condition
        ),
        "sweep": sweep_tex(
            tables["sweep"],
            confidence,
            gap_threshold=float(sweep_setting("gap_threshold")),
            fit_floor=float(sweep_setting("fit_floor")),
            steps=settings.get("sweep_steps"),
        ),
        "contrasts": contrasts_tex(contrasts, confidence, regime),
        "contrasts_appendix": contrasts_appendix(contrasts, confidence),
        "answer": answer_tex(
            contrasts,
            regime,
            settings.get("answer", []),
            settings.get("mechanisms", {}),
            confidence,
        ),
        "graphics": figure_inputs(figures_dir, settings),
        "provenance": provenance_tex(provenance(settings, tables["models"])),
        "recorded": recorded_tex(
            [read_record(folder) for folder in record_folders],
            settings.get("experiment"),
            confidence,
            regime,
        ),
    }
    written = []
    for name in GENERATED:
        path = os.path.join(out_dir, f"{name}.tex")
        write_text(path, typeset_minus(outputs[name]))
        written.append(path)
    return written
