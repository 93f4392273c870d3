"""The paper's generated tables: operators and their accounting, results, stability,
datasets."""

from __future__ import annotations

import pandas as pd

from poolstudy.data import DATASETS
from poolstudy.paper.format import (
    cell,
    clean_table,
    fmt,
    fmt_ci,
    latex_escape,
    op_tex,
    ordered,
    present_operators,
)
from poolstudy.pooling import OPERATORS


def operators_table(models: pd.DataFrame) -> str:
    """Every operator that was run: what it is, its source, and the accounting of its network
    (parameters per condition, since the head changes them, ``--`` where a condition did not
    train it; the rest from the first condition)."""
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
        counts = " & ".join(
            f"{int(params[(c, operator)]):,}" if (c, operator) in params.index else "--"
            for c in conditions
        )
        lines.append(
            f"{op_tex(operator)} & {latex_escape(cls.summary)}{source} & {counts} & "
            f"{fmt(run['flops'] / 1e6, 2)} & "
            f"{int(run['receptive_field'])} & {size}$\\times${size} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def bootstrap_interval(bootstrap: pd.DataFrame | None, dataset, condition, operator) -> str:
    """``[low, high]`` of the bootstrap over test images, ``--`` when there is none."""
    if bootstrap is None or bootstrap.empty:
        return "--"
    rows = bootstrap[
        (bootstrap["dataset"] == dataset)
        & (bootstrap["condition"] == condition)
        & (bootstrap["operator"] == operator)
    ]
    if rows.empty:
        return "--"
    row = rows.iloc[0]
    return f"[{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def results_table(
    summary: pd.DataFrame, dataset: str, bootstrap: pd.DataFrame | None = None
) -> str:
    """Clean accuracies with intervals over seeds, the test accuracy's interval over test
    images (bootstrap, networks fixed), the gap and consistency per protocol: one block of
    rows per condition. The placement protocol is left to its own figure."""
    summary = clean_table(summary)
    in_dataset = summary[summary["dataset"] == dataset]
    protocols = [p for p in ordered(in_dataset, "protocol") if p and p != "placement"]
    header = ["operator", "train", "test", "test (images)", "gap"]
    header += [f"cons.\\ {p}" for p in protocols]
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
                bootstrap_interval(bootstrap, dataset, condition, operator),
                fmt(train["mean"] - test["mean"]),
            ]
            for protocol in protocols:
                rows = in_dataset[
                    (in_dataset["condition"] == condition)
                    & (in_dataset["operator"] == operator)
                    & (in_dataset["metric"] == "consistency")
                    & (in_dataset["protocol"] == protocol)
                ]
                values.append(fmt_ci(rows.iloc[0]) if len(rows) else "--")
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


def stability_table(
    summary: pd.DataFrame, dataset: str, condition: str, confidence: int = 95
) -> str:
    """Consistency beside the measures that do not rise with accuracy alone, one block of rows
    per protocol: agreement among images whose clean view is correct, the share of pairs with
    both views correct among those with one, P(top-1 change) and MAC under a one-step shift.
    A ``longtable`` with its caption (label ``tab:stability``), since with many protocols and
    operators it is longer than a page."""
    summary = clean_table(summary)
    in_cell = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
    header = " & ".join(["operator", *STABILITY_COLUMNS.values()]) + r" \\"
    caption = (
        f"\\caption{{Shift stability on {latex_escape(dataset)}, condition "
        f"\\texttt{{{latex_escape(condition)}}} (mean $\\pm$ half-width of the {confidence}\\,\\% "
        "interval over seeds; percentages).}\\label{tab:stability}\\\\"
    )
    lines = [
        r"\begin{longtable}{l" + "r" * len(STABILITY_COLUMNS) + "}",
        caption,
        r"\toprule",
        header,
        r"\midrule",
        r"\endfirsthead",
        r"\toprule",
        header,
        r"\midrule",
        r"\endhead",
        r"\bottomrule",
        r"\endfoot",
    ]
    first = True
    for protocol in [p for p in ordered(in_cell, "protocol") if p]:
        group = in_cell[in_cell["protocol"] == protocol]
        if not first:
            lines.append(r"\midrule")
        first = False
        lines.append(
            f"\\multicolumn{{{len(STABILITY_COLUMNS) + 1}}}{{l}}"
            f"{{\\emph{{{latex_escape(protocol)} shifts}}}} \\\\"
        )
        for operator in present_operators(group):
            values = [op_tex(operator)]
            for metric in STABILITY_COLUMNS:
                rows = group[(group["operator"] == operator) & (group["metric"] == metric)]
                values.append(fmt_ci(rows.iloc[0]) if len(rows) else "--")
            lines.append(" & ".join(values) + r" \\")
    lines.append(r"\end{longtable}")
    return "\n".join(lines) + "\n"


def datasets_table(datasets: list[str]) -> str:
    lines = [r"\begin{tabular}{lp{8cm}}", r"\toprule", r"dataset & description \\", r"\midrule"]
    for name in datasets:
        entry = DATASETS[name]
        source = f" \\cite{{{entry.source}}}" if entry.source else ""
        lines.append(f"{latex_escape(name)} & {latex_escape(entry.summary)}{source} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
