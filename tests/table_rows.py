"""Tables for the tests of what reads ``analyze``'s output: a test gives the columns it needs,
and ``as_written`` lays the table out as ``analyze`` writes it, every other column empty."""

from __future__ import annotations

import pandas as pd

from poolstudy.table_files import COLUMNS


def as_written(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns of table ``name`` in ``analyze``'s order, those it lacks
    empty (missing values), and its own other columns after them."""
    extra = [column for column in frame.columns if column not in COLUMNS[name]]
    return frame.reindex(columns=[*COLUMNS[name], *extra])
