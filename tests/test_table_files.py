"""Figures, the paper and a record read ``analyze``'s tables checked: what ``analyze`` writes
reads back, and a table that is not its output is refused with one line that names the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from table_rows import as_written
from test_analyze import analyze_runs, write_run

from poolstudy.cli import main
from poolstudy.record import RECORD_TABLES
from poolstudy.table_files import COLUMNS, TableError, read_table

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("sweep", [False, True])
def test_analyze_writes_every_table_with_the_declared_columns_and_they_read_back(tmp_path, sweep):
    runs = [("gap", "max", seed, 90.0 + seed, 99.0) for seed in (0, 1)]
    points = {}
    if sweep:  # the sweep's tables have rows; otherwise analyze writes them empty
        runs += [("sweep-n50-aug0", "max", seed, 80.0 + seed, 95.0) for seed in (0, 1)]
        points = {"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}}
    tables = analyze_runs(
        tmp_path, [write_run(tmp_path, *run) for run in runs], sweep_points=points
    )
    written = sorted(path.stem for path in (tmp_path / "tables").glob("*.csv"))
    assert written == sorted(COLUMNS) == sorted(tables)
    for name in COLUMNS:
        header = (tmp_path / "tables" / f"{name}.csv").read_text().splitlines()[0]
        assert header.split(",") == list(COLUMNS[name]), name
        assert list(read_table(tmp_path / "tables", name).columns) == list(COLUMNS[name])


def test_the_shipped_records_tables_read_back():
    for folder in (REPO / "paper" / "recorded").iterdir():
        for name in RECORD_TABLES:
            assert len(read_table(folder, name)) > 0


def write(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_table_read_back_keeps_missing_values_truth_values_and_names(tmp_path):
    frame = pd.DataFrame(
        {
            "operator": ["max", "none", "NA"],
            "n": [3, 3, 3],
            "mean": [1.5, None, 2.0],
            "ci_clipped": [True, None, False],
        }
    )
    write(tmp_path, "summary", as_written("summary", frame))
    back = read_table(tmp_path, "summary")
    assert list(back["operator"]) == ["max", "none", "NA"]
    assert back["mean"].isna().tolist() == [False, True, False]
    assert list(back["ci_clipped"].dropna()) == [True, False]
    header_only = write(tmp_path, "sweep", as_written("sweep", pd.DataFrame()))
    assert read_table(tmp_path, "sweep").empty and header_only.read_text().count("\n") == 1


def test_a_table_without_one_of_its_columns_is_refused_naming_them(tmp_path):
    frame = as_written("summary", pd.DataFrame({"operator": ["max"], "mean": [1.0]}))
    path = write(tmp_path, "summary", frame.drop(columns=["ci_clipped", "std"]))
    with pytest.raises(
        TableError, match=r"has no column std, ci_clipped; .*run `analyze` again"
    ) as error:
        read_table(tmp_path, "summary")
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "column, values, reason",
    [
        ("mean", [1.0, "abc"], "its column mean holds 'abc' (line 3)"),
        ("ci_clipped", [True, "maybe"], "its column ci_clipped holds 'maybe' (line 3)"),
        ("ci_clipped", [False, "no"], "its column ci_clipped holds 'no' (line 3)"),
        ("n", ["three", 3], "its column n holds 'three' (line 2)"),
    ],
)
def test_text_in_a_column_of_numbers_or_truth_values_is_refused_at_its_line(
    tmp_path, column, values, reason
):
    frame = as_written("summary", pd.DataFrame({"operator": ["max", "none"], column: values}))
    path = write(tmp_path, "summary", frame)
    with pytest.raises(TableError) as error:
        read_table(tmp_path, "summary")
    assert str(error.value).startswith(f"{path}: {reason}; ")


def test_a_file_that_is_not_a_csv_table_is_refused_and_a_missing_one_named(tmp_path):
    path = write(tmp_path, "regime", pd.DataFrame())
    path.write_text("")
    with pytest.raises(TableError, match=r"regime\.csv: not a CSV table \(No columns to parse"):
        read_table(tmp_path, "regime")
    path.write_bytes(b"dataset,condition\n\xff\xfe,x\n")
    with pytest.raises(TableError, match=r"regime\.csv: not a CSV table \("):
        read_table(tmp_path, "regime")
    with pytest.raises(FileNotFoundError) as missing:
        read_table(tmp_path, "summary")
    assert missing.value.filename == str(tmp_path / "summary.csv")
    with pytest.raises(KeyError, match="no table 'summaries'; tables: observations, summary"):
        read_table(tmp_path, "summaries")


@pytest.mark.parametrize(
    "command",
    [
        ["figures", "--tables", "t", "--out-dir", "f"],
        ["paper", "--tables", "t", "--out-dir", "p", "--figures", "f"],
    ],
)
def test_figures_and_paper_refuse_another_versions_tables_in_one_line(
    tmp_path, monkeypatch, capsys, command
):
    monkeypatch.chdir(tmp_path)
    for name in COLUMNS:
        write(tmp_path / "t", name, as_written(name, pd.DataFrame()))
    old = as_written("summary", pd.DataFrame()).drop(columns=["ci_clipped"])
    write(tmp_path / "t", "summary", old)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == (
        f"poolstudy {command[0]}: t/summary.csv: it has no column ci_clipped; it is not a table "
        "this version of poolstudy wrote: run `analyze` again\n"
    )
