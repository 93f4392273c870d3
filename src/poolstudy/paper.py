"""Tidy tables -> LaTeX for ``paper/generated/``: numbers as keyed values, tables, and the
comparative sentences, all computed from the results so no claim outlives its numbers.

``numbers.tex`` holds ``\\psset{key}{value}`` lines; the hand-written text reads them with
``\\psvalue{key}``, which stops the build on a key the pipeline did not produce.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from poolstudy.atomic import write_text
from poolstudy.data import DATASETS
from poolstudy.pooling import OPERATORS
from poolstudy.stats import contrast

BASELINE = "none"


def latex_escape(text: str) -> str:
    replacements = {
        "\\": r"\textbackslash{}",
        "_": r"\_",
        "%": r"\%",
        "&": r"\&",
        "#": r"\#",
        "$": r"\$",
        "{": r"\{",
        "}": r"\}",
    }
    return "".join(replacements.get(ch, ch) for ch in str(text))


def op_tex(name: str) -> str:
    return r"\texttt{" + latex_escape(name) + "}"


def fmt(value: float, digits: int = 1) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def half_width(row) -> float:
    return (row["ci_high"] - row["ci_low"]) / 2


def fmt_ci(row, digits: int = 1) -> str:
    """``mean $\\pm$ half-width`` of a t-interval (just the mean when there is none)."""
    hw = half_width(row)
    if math.isnan(hw):
        return fmt(row["mean"], digits)
    return f"{fmt(row['mean'], digits)} $\\pm$ {fmt(hw, digits)}"


def fmt_signed(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.{digits}f}"


def present_operators(frame: pd.DataFrame) -> list[str]:
    present = set(frame["operator"])
    return [name for name in OPERATORS if name in present]


def cell(
    summary: pd.DataFrame,
    dataset: str,
    condition: str,
    operator: str,
    metric: str,
    protocol: str = "",
):
    rows = summary[
        (summary["dataset"] == dataset)
        & (summary["condition"] == condition)
        & (summary["operator"] == operator)
        & (summary["metric"] == metric)
        & (summary["protocol"] == protocol)
    ]
    if len(rows) != 1:
        raise KeyError(
            f"expected one summary row for {dataset}/{condition}/{operator}/{metric}/{protocol}"
        )
    return rows.iloc[0]


def clean_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows without a shift (clean accuracies, consistency), protocol '' for clean."""
    table = summary[summary["dx"].isna()].copy()
    table["protocol"] = table["protocol"].fillna("")
    return table


def ordered(frame: pd.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` in order of first appearance."""
    return list(dict.fromkeys(frame[column]))


def number_entries(tables: dict[str, pd.DataFrame], settings: dict) -> dict[str, str]:
    """Every value the text may quote, keyed ``dataset.condition.operator.metric`` etc."""
    summary = clean_table(tables["summary"])
    models = tables["models"]
    entries: dict[str, str] = {}
    datasets = ordered(summary, "dataset")
    protocols = [p for p in ordered(summary, "protocol") if p]
    for key, value in settings.items():
        entries[f"config.{key}"] = latex_escape(value)
    entries["config.n_datasets"] = str(len(datasets))
    entries["config.n_operators"] = str(len(present_operators(summary)))
    entries["run.train_minutes"] = fmt(models["wall_seconds"].sum() / 60.0)
    entries["run.n_models"] = str(len(models))
    entries["run.device"] = latex_escape(", ".join(sorted(set(models["device"]))))
    for (dataset, condition), group in summary.groupby(["dataset", "condition"], sort=False):
        for operator in present_operators(group):
            prefix = f"{dataset}.{condition}.{operator}"
            for metric in ("accuracy_train", "accuracy_val", "accuracy_test"):
                row = cell(summary, dataset, condition, operator, metric)
                entries[f"{prefix}.{metric}"] = fmt(row["mean"])
                entries[f"{prefix}.{metric}.ci"] = fmt(half_width(row))
                entries[f"{prefix}.n_seeds"] = str(int(row["n"]))
            gap = (
                cell(summary, dataset, condition, operator, "accuracy_train")["mean"]
                - cell(summary, dataset, condition, operator, "accuracy_test")["mean"]
            )
            entries[f"{prefix}.gap"] = fmt(gap)
            for protocol in protocols:
                row = cell(summary, dataset, condition, operator, "consistency", protocol)
                entries[f"{prefix}.consistency_{protocol}"] = fmt(row["mean"])
            run = models[
                (models["dataset"] == dataset)
                & (models["condition"] == condition)
                & (models["operator"] == operator)
            ]
            entries[f"{prefix}.parameters"] = f"{int(run['parameters'].iloc[0]):,}"
            entries[f"{prefix}.mflops"] = fmt(run["flops"].iloc[0] / 1e6)
            entries[f"{prefix}.receptive_field"] = str(int(run["receptive_field"].iloc[0]))
    primary, condition = datasets[0], ordered(summary, "condition")[0]
    test = summary[
        (summary["dataset"] == primary)
        & (summary["condition"] == condition)
        & (summary["metric"] == "accuracy_test")
    ]
    best = test.loc[test["mean"].idxmax()]
    worst = test.loc[test["mean"].idxmin()]
    entries["primary.dataset"] = latex_escape(primary)
    entries["primary.condition"] = latex_escape(condition)
    entries["primary.best_operator"] = op_tex(best["operator"])
    entries["primary.best_accuracy"] = fmt(best["mean"])
    entries["primary.best_accuracy.ci"] = fmt(half_width(best))
    entries["primary.worst_operator"] = op_tex(worst["operator"])
    entries["primary.worst_accuracy"] = fmt(worst["mean"])
    return entries


def numbers_tex(entries: dict[str, str]) -> str:
    lines = ["% Generated by `python -m poolstudy paper`: do not edit."]
    lines += [f"\\psset{{{key}}}{{{value}}}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def operators_table(models: pd.DataFrame) -> str:
    """Every operator that was run: what it is, its source, and the accounting of its network
    (parameters per condition, since the head changes them; the rest from the first)."""
    conditions = ordered(models, "condition")
    first = models[models["condition"] == conditions[0]].drop_duplicates("operator")
    params = models.drop_duplicates(["condition", "operator"]).set_index(["condition", "operator"])[
        "parameters"
    ]
    param_headers = " & ".join(f"params ({latex_escape(c)})" for c in conditions)
    lines = [
        r"\begin{tabular}{lp{4.6cm}" + "r" * (len(conditions) + 3) + "}",
        r"\toprule",
        f"operator & what it does & {param_headers} & MFLOPs & RF & final map \\\\",
        r"\midrule",
    ]
    for operator in present_operators(first):
        run = first[first["operator"] == operator].iloc[0]
        cls = OPERATORS[operator]
        source = f" \\cite{{{cls.source}}}" if cls.source else ""
        size = int(run["final_feature_map"])
        counts = " & ".join(f"{int(params[(c, operator)]):,}" for c in conditions)
        lines.append(
            f"{op_tex(operator)} & {latex_escape(cls.summary)}{source} & {counts} & "
            f"{fmt(run['flops'] / 1e6, 2)} & "
            f"{int(run['receptive_field'])} & {size}$\\times${size} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def results_table(summary: pd.DataFrame, dataset: str) -> str:
    """Clean accuracies with intervals, the gap and consistency per protocol: one block of
    rows per condition."""
    summary = clean_table(summary)
    in_dataset = summary[summary["dataset"] == dataset]
    protocols = [p for p in ordered(in_dataset, "protocol") if p]
    header = ["operator", "train", "test", "gap"] + [f"cons.\\ {p}" for p in protocols]
    lines = [
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
    ]
    for condition in ordered(in_dataset, "condition"):
        group = in_dataset[in_dataset["condition"] == condition]
        lines += [
            r"\midrule",
            f"\\multicolumn{{{len(header)}}}{{l}}{{\\emph{{condition {latex_escape(condition)}}}}}"
            r" \\",
        ]
        for operator in present_operators(group):
            train = cell(summary, dataset, condition, operator, "accuracy_train")
            test = cell(summary, dataset, condition, operator, "accuracy_test")
            values = [
                op_tex(operator),
                fmt_ci(train),
                fmt_ci(test),
                fmt(train["mean"] - test["mean"]),
            ]
            values += [
                fmt_ci(cell(summary, dataset, condition, operator, "consistency", p))
                for p in protocols
            ]
            lines.append(" & ".join(values) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


STABILITY_COLUMNS = {
    "consistency": "cons.",
    "consistency_given_clean_correct": "cons.\\,$|$\\,clean ok",
    "consistency_given_one_correct": "both ok\\,$|$\\,one ok",
    "p_top1_change": "P(change)",
    "mean_abs_change": "MAC",
}


def stability_table(summary: pd.DataFrame, dataset: str, condition: str) -> str:
    """Consistency beside the measures that do not rise with accuracy alone, one block of rows
    per protocol: agreement among images whose clean view is correct, the share of pairs with
    both views correct among those with one, P(top-1 change) and MAC under a one-step shift."""
    summary = clean_table(summary)
    in_cell = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
    header = ["operator", *STABILITY_COLUMNS.values()]
    lines = [
        r"\begin{tabular}{l" + "r" * len(STABILITY_COLUMNS) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
    ]
    for protocol in [p for p in ordered(in_cell, "protocol") if p]:
        group = in_cell[in_cell["protocol"] == protocol]
        lines += [
            r"\midrule",
            f"\\multicolumn{{{len(header)}}}{{l}}{{\\emph{{{latex_escape(protocol)} shifts}}}}"
            r" \\",
        ]
        for operator in present_operators(group):
            values = [op_tex(operator)]
            for metric in STABILITY_COLUMNS:
                rows = group[(group["operator"] == operator) & (group["metric"] == metric)]
                values.append(fmt_ci(rows.iloc[0]) if len(rows) else "--")
            lines.append(" & ".join(values) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def comparison_sentence(row, metric_words: str, confidence: int = 95) -> str:
    """One generated claim: a difference is called one only when its interval excludes 0."""
    name = op_tex(row["operator"])
    interval = f"{confidence}\\% CI [{fmt_signed(row['ci_low'])}, {fmt_signed(row['ci_high'])}]"
    if math.isnan(row["ci_low"]):
        return (
            f"{name} differs from no pooling in {metric_words} by {fmt_signed(row['mean'])} "
            f"points (one seed: no interval, no claim)."
        )
    if row["significant"]:
        verb = "raises" if row["mean"] > 0 else "lowers"
        return (
            f"{name} {verb} {metric_words} by {fmt(abs(row['mean']))} points "
            f"relative to no pooling ({interval})."
        )
    return (
        f"{name} shows no significant difference in {metric_words} from no pooling "
        f"({fmt_signed(row['mean'])} points, {interval})."
    )


def findings_tex(paired: pd.DataFrame, dataset: str, confidence: int = 95) -> str:
    """Generated comparative sentences against the no-pooling baseline, per condition."""
    if paired.empty:
        return (
            f"The no-pooling baseline \\texttt{{{BASELINE}}} was not run, so no paired "
            "comparison is reported.\n"
        )
    rows = paired[(paired["dataset"] == dataset) & paired["dx"].isna()].copy()
    rows["protocol"] = rows["protocol"].fillna("")
    paragraphs = []
    for condition in ordered(rows, "condition"):
        in_condition = rows[rows["condition"] == condition]
        sentences = [f"\\emph{{Condition {latex_escape(condition)}.}}"]
        for operator in present_operators(in_condition):
            row = in_condition[
                (in_condition["operator"] == operator) & (in_condition["metric"] == "accuracy_test")
            ]
            if len(row):
                sentences.append(
                    comparison_sentence(row.iloc[0], "clean test accuracy", confidence)
                )
        consistency = in_condition[in_condition["metric"] == "consistency"]
        for protocol in ordered(consistency, "protocol"):
            for operator in present_operators(consistency):
                row = consistency[
                    (consistency["operator"] == operator) & (consistency["protocol"] == protocol)
                ]
                if len(row):
                    words = f"{protocol}-shift consistency"
                    sentences.append(comparison_sentence(row.iloc[0], words, confidence))
        paragraphs.append("\n".join(sentences) + "\n")
    return "\n".join(paragraphs)


def identical_protocols_tex(summary: pd.DataFrame, dataset: str) -> str:
    """A generated remark when two shift protocols gave exactly the same numbers for every
    condition, model, shift and metric (e.g. when no object crosses the canvas border)."""
    shifted = summary[(summary["dataset"] == dataset) & (summary["protocol"] != "")]
    keys = ["condition", "operator", "metric", "dx", "dy"]
    by_protocol = {
        protocol: group.set_index(keys)["mean"].sort_index()
        for protocol, group in shifted.groupby("protocol", sort=False)
    }
    names = list(by_protocol)
    pairs = [
        (a, b)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        if by_protocol[a].index.equals(by_protocol[b].index)
        and (by_protocol[a] - by_protocol[b]).abs().max() == 0
    ]
    return "".join(
        f"\nThe {a} and {b} protocols gave identical results for every model and shift: "
        "within these shifts no part of the object crosses the image border, so what wraps "
        "around is background either way.\n"
        for a, b in pairs
    )


def contrast_sentence(result: dict | None, subject: str, words: str, confidence: int) -> str:
    """A generated claim about a paired difference; empty when it could not be computed."""
    if result is None:
        return ""
    interval = (
        f"{confidence}\\% CI [{fmt_signed(result['ci_low'])}, {fmt_signed(result['ci_high'])}]"
    )
    if math.isnan(result["ci_low"]):
        return f"{subject}: {fmt_signed(result['mean'])} points in {words} (one seed: no claim)."
    if result["significant"]:
        verb = "raises" if result["mean"] > 0 else "lowers"
        return f"{subject} {verb} {words} by {fmt(abs(result['mean']))} points ({interval})."
    return (
        f"{subject} makes no significant difference to {words} "
        f"({fmt_signed(result['mean'])} points, {interval})."
    )


def controls_tex(
    observations: pd.DataFrame, models: pd.DataFrame, dataset: str, confidence: int = 95
) -> str:
    """One generated paragraph per control: parameters and head, receptive field, and what
    pooling computes apart from how much it shrinks the map (\\texttt{maxbroadcast})."""
    obs = observations[observations["dataset"] == dataset]
    runs = models[models["dataset"] == dataset]
    conditions = ordered(runs, "condition")
    primary = conditions[0]
    level = confidence / 100

    def compare(first: dict, second: dict) -> dict | None:
        return contrast(obs, "accuracy_test", first, second, level)

    def value(condition: str, operator: str, column: str):
        rows = runs[(runs["condition"] == condition) & (runs["operator"] == operator)]
        return rows[column].iloc[0] if len(rows) else None

    def at(operator: str) -> dict:
        return {"condition": primary, "operator": operator}

    def claim(first: str, second: str, subject: str) -> str:
        """The sentence for operator ``first`` minus ``second`` under the primary condition."""
        return contrast_sentence(
            compare(at(first), at(second)), subject, "clean test accuracy", confidence
        )

    paragraphs = []
    heads = []
    for condition in conditions:
        counts = {op: value(condition, op, "parameters") for op in ("none", "max", "stride")}
        if counts["none"] is None or counts["max"] is None:
            continue
        text = (
            f"Under \\texttt{{{latex_escape(condition)}}} the network has "
            f"{int(counts['none']):,} parameters without pooling and {int(counts['max']):,} "
            "with max pooling"
        )
        if counts["stride"] is not None:
            text += f"; strided convolutions bring {int(counts['stride']):,}"
        heads.append(text + ".")
    for condition in conditions[1:]:
        for operator in ("none", "max"):
            subject = (
                f"For {op_tex(operator)}, condition \\texttt{{{latex_escape(condition)}}} "
                f"instead of \\texttt{{{latex_escape(primary)}}}"
            )
            sentence = contrast_sentence(
                compare({"condition": condition, "operator": operator}, at(operator)),
                subject,
                "clean test accuracy",
                confidence,
            )
            if sentence:
                heads.append(sentence)
    if heads:
        paragraphs.append("\\paragraph{Parameters and the head.}\n" + "\n".join(heads))

    fields = {op: value(primary, op, "receptive_field") for op in ("none", "none_rf", "max")}
    if all(v is not None for v in fields.values()):
        text = (
            f"Without pooling, a unit of the last stage sees {int(fields['none'])} pixels; with "
            f"max pooling, {int(fields['max'])}; the dilated network without pooling, "
            f"{int(fields['none_rf'])}. "
        )
        text += claim(
            "none_rf", "none", "Growing the receptive field by dilation instead of pooling"
        )
        text += " " + claim(
            "max", "none_rf", "Max pooling compared with that receptive-field-matched network"
        )
        paragraphs.append("\\paragraph{Receptive field.}\n" + text)

    if all(value(primary, op, "parameters") is not None for op in ("none", "max", "maxbroadcast")):
        text = claim(
            "maxbroadcast",
            "none",
            "Taking the 2$\\times$2 maximum without downsampling (\\texttt{maxbroadcast})",
        )
        text += " " + claim(
            "max",
            "maxbroadcast",
            "Downsampling after that maximum (\\texttt{max} against \\texttt{maxbroadcast})",
        )
        paragraphs.append("\\paragraph{What pooling computes, apart from shrinking.}\n" + text)
    if not paragraphs:
        return "The operators needed for the controls were not run.\n"
    return "\n\n".join(paragraphs) + "\n"


GAP_THRESHOLD = 1.0


def sweep_tex(sweep: pd.DataFrame, observed: pd.DataFrame, confidence: int = 95) -> str:
    """The data-size sweep, generated: for each augmentation setting, the smallest training
    set at which every operator's mean train-test gap is below one point, the operators'
    ranking by test accuracy there, and each operator against no pooling at that size."""
    if sweep.empty:
        return "No data-size sweep was configured for this run.\n"
    dataset = ordered(sweep, "dataset")[0]
    sizes = sorted(set(sweep["n_train"]))
    operators = present_operators(sweep)
    seeds = int(sweep["n"].max())
    parts = [
        f"On \\texttt{{{latex_escape(dataset)}}}, "
        + ", ".join(op_tex(op) for op in operators)
        + f" were trained on {', '.join(f'{n:,}' for n in sizes)} images "
        f"({seeds} seeds each)."
    ]
    for shift in sorted(set(sweep["augment_shift"])):
        setting = sweep[sweep["augment_shift"] == shift]
        gap = setting[setting["metric"] == "gap"]
        test = setting[setting["metric"] == "accuracy_test"]
        words = (
            f"With random translations of up to {shift} pixels"
            if shift
            else ("Without augmentation")
        )
        worst = gap.groupby("n_train")["mean"].max()
        below = [n for n in sizes if n in worst.index and worst[n] < GAP_THRESHOLD]
        if not below:
            largest = sizes[-1]
            row = gap[gap["n_train"] == largest].sort_values("mean").iloc[-1]
            parts.append(
                f"{words}, the train--test gap stays at or above {fmt(GAP_THRESHOLD)} point up "
                f"to the largest training set ({largest:,} images), where it is largest for "
                f"{op_tex(row['operator'])} ({fmt(row['mean'])} points)."
            )
            size = largest
        else:
            size = below[0]
            parts.append(
                f"{words}, the train--test gap is below {fmt(GAP_THRESHOLD)} point for every "
                f"operator from {size:,} training images on."
            )
        there = test[test["n_train"] == size].sort_values("mean", ascending=False)
        ranking = ", ".join(f"{op_tex(r['operator'])} ({fmt_ci(r)})" for _, r in there.iterrows())
        parts.append(f"Ranked by test accuracy at {size:,} images: {ranking}.")
        condition = there["condition"].iloc[0]
        for operator in operators:
            if operator == BASELINE or BASELINE not in operators:
                continue
            result = contrast(
                observed,
                "accuracy_test",
                {"condition": condition, "operator": operator},
                {"condition": condition, "operator": BASELINE},
                confidence / 100,
            )
            parts.append(
                contrast_sentence(
                    result,
                    f"There, {op_tex(operator)} against no pooling",
                    "clean test accuracy",
                    confidence,
                )
            )
    figures = "\n".join(
        [
            r"\begin{figure}[h]",
            r"\centering",
            r"\includegraphics[width=\linewidth]{sweep_accuracy}",
            r"\includegraphics[width=\linewidth]{sweep_gap}",
            f"\\caption{{Data-size sweep on \\texttt{{{latex_escape(dataset)}}}: test accuracy "
            "(top) and train$-$test gap (bottom; dashed: one point) against the number of "
            f"training images; bands: {confidence}\\,\\% intervals over seeds.}}",
            r"\label{fig:sweep}",
            r"\end{figure}",
        ]
    )
    return "\n".join(p for p in parts if p) + "\n\n" + figures + "\n"


def datasets_table(datasets: list[str]) -> str:
    lines = [r"\begin{tabular}{lp{8cm}}", r"\toprule", r"dataset & description \\", r"\midrule"]
    for name in datasets:
        entry = DATASETS[name]
        source = f" \\cite{{{entry.source}}}" if entry.source else ""
        lines.append(f"{latex_escape(name)} & {latex_escape(entry.summary)}{source} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def figure_inputs(figures_dir: str) -> str:
    """The figure folder as a LaTeX graphics path (relative to paper/)."""
    return f"\\graphicspath{{{{{figures_dir.rstrip('/')}/}}}}\n"


def write_paper_inputs(tables_dir, out_dir, settings: dict, figures_dir: str) -> list[str]:
    def read(name):
        return pd.read_csv(
            os.path.join(tables_dir, f"{name}.csv"), keep_default_na=False, na_values=[""]
        )

    names = ("observations", "summary", "paired", "models", "sweep_observations", "sweep")
    tables = {name: read(name) for name in names}
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
        "results_table.tex": results_table(tables["summary"], primary),
        "stability_table.tex": stability_table(
            tables["summary"], primary, ordered(tables["summary"], "condition")[0]
        ),
        "findings.tex": findings_tex(tables["paired"], primary, confidence)
        + identical_protocols_tex(tables["summary"], primary),
        "controls.tex": controls_tex(tables["observations"], tables["models"], primary, confidence),
        "sweep.tex": sweep_tex(tables["sweep"], tables["sweep_observations"], confidence),
        "graphics.tex": figure_inputs(figures_dir),
    }
    written = []
    for name, text in outputs.items():
        path = os.path.join(out_dir, name)
        write_text(path, text)
        written.append(path)
    return written
