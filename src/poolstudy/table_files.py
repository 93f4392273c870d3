"""The tables ``analyze`` writes to ``results/tables/``: their names and columns, and reading
one back checked. Figures, the paper and a record read the tables through ``read_table``, so a
folder that is not this version's ``analyze`` output (an older version's tables, a file edited
by hand, a table cut short) is refused with one line that names the file and what is wrong
with it, not with a traceback from inside a plot."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from poolstudy.analyze import (
    EVALUATION_COLUMNS,
    HISTORY_COLUMNS,
    MODEL_COLUMNS,
    REGIME_COLUMNS,
)
from poolstudy.atomic import CorruptFile, read_csv
from poolstudy.stats import CELL_KEYS, CONTRAST_COLUMNS, SUMMARY_COLUMNS

_KEYS = ("experiment", "dataset", "condition", "operator")
_MEASUREMENT = ("metric", "protocol", "dx", "dy")
# a sweep's cell: its condition's training-set size and augmentation beside the keys
_SWEEP_KEYS = ("experiment", "dataset", "condition", "n_train", "augment_shift", "operator")

COLUMNS: dict[str, tuple[str, ...]] = {
    "observations": tuple(EVALUATION_COLUMNS),
    "summary": (*CELL_KEYS, *SUMMARY_COLUMNS),
    "paired": (*CELL_KEYS, *SUMMARY_COLUMNS, "significant"),
    "shift_curves": (*_KEYS, "protocol", "shift", *SUMMARY_COLUMNS),
    "placement": (*_KEYS, "position", *SUMMARY_COLUMNS, "region"),
    "models": tuple(MODEL_COLUMNS),
    "bootstrap": (
        *_KEYS,
        "n_seeds",
        "n_images",
        "mean",
        "ci_low",
        "ci_high",
        "diff_mean",
        "diff_ci_low",
        "diff_ci_high",
    ),
    "sweep_observations": (*_SWEEP_KEYS, "seed", *_MEASUREMENT, "value", "n"),
    "sweep": (*_SWEEP_KEYS, *_MEASUREMENT, *SUMMARY_COLUMNS),
    "sweep_plot": ("series", "operator", "augment_shift", "n_train", "accuracy_test", "gap"),
    "accuracy_plot": ("operator", "accuracy_test"),
    "contrasts": tuple(CONTRAST_COLUMNS),
    "learning_curves": (*_KEYS, "seed", *HISTORY_COLUMNS),
    "regime": tuple(REGIME_COLUMNS),
}
"""Each table's columns, in the order ``analyze`` writes them."""

TEXT_COLUMNS = frozenset(
    {
        *_KEYS,
        "metric",
        "protocol",
        "name",
        "first_condition",
        "first_operator",
        "second_condition",
        "second_operator",
        "verdict",
        "device",
        "device_name",
        "placement_region",
        "region",
        "half_budget_condition",
        "series",
    }
)
"""The columns that hold names; every other column holds numbers or truth values, each of
which may be missing (an empty cell)."""

REBUILD = "it is not a table this version of poolstudy wrote: run `analyze` again"


class TableError(CorruptFile):
    """A results table that is not as ``analyze`` writes it: ``path`` and its ``problem``."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}; {REBUILD}")
        self.path, self.problem = path, problem


def _not_a_number(value) -> bool:
    """Whether a cell of a column that should hold numbers or truth values holds neither.
    One text cell makes pandas read the whole column as text, so text that reads as a
    number or a truth value counts as one."""
    if value in ("True", "False"):
        return False
    try:
        float(value)  # a number, a truth value or a missing one (NaN), or text that reads as one
    except (TypeError, ValueError):
        return True
    return False


def table_problem(frame: pd.DataFrame, name: str) -> str | None:
    """What keeps ``frame`` from being the table ``name`` as ``analyze`` writes it: a column it
    lacks, or text in a column of numbers (the first such cell); None where nothing does."""
    missing = [column for column in COLUMNS[name] if column not in frame.columns]
    if missing:
        return f"it has no column {', '.join(missing)}"
    for column in COLUMNS[name]:
        if column in TEXT_COLUMNS or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        wrong = frame[column].map(_not_a_number)
        if wrong.any():
            row = int(wrong.to_numpy().argmax())
            return f"its column {column} holds {frame[column].iloc[row]!r} (line {row + 2})"
    return None


def read_table(tables_dir: str | os.PathLike, name: str) -> pd.DataFrame:
    """The table ``name`` of ``tables_dir`` (``<name>.csv``), checked against ``COLUMNS``.
    Raises ``FileNotFoundError`` (naming the file) where it is not there and ``TableError``
    where it is not the table ``analyze`` writes."""
    if name not in COLUMNS:
        raise KeyError(f"no table {name!r}; tables: {', '.join(COLUMNS)}")
    path = Path(tables_dir) / f"{name}.csv"
    try:
        frame = read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())  # on one line
        raise TableError(path, f"not a CSV table ({reason})") from error
    problem = table_problem(frame, name)
    if problem:
        raise TableError(path, problem)
    return frame
