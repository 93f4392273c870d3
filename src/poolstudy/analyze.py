"""Per-model evaluation files and run metadata -> the tidy tables in ``results/tables/`` and
the headline metrics file that ``dvc metrics show`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from poolstudy import stats
from poolstudy.atomic import CorruptFile, read_csv, write_csv, write_json
from poolstudy.config import schema_default

MODEL_COLUMNS = [
    "experiment",
    "dataset",
    "condition",
    "operator",
    "seed",
    "parameters",
    "flops",
    "receptive_field",
    "final_feature_map",
    "n_train",
    "steps",
    "device",
    "device_name",
    "wall_seconds",
    "placement_canvas",
    "placement_region",
]


EVALUATION_COLUMNS = [*stats.MODEL_KEYS, "metric", "protocol", "dx", "dy", "value", "n"]
"""The columns of an evaluation file (``evaluate``: the model's keys, then its rows)."""

HISTORY_COLUMNS = ["step", "train_loss", "train_accuracy", "val_accuracy"]
"""The columns of a run's learning curve (``history.csv``) that ``analyze`` reads."""

META_KEYS = (
    *stats.MODEL_KEYS[1:],
    *("parameters", "flops", "receptive_field", "feature_map_sizes"),
    *("n_train", "device", "wall_seconds"),
)
"""The keys of a run's metadata (``meta.json``) that ``analyze`` reads."""


def _unreadable(path, what: str, problem: str) -> CorruptFile:
    return CorruptFile(f"{path}: not {what} ({problem}); run the step that writes it again")


NUMERIC_COLUMNS = ("seed", "dx", "dy", "value", "n", *HISTORY_COLUMNS)
"""Columns of the runs' CSV files that hold numbers (or nothing)."""


def read_input_table(path, columns, what: str) -> pd.DataFrame:
    """One of the runs' CSV files, refused in one line (``CorruptFile``) where it is not a
    table, has no rows, lacks one of ``columns`` or holds text in a column of numbers: a file
    that another program or version wrote, or one cut short."""
    try:
        frame = read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise _unreadable(path, what, f"not CSV: {str(error).strip()}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise _unreadable(path, what, f"no column {', '.join(missing)}")
    if frame.empty:
        raise _unreadable(path, what, "no rows")
    for column in columns:
        if column in NUMERIC_COLUMNS and not pd.api.types.is_numeric_dtype(frame[column]):
            raise _unreadable(path, what, f"text in column {column}")
    return frame


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


META_TYPES = {
    **dict.fromkeys(("dataset", "condition", "operator", "device"), (str, "text")),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    **dict.fromkeys(
        ("parameters", "flops", "receptive_field", "n_train", "wall_seconds"),
        (_is_number, "a number"),
    ),
    "feature_map_sizes": (lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list"),
    "steps": (lambda v: v is None or _is_number(v), "a number"),
    "device_name": (str, "text"),
    "placement": (lambda v: v is None or isinstance(v, dict), "an object"),
}
"""What each key of a run's metadata that ``analyze`` reads must hold: a type or a check,
and how the refusal words it."""


def read_meta(path) -> dict:
    """A run's metadata, refused in one line where it is not JSON, lacks a key or holds a
    value of the wrong kind."""
    try:
        meta = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _unreadable(path, "a run's metadata", f"not JSON: {error}") from None
    if not isinstance(meta, dict):
        raise _unreadable(path, "a run's metadata", "not a JSON object")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise _unreadable(path, "a run's metadata", f"no key {', '.join(missing)}")
    for key, (kind, words) in META_TYPES.items():
        if key not in meta:
            continue
        fits = isinstance(meta[key], kind) if isinstance(kind, type) else kind(meta[key])
        if not fits:
            raise _unreadable(path, "a run's metadata", f"{key} is not {words}: {meta[key]!r}")
    return meta


def read_observations(paths) -> pd.DataFrame:
    frames = [read_input_table(path, EVALUATION_COLUMNS, "an evaluation file") for path in paths]
    frame = pd.concat(frames, ignore_index=True)
    frame["protocol"] = frame["protocol"].astype(object).fillna("")
    return frame


NPY_MAGIC = b"\x93NUMPY"


def read_image_record(path, images: int) -> np.ndarray:
    """A model's per-image record of its ``images`` clean test images (``evaluate``), refused
    in one line where it is not a NumPy ``.npy`` file of that many 0/1 entries."""
    with open(path, "rb") as handle:  # a missing file is an error of its own, not a corrupt one
        head = handle.read(len(NPY_MAGIC))
    if head != NPY_MAGIC:
        raise _unreadable(path, "a per-image record", "not a NumPy .npy file")
    try:
        record = np.load(path, allow_pickle=False)
    except (ValueError, EOFError) as error:
        raise _unreadable(path, "a per-image record", str(error)) from None
    kind = record.dtype.kind
    if record.ndim != 1 or kind not in "biu" or ((record != 0) & (record != 1)).any():
        problem = f"{record.ndim}-D {record.dtype} array, not a 1-D array of 0 and 1"
        raise _unreadable(path, "a per-image record", problem)
    if len(record) != images:
        problem = f"{len(record)} entries for the {images} test images its evaluation counts"
        raise _unreadable(path, "a per-image record", problem)
    return record.astype(np.uint8)


def read_correct(eval_paths, correct_paths) -> pd.DataFrame:
    """Per model (keys from its evaluation file), the 0/1 record of its clean test images."""
    if len(eval_paths) != len(correct_paths):
        raise ValueError(
            f"{len(eval_paths)} evaluation files but {len(correct_paths)} per-image records"
        )
    rows = []
    for eval_path, correct_path in zip(eval_paths, correct_paths, strict=True):
        evaluation = read_input_table(eval_path, EVALUATION_COLUMNS, "an evaluation file")
        keys = evaluation[stats.MODEL_KEYS].iloc[0].to_dict()
        test = evaluation.loc[evaluation["metric"] == "accuracy_test", "n"]
        if test.empty:
            raise _unreadable(eval_path, "an evaluation file", "no accuracy_test row")
        rows.append({**keys, "correct": read_image_record(correct_path, int(test.iloc[0]))})
    return pd.DataFrame(rows, columns=[*stats.MODEL_KEYS, "correct"])


def placement_columns(placement: dict) -> dict:
    """The canvas and training region of a placement run (empty for other runs)."""
    if placement.get("canvas") is None:
        return {"placement_canvas": None, "placement_region": ""}
    return {"placement_canvas": placement["canvas"], "placement_region": placement["region"]}


def read_models(paths, experiment: str) -> pd.DataFrame:
    rows = []
    for path in paths:
        meta = read_meta(path)
        rows.append(
            {
                "experiment": experiment,
                "dataset": meta["dataset"],
                "condition": meta["condition"],
                "operator": meta["operator"],
                "seed": meta["seed"],
                "parameters": meta["parameters"],
                "flops": meta["flops"],
                "receptive_field": meta["receptive_field"],
                "final_feature_map": meta["feature_map_sizes"][-1],
                "n_train": meta["n_train"],
                "steps": meta.get("steps"),  # optimiser steps the run took
                "device": meta["device"],
                "device_name": meta.get("device_name", meta["device"]),
                "wall_seconds": meta["wall_seconds"],
                **placement_columns(meta.get("placement") or {}),
            }
        )
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def read_histories(history_paths, meta_paths, experiment: str) -> pd.DataFrame:
    """Every run's learning curve (``history.csv``: one row per validation point) with the
    run's keys from its metadata, in the same order."""
    if len(history_paths) != len(meta_paths):
        raise ValueError(f"{len(history_paths)} histories but {len(meta_paths)} metadata files")
    frames = []
    for history_path, meta_path in zip(history_paths, meta_paths, strict=True):
        meta = read_meta(meta_path)
        history = read_input_table(history_path, HISTORY_COLUMNS, "a learning curve")
        keys = {k: meta[k] for k in ("dataset", "condition", "operator", "seed")}
        frames.append(history.assign(experiment=experiment, **keys))
    columns = [*stats.MODEL_KEYS, *HISTORY_COLUMNS]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


REGIME_COLUMNS = [
    "dataset",
    "condition",
    "operator",
    "n",
    "accuracy_train",
    "accuracy_test",
    "gap",
    "gap_ci_low",
    "gap_ci_high",
    "gap_sampling_se",
    "late_rise",
    "steps",
    "half_budget_condition",
    "half_budget_steps",
    "budget_n",
    "budget_gain",
    "budget_gain_ci_low",
    "budget_gain_ci_high",
    "plateau_points",
    "gap_threshold",
    "free_of_overfitting",
    "converged",
]
"""The columns of ``regime_table``, in order."""


PLATEAU_SHARE = 0.2
"""The last share of training over which ``late_rise`` measures the learning curve."""


def regime_table(
    observations: pd.DataFrame,
    curves: pd.DataFrame,
    dataset: str,
    conditions: list[str],
    gap_threshold: float,
    plateau_points: float,
    confidence: float = 0.95,
    half_budget: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per network of the primary regime (``dataset``, ``conditions``): the train-test gap
    over seeds and its test-set sampling error (``free_of_overfitting``: the gap's mean is
    below ``gap_threshold``), and whether its training converged.

    Convergence is measured by doubling the budget: ``half_budget`` maps a regime condition
    to a condition that trains the same networks with half its optimiser steps, and
    ``budget_gain`` is the test accuracy at the full budget minus that at half, paired by
    seed (``converged``: its mean is below ``plateau_points``). A network without runs at
    half the budget, or with fewer than ``stats.MIN_SEEDS`` seeds run at both budgets, is
    not checked (``converged`` empty), as a contrast from so few seeds decides nothing;
    likewise ``free_of_overfitting`` is empty for a network with fewer than
    ``stats.MIN_SEEDS`` seeds (``shown_below``). ``late_rise``, how much the
    training accuracy still rose over the last ``PLATEAU_SHARE`` of training, describes
    the learning curve; under a schedule that anneals the learning rate at the end it
    measures the annealing as much as convergence, so it decides nothing."""
    columns = REGIME_COLUMNS
    half_budget = half_budget or {}
    selected = observations[
        (observations["dataset"] == dataset) & observations["condition"].isin(conditions)
    ]
    clean = selected[selected["metric"].isin(["accuracy_train", "accuracy_test"])]
    if clean.empty:
        return pd.DataFrame(columns=columns)
    gaps = difference_rows(clean, "accuracy_train", "accuracy_test", "gap")
    rows = []
    for (condition, operator), runs in clean.groupby(["condition", "operator"], sort=False):
        wide = runs.pivot_table(index="seed", columns="metric", values=["value", "n"])
        train, test = wide["value"]["accuracy_train"], wide["value"]["accuracy_test"]
        n_train, n_test = wide["n"]["accuracy_train"], wide["n"]["accuracy_test"]
        gap = gaps[(gaps["condition"] == condition) & (gaps["operator"] == operator)]["value"]
        mean, low, high = stats.t_interval(gap.to_numpy(), confidence)
        p_train, p_test = train / 100, test / 100
        se = 100 * np.sqrt(p_train * (1 - p_train) / n_train + p_test * (1 - p_test) / n_test)
        rise = late_rise(
            curves[
                (curves["dataset"] == dataset)
                & (curves["condition"] == condition)
                & (curves["operator"] == operator)
            ]
        )
        half = half_budget.get(condition)
        gain = budget_gain(observations, dataset, half, operator, test)
        budget_mean, budget_low, budget_high = stats.t_interval(gain.to_numpy(), confidence)
        rows.append(
            {
                "dataset": dataset,
                "condition": condition,
                "operator": operator,
                "n": len(gap),
                "accuracy_train": float(train.mean()),
                "accuracy_test": float(test.mean()),
                "gap": mean,
                "gap_ci_low": low,
                "gap_ci_high": high,
                "gap_sampling_se": float(se.mean()),
                "late_rise": rise,
                "steps": last_step(curves, dataset, condition, operator),
                "half_budget_condition": half if len(gain) else "",
                "half_budget_steps": last_step(curves, dataset, half, operator)
                if len(gain)
                else float("nan"),
                "budget_n": len(gain),
                "budget_gain": budget_mean,
                "budget_gain_ci_low": budget_low,
                "budget_gain_ci_high": budget_high,
                "plateau_points": plateau_points,
                "gap_threshold": gap_threshold,
                "free_of_overfitting": shown_below(mean, len(gap), gap_threshold),
                "converged": shown_below(budget_mean, len(gain), plateau_points),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def shown_below(mean: float, n: int, threshold: float):
    """Whether a mean over ``n`` seeds is below ``threshold``: NA (not checked) with fewer
    than ``stats.MIN_SEEDS`` seeds, the fewest an interval or a test is computed from. A mean
    within float noise of the threshold (``stats.ON_THRESHOLD``) is on it, not below: gains
    of 0.95, 1.00 and 1.05 average to 0.9999999999999952."""
    if n < stats.MIN_SEEDS:
        return pd.NA
    return bool(mean < threshold and not stats.on_threshold(mean, threshold))


def last_step(curves: pd.DataFrame, dataset: str, condition: str | None, operator: str) -> float:
    """The optimiser steps of a network's runs (the last step of their learning curves)."""
    steps = curves[
        (curves["dataset"] == dataset)
        & (curves["condition"] == condition)
        & (curves["operator"] == operator)
    ]["step"]
    return float(steps.max()) if len(steps) else float("nan")


def budget_gain(
    observations: pd.DataFrame,
    dataset: str,
    half: str | None,
    operator: str,
    test: pd.Series,
) -> pd.Series:
    """Test accuracy at the full budget (``test``, by seed) minus that of the same network
    trained in the ``half`` condition, for the seeds both have (empty without such runs)."""
    if not half:
        return pd.Series(dtype=float)
    runs = observations[
        (observations["dataset"] == dataset)
        & (observations["condition"] == half)
        & (observations["operator"] == operator)
        & (observations["metric"] == "accuracy_test")
    ]
    at_half = runs.set_index("seed")["value"]
    seeds = test.index.intersection(at_half.index)
    return (test.loc[seeds] - at_half.loc[seeds]).astype(float)


def late_rise(curves: pd.DataFrame) -> float:
    """Mean over seeds of the rise of the training accuracy between the validation point
    nearest to ``1 - PLATEAU_SHARE`` of the run and its last point (NaN without a curve)."""
    rises = []
    for _, run in curves.groupby("seed"):
        run = run.sort_values("step")
        if len(run) < 2:
            continue
        last = run["step"].iloc[-1]
        earlier = run.iloc[(run["step"] - (1 - PLATEAU_SHARE) * last).abs().argmin()]
        rises.append(run["train_accuracy"].iloc[-1] - earlier["train_accuracy"])
    return float(np.mean(rises)) if rises else float("nan")


def headline_metrics(summary: pd.DataFrame) -> dict:
    """{dataset: {condition: {operator: {metric: mean}}}} for clean accuracies and
    consistency."""
    table = summary[summary["metric"].isin(["accuracy_train", "accuracy_test", "consistency"])]
    metrics: dict = {}
    for row in table.itertuples():
        name = row.metric if not row.protocol else f"{row.metric}_{row.protocol}"
        cell = metrics.setdefault(row.dataset, {}).setdefault(row.condition, {})
        cell.setdefault(row.operator, {})[name] = round(float(row.mean), 4)
    return metrics


def difference_rows(
    observations: pd.DataFrame, minuend: str, subtrahend: str, metric: str
) -> pd.DataFrame:
    """Per model and protocol with both metrics, a ``metric`` row holding ``minuend`` minus
    ``subtrahend``; its ``n`` is the two rows' common count of images (NaN when they differ,
    as for train and test accuracy)."""
    pair = observations[observations["metric"].isin([minuend, subtrahend])]
    if set(pair["metric"]) != {minuend, subtrahend}:
        return observations.iloc[0:0]
    keys = [*stats.MODEL_KEYS, "protocol"]
    wide = pair.pivot_table(index=keys, columns="metric", values=["value", "n"], sort=False)
    wide = wide.dropna(subset=[("value", minuend), ("value", subtrahend)])
    counts = wide["n"]
    n = counts[minuend].where(counts[minuend] == counts[subtrahend])
    if n.notna().all():
        n = n.astype(observations["n"].dtype)
    rows = wide.index.to_frame(index=False).assign(
        metric=metric,
        dx=float("nan"),
        dy=float("nan"),
        value=(wide[("value", minuend)] - wide[("value", subtrahend)]).to_numpy(),
        n=n.to_numpy(),
    )
    return rows[list(observations.columns)]


def with_placement_drop(observations: pd.DataFrame) -> pd.DataFrame:
    """``observations`` plus, per placement model, ``accuracy_placed_drop``: its accuracy at
    the trained positions minus that at the untrained ones. Unlike the accuracy outside, the
    drop does not rise with accuracy alone: it measures what is lost by moving the object to
    where training never put it."""
    drop = difference_rows(
        observations, "accuracy_placed_inside", "accuracy_placed_outside", "accuracy_placed_drop"
    )
    if drop.empty:
        return observations
    return pd.concat([observations, drop], ignore_index=True)


def placement_curves(
    observations: pd.DataFrame, models: pd.DataFrame, confidence: float = 0.95
) -> pd.DataFrame:
    """Accuracy against the horizontal position of the object under the placement protocol:
    per model averaged over the vertical positions, then summarised over seeds; with each
    condition's training region."""
    placed = observations[
        (observations["protocol"] == "placement") & (observations["metric"] == "accuracy_shifted")
    ]
    per_model = placed.groupby([*stats.MODEL_KEYS, "dx"], as_index=False, sort=True)["value"].mean()
    keys = ["experiment", "dataset", "condition", "operator", "dx"]
    table = stats.summarize_groups(per_model, keys, confidence)
    regions = models.drop_duplicates(["dataset", "condition"])[
        ["dataset", "condition", "placement_region"]
    ].rename(columns={"placement_region": "region"})
    table = table.merge(regions, on=["dataset", "condition"], how="left")
    return table.rename(columns={"dx": "position"})


SWEEP_COLUMNS = ["n_train", "augment_shift"]


def with_sweep_columns(table: pd.DataFrame, points: dict) -> pd.DataFrame:
    """``table`` with the training-set size and augmentation of each row's condition."""
    table = table.copy()
    for column in reversed(SWEEP_COLUMNS):
        table.insert(3, column, [points[c][column] for c in table["condition"]])
    return table


def sweep_observations(observations: pd.DataFrame) -> pd.DataFrame:
    """Per model of the sweep: train and test accuracy and their gap (train - test)."""
    clean = observations[observations["metric"].isin(["accuracy_train", "accuracy_test"])]
    gap = difference_rows(clean, "accuracy_train", "accuracy_test", "gap")
    return pd.concat([clean, gap], ignore_index=True)


def sweep_plot(cells: pd.DataFrame) -> pd.DataFrame:
    """The sweep for ``dvc plots``: one row per (operator, augmentation, size) with the mean
    test accuracy and gap over seeds, and a ``series`` label to colour the lines by."""
    columns = ["series", "operator", "augment_shift", "n_train", "accuracy_test", "gap"]
    if cells.empty:
        return pd.DataFrame(columns=columns)
    wide = cells.pivot_table(
        index=["operator", "augment_shift", "n_train"], columns="metric", values="mean"
    ).reset_index()
    wide["series"] = [
        f"{op}, aug {shift}"
        for op, shift in zip(wide["operator"], wide["augment_shift"], strict=True)
    ]
    return wide.sort_values(["operator", "augment_shift", "n_train"])[columns]


def accuracy_plot(summary: pd.DataFrame) -> pd.DataFrame:
    """Clean test accuracy per operator in the primary dataset and condition, for ``dvc plots``."""
    rows = summary[summary["metric"] == "accuracy_test"]
    if rows.empty:
        return pd.DataFrame(columns=["operator", "accuracy_test"])
    first = rows.iloc[0]
    rows = rows[(rows["dataset"] == first["dataset"]) & (rows["condition"] == first["condition"])]
    return rows[["operator", "mean"]].rename(columns={"mean": "accuracy_test"})


def empty_sweep_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    observed = [*stats.MODEL_KEYS[:3], *SWEEP_COLUMNS, *stats.MODEL_KEYS[3:]]
    cells = [*stats.CELL_KEYS[:3], *SWEEP_COLUMNS, *stats.CELL_KEYS[3:]]
    return (
        pd.DataFrame(columns=[*observed, "metric", "protocol", "dx", "dy", "value", "n"]),
        pd.DataFrame(columns=[*cells, *stats.SUMMARY_COLUMNS]),
    )


def analyze(
    eval_paths,
    meta_paths,
    experiment: str,
    out_dir,
    metrics_path,
    confidence: float = 0.95,
    sweep_points: dict | None = None,
    correct_paths=None,
    bootstrap_samples: int = 2000,
    contrasts: list[dict] | None = None,
    margin: float = 1.0,
    history_paths=None,
    regime: dict | None = None,
) -> dict[str, pd.DataFrame]:
    """Write the tables. Runs of the sweep's conditions (``sweep_points``: condition ->
    {n_train, augment_shift}) go to ``sweep.csv`` only; the rest is the main study.
    ``correct_paths`` (per-image records, in the order of ``eval_paths``) give
    ``bootstrap.csv``, the intervals over test images. ``contrasts`` (``plan.primary_contrasts``)
    give ``contrasts.csv``: the primary contrasts, Holm-adjusted, with equivalence verdicts
    against ``margin``. ``history_paths`` (in the order of ``meta_paths``) give
    ``learning_curves.csv``; ``regime`` (``plan.primary_regime``) gives ``regime.csv``, the
    primary regime's overfitting and convergence."""
    sweep_points = sweep_points or {}
    everything = read_observations(eval_paths)
    in_sweep = everything["condition"].isin(list(sweep_points))
    observations = with_placement_drop(everything[~in_sweep].reset_index(drop=True))
    summary = stats.summarize(observations, confidence)
    models = read_models(meta_paths, experiment)
    tables = {
        "observations": observations,
        "summary": summary,
        "paired": stats.paired_differences(observations, confidence=confidence),
        "shift_curves": stats.shift_curves(observations, confidence),
        "models": models[~models["condition"].isin(list(sweep_points))],
        "placement": placement_curves(observations, models, confidence),
    }
    if correct_paths:
        records = read_correct(eval_paths, correct_paths)
        records = records[~records["condition"].isin(list(sweep_points))]
        tables["bootstrap"] = stats.bootstrap_table(
            records, confidence=confidence, samples=bootstrap_samples
        )
    else:
        tables["bootstrap"] = stats.bootstrap_table(
            pd.DataFrame(columns=[*stats.MODEL_KEYS, "correct"])
        )
    if in_sweep.any():
        observed = sweep_observations(everything[in_sweep])
        cells = with_sweep_columns(stats.summarize(observed, confidence), sweep_points)
        observed = with_sweep_columns(observed, sweep_points)
    else:
        observed, cells = empty_sweep_tables()
    tables["sweep_observations"] = observed
    tables["sweep"] = cells
    tables["sweep_plot"] = sweep_plot(cells)
    tables["accuracy_plot"] = accuracy_plot(summary)
    regime = regime or {}
    tables["contrasts"] = stats.contrast_table(
        observations, contrasts or [], margin, confidence, regime.get("half_budget", {})
    )
    curves = read_histories(history_paths or [], meta_paths if history_paths else [], experiment)
    tables["learning_curves"] = curves
    tables["regime"] = regime_table(
        observations,
        curves,
        regime.get("dataset", ""),
        regime.get("conditions", []),
        regime.get("gap_threshold", schema_default("primary", "gap_threshold")),
        regime.get("plateau_points", schema_default("primary", "plateau_points")),
        confidence,
        regime.get("half_budget", {}),
    )
    out = Path(out_dir)
    for name, table in tables.items():
        write_csv(out / f"{name}.csv", table)
    write_json(metrics_path, headline_metrics(summary))
    return tables
