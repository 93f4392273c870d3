"""Tidy tables -> matplotlib figures (PDF). A figure is a query on a table, not a folder walk.

``FIGURES`` names every figure of the paper and how it is drawn from the tables; the drawing
functions live by subject (``answer``, ``regime``, ``shift``), the look they share in
``style``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

# before pyplot is imported anywhere: importing any module of this package runs this first
matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from poolstudy import table_files  # noqa: E402
from poolstudy.config import schema_default  # noqa: E402
from poolstudy.figures.answer import accuracy_flops, forest  # noqa: E402
from poolstudy.figures.regime import learning_curves, overfitting_gap, sweep_curves  # noqa: E402
from poolstudy.figures.shift import accuracy_vs_shift, placement, sensitivity_maps  # noqa: E402
from poolstudy.figures.style import operator_styles  # noqa: E402

CONFIDENCE = schema_default("stats", "confidence")
"""The intervals' confidence level where the settings name none."""


@dataclass(frozen=True)
class Figure:
    """A figure of the paper: the ``poolstudy`` function that draws it and how it is called on
    the tables (and the figure settings of the config)."""

    function: Callable
    draw: Callable[[dict, dict, str], None]

    @property
    def qualified_name(self) -> str:
        return f"{self.function.__module__}.{self.function.__qualname__}"


FIGURES = {
    "forest": Figure(
        forest, lambda t, s, path: forest(t["contrasts"], path, s.get("confidence", CONFIDENCE))
    ),
    "accuracy_flops": Figure(
        accuracy_flops,
        lambda t, s, path: accuracy_flops(
            t["summary"], t["models"], path, s.get("dataset"), s.get("compute"), s["styles"]
        ),
    ),
    "learning_curves": Figure(
        learning_curves,
        lambda t, s, path: learning_curves(t["learning_curves"], t["regime"], path, s["styles"]),
    ),
    # the learning curves of the recorded longer study (poolstudy.record), where one is quoted
    "recorded_learning_curves": Figure(
        learning_curves,
        lambda t, s, path: learning_curves(
            t["recorded_learning_curves"],
            t["recorded_regime"],
            path,
            s["styles"],
            "no recorded longer study is quoted",
        ),
    ),
    "accuracy_vs_shift": Figure(
        accuracy_vs_shift,
        lambda t, s, path: accuracy_vs_shift(t["shift_curves"], path, s["styles"]),
    ),
    "overfitting_gap": Figure(
        overfitting_gap, lambda t, s, path: overfitting_gap(t["summary"], path)
    ),
    "sensitivity_maps": Figure(
        sensitivity_maps,
        lambda t, s, path: sensitivity_maps(
            t["summary"], path, s.get("dataset"), s.get("condition")
        ),
    ),
    "sweep_accuracy": Figure(
        sweep_curves,
        lambda t, s, path: sweep_curves(
            t["sweep"], "accuracy_test", "test accuracy (%)", path, styles=s["styles"]
        ),
    ),
    "sweep_gap": Figure(
        sweep_curves,
        lambda t, s, path: sweep_curves(
            t["sweep"],
            "gap",
            "train − test accuracy (points)",
            path,
            s.get("gap_threshold"),
            s["styles"],
        ),
    ),
    "placement": Figure(placement, lambda t, s, path: placement(t["placement"], path, s["styles"])),
}

# The tables the figures read (results/tables/<name>.csv).
FIGURE_TABLES = (
    "summary",
    "shift_curves",
    "sweep",
    "placement",
    "learning_curves",
    "regime",
    "contrasts",
    "models",
)


def read_table(tables_dir, name: str) -> pd.DataFrame:
    frame = table_files.read_table(tables_dir, name)
    if "protocol" in frame:
        frame["protocol"] = frame["protocol"].astype(object).fillna("")
    return frame


def recorded_tables(record_folders, experiment: str | None) -> dict[str, pd.DataFrame]:
    """The learning curves and regime of the record a paper of ``experiment`` quotes
    (``poolstudy.record``, chosen as the paper chooses it), empty where it quotes none."""
    from poolstudy.record import quoted_record, read_record

    record = quoted_record([read_record(f) for f in record_folders], experiment)
    if record is None:
        return {"recorded_learning_curves": pd.DataFrame(), "recorded_regime": pd.DataFrame()}
    return {"recorded_learning_curves": record.learning_curves, "recorded_regime": record.regime}


def make_figures(tables_dir, out_dir, settings: dict | None = None, record_folders=()) -> list[str]:
    """Every figure of ``FIGURES`` from the tables in ``tables_dir`` and the recorded runs in
    ``record_folders``. ``settings``: the ``experiment``, the primary ``dataset``, the
    ``compute`` conditions (config ``primary.compute``), the sweep's ``gap_threshold`` and the
    intervals' ``confidence`` (config ``stats.confidence``), as figures.smk's
    ``figure_settings`` gives them."""
    settings = settings or {}
    tables = {name: read_table(tables_dir, name) for name in FIGURE_TABLES}
    tables |= recorded_tables(record_folders, settings.get("experiment"))
    run_operators = [*tables["models"].get("operator", []), *tables["summary"]["operator"]]
    run_operators += list(tables["sweep"]["operator"])
    run_operators += list(tables["recorded_regime"].get("operator", []))
    settings = {**settings, "styles": operator_styles(run_operators)}
    written = []
    for name, figure in FIGURES.items():
        path = os.path.join(out_dir, f"{name}.pdf")
        figure.draw(tables, settings, path)
        written.append(path)
    return written
