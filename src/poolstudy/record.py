"""Recorded runs: the tables of a study too long for the default run (e.g. the decisive
experiment trained to convergence, ``config/convergence.yaml``), kept in
``paper/recorded/<name>/`` for the papers of the studies that name them
(``primary.recorded``) to quote.

A record holds that run's ``contrasts.csv``, ``regime.csv`` and ``learning_curves.csv`` as
``analyze`` wrote them and ``record.json``: the config file it ran, the SHA-256 of that config
as validated (``run_digest``), its experiment, its deciding contrasts and mechanisms and the
commit of the code, and the SHA-256 of each module the tables come from (the phases from the
data to ``analyze``, ``poolstudy.phases``). The paper quotes a record only while its config
file still hashes to what was recorded; once the file changes, the paper says the record is out
of date instead of quoting it. Where one of those modules has changed since, the paper quotes
the record and names the modules, whose change may or may not move its numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from poolstudy.atomic import write_text
from poolstudy.config import ConfigError, config_digest, load_config
from poolstudy.table_files import TableError, read_table

RECORD_FILE = "record.json"
RECORD_TABLES = ("contrasts", "regime", "learning_curves")


class RecordError(ValueError):
    """A record that cannot be written or read as it is."""


def code_digests(package_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """SHA-256 of each module of the phases a recorded run's tables come from
    (``poolstudy.phases.RECORDED_PHASES``; in the package's sources at ``package_dir``, by default
    the installed one's), by its path in the package."""
    from poolstudy.phases import PACKAGE_DIR, RECORDED_PHASES, phase_code

    package_dir = Path(package_dir or PACKAGE_DIR)
    files = sorted({path for phase in RECORDED_PHASES for path in phase_code(phase, package_dir)})
    return {
        Path(path).relative_to(package_dir).as_posix(): hashlib.sha256(
            Path(path).read_bytes()
        ).hexdigest()
        for path in files
    }


def changed_modules(recorded: dict[str, str], now: dict[str, str]) -> tuple[str, ...]:
    """The modules whose code differs between two ``code_digests``: changed, added or gone."""
    return tuple(
        sorted(name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name))
    )


def run_digest(config: dict) -> str:
    """SHA-256 of a validated config without ``primary.recorded``, which names the records
    its paper quotes and changes nothing of the run (else the paper's provenance hash)."""
    primary = {k: v for k, v in (config.get("primary") or {}).items() if k != "recorded"}
    return config_digest({**config, "primary": primary} if config.get("primary") else config)


def write_record(
    tables_dir: str | os.PathLike,
    config_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    commit: str | None,
    package_dir: str | os.PathLike | None = None,
) -> Path:
    """Record the tables of ``tables_dir`` (a finished run of ``config_path``) in ``out_dir``.
    Refuses tables that another experiment wrote or that lack the config's deciding
    contrasts, so a record cannot quote the wrong run."""
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    config = load_config(config_path)
    missing = [
        name for name in (*RECORD_TABLES, "models") if not (tables_dir / f"{name}.csv").is_file()
    ]
    if missing:
        raise RecordError(
            f"{tables_dir}: no {', '.join(f'{name}.csv' for name in missing)}; run the "
            f"study of {config_path} to its end first (its `analyze` rule writes them)"
        )
    experiments = sorted(set(read_table(tables_dir, "models")["experiment"].astype(str)))
    if experiments != [config["experiment"]]:
        raise RecordError(
            f"{tables_dir} holds experiment {', '.join(experiments) or '(none)'}, but "
            f"{config_path} runs experiment {config['experiment']}"
        )
    primary = config.get("primary") or {}
    answer = list(primary.get("answer") or [])
    contrasts = read_table(tables_dir, "contrasts")
    absent = [name for name in answer if name not in set(contrasts["name"])]
    if not answer or absent:
        raise RecordError(
            f"{config_path} declares no deciding contrast (primary.answer) that "
            f"{tables_dir}/contrasts.csv holds ({', '.join(absent) or 'none declared'})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in RECORD_TABLES:
        write_text(out_dir / f"{name}.csv", (tables_dir / f"{name}.csv").read_text())
    meta = {
        "config": Path(config_path).as_posix(),
        "config_sha256": run_digest(config),
        "experiment": config["experiment"],
        "answer": answer,
        # pairs (mechanism, contrast), in the config's order
        "mechanisms": [list(pair) for pair in (primary.get("mechanisms") or {}).items()],
        "commit": commit,
        # the level its intervals and tests were computed at, which its paragraph quotes
        "confidence": config["stats"]["confidence"],  # the schema's default filled in
        "code_sha256": code_digests(package_dir),
    }
    write_meta(out_dir, meta)
    return out_dir


def rehash_record(
    folder: str | os.PathLike, commit: str | None, package_dir: str | os.PathLike | None = None
) -> Path:
    """Keep the record in ``folder`` as it is but for its code: its commit becomes ``commit``
    and its modules' SHA-256 those of the code now (in the package's sources at
    ``package_dir``, by default the installed one's). For a change of code that its tables
    do not depend on, such as a function moved from one module to another, shown so by the
    same study run before and after it; a change that may move a number is recorded by
    running the study again (``write_record``). Refuses a record that the paper would not
    quote (its config file changed or gone, its tables unreadable)."""
    folder = Path(folder)
    record = read_record(folder, package_dir)
    if not record.current:
        raise RecordError(f"{folder}: not rehashed: {record.problem}")
    meta = json.loads((folder / RECORD_FILE).read_text())
    meta["commit"] = commit
    meta["code_sha256"] = code_digests(package_dir)
    write_meta(folder, meta)
    return folder


def write_meta(folder: Path, meta: dict) -> None:
    write_text(folder / RECORD_FILE, json.dumps(meta, indent=2) + "\n")


@dataclass(frozen=True)
class Record:
    """One recorded run, read back; ``current`` is False where its config file has changed
    or gone since (``problem`` says which). ``changed_code``: the modules its tables come from
    that have changed since (None for a record that kept no hashes of its code)."""

    name: str
    config: str
    experiment: str
    answer: list[str]
    mechanisms: list[list[str]]
    commit: str | None
    current: bool
    problem: str
    contrasts: pd.DataFrame | None
    regime: pd.DataFrame | None
    learning_curves: pd.DataFrame | None
    changed_code: tuple[str, ...] | None = None
    confidence: float | None = None  # None: a record that did not keep it


def current_digest(config_path: str) -> tuple[str | None, str]:
    """The config file's hash now, or (None, why not)."""
    if not Path(config_path).is_file():
        return None, f"{config_path} no longer exists"
    try:
        return run_digest(load_config(config_path)), ""
    except ConfigError as error:
        return None, f"{config_path} is no longer a valid config ({error})"


def read_record(folder: str | os.PathLike, package_dir: str | os.PathLike | None = None) -> Record:
    """The record in ``folder``, its config and code compared with the project's now (the
    code in the package's sources at ``package_dir``, by default the installed one's)."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / RECORD_FILE).read_text())
        config, recorded, experiment = meta["config"], meta["config_sha256"], meta["experiment"]
    except (OSError, ValueError, KeyError) as error:
        raise RecordError(
            f"{folder / RECORD_FILE}: not a readable record ({type(error).__name__}: {error})"
        ) from None
    confidence = meta.get("confidence")
    if confidence is not None and not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise RecordError(
            f"{folder / RECORD_FILE}: its confidence level {confidence!r} is not a number "
            "between 0 and 1"
        )
    digest, problem = current_digest(config)
    if digest is not None and digest != recorded:
        problem = (
            f"{config} has changed since the run was recorded (config SHA-256 "
            f"{recorded[:12]} then, {digest[:12]} now)"
        )
    tables = {}
    if not problem:
        for name in RECORD_TABLES:
            if not (folder / f"{name}.csv").is_file():
                raise RecordError(f"{folder}: the record has no {name}.csv")
            try:
                tables[name] = read_table(folder, name)
            except TableError as error:  # another version's table: out of date, not broken
                problem = f"its {name}.csv is not as this version writes it ({error.problem})"
                tables = {}
                break
    return Record(
        name=folder.name,
        config=config,
        experiment=str(experiment),
        answer=list(meta.get("answer") or []),
        mechanisms=[list(pair) for pair in meta.get("mechanisms") or []],
        commit=meta.get("commit"),
        current=not problem,
        problem=problem,
        contrasts=tables.get("contrasts"),
        regime=tables.get("regime"),
        learning_curves=tables.get("learning_curves"),
        changed_code=(
            changed_modules(meta["code_sha256"], code_digests(package_dir))
            if isinstance(meta.get("code_sha256"), dict)
            else None
        ),
        confidence=confidence,
    )


def read_records(records_dir: str | os.PathLike | None) -> list[Record]:
    """Every record under ``records_dir`` (none when it is ``None`` or absent), by name."""
    if records_dir is None or not Path(records_dir).is_dir():
        return []
    return [
        read_record(folder)
        for folder in sorted(Path(records_dir).iterdir())
        if (folder / RECORD_FILE).is_file()
    ]


def quoted_records(records: list[Record], experiment: str | None) -> list[Record]:
    """The records a paper of ``experiment`` quotes: the current ones of other experiments (a
    study does not quote its own record)."""
    return [r for r in records if r.current and r.experiment != experiment]


def quoted_record(records: list[Record], experiment: str | None) -> Record | None:
    """The record whose learning curves a paper of ``experiment`` draws: the first quoted."""
    return next(iter(quoted_records(records, experiment)), None)


def record_folders(inputs: list[str]) -> str:
    """The record folders among a rule's ``record_inputs``, as one argument string."""
    return " ".join(str(Path(p).parent) for p in inputs if Path(p).name == RECORD_FILE)


def record_inputs(records_dir: str | os.PathLike, names: list[str]) -> list[str]:
    """The files a paper that quotes the records ``names`` (``primary.recorded``) of
    ``records_dir`` depends on: each record's files and the config file it names (so editing
    that config rewrites the paper). A name with no record there is a RecordError."""
    inputs = []
    for name in names:
        meta = Path(records_dir) / name / RECORD_FILE
        if not meta.is_file():
            recorded = sorted(p.parent.name for p in Path(records_dir).glob(f"*/{RECORD_FILE}"))
            raise RecordError(
                f"config key primary.recorded: no recorded run {name!r} ({meta} does not "
                f"exist); recorded runs: {', '.join(recorded) or 'none'} (write one with "
                "`python -m poolstudy record`)"
            )
        inputs.append(meta.as_posix())
        tables = [meta.parent / f"{table}.csv" for table in RECORD_TABLES]
        inputs += [table.as_posix() for table in tables if table.is_file()]
        try:
            config = json.loads(meta.read_text()).get("config")
        except ValueError:
            continue  # read_record reports it when the paper is written
        if config and Path(config).is_file():
            inputs.append(config)
    return inputs
