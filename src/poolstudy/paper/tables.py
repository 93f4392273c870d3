"""The paper's generated tables: operators and their accounting, results, stability,
datasets."""

from __future__ import annotations

import math

import pandas as pd

from poolstudy.data import DATASETS
from poolstudy.data.glyphs import GlyphOptions, font_files
from poolstudy.paper.format import (
    cell,
    clean_table,
    fmt,
    fmt_ci,
    latex_escape,
    listed,
    op_tex,
    ordered,
    present_operators,
)
from poolstudy.pooling import OPERATORS


def operators_table(models: pd.DataFrame, condition: str) -> str:
    """Every operator that was run: what it is, its source, and the accounting of its network
    (forward MFLOPs per image, receptive field of the last stage, final feature-map size) under
    ``condition`` (the primary one), or, for an operator that condition did not train, under
    the first condition that did, named in its row. Parameters per condition are
    ``parameters_table``'s."""
    order = [condition, *ordered(models, "condition")]
    lines = [
        r"\begin{tabular}{lp{8.2cm}rrr}",
        r"\toprule",
        r"operator & what it does & MFLOPs & RF & final map \\",
        r"\midrule",
    ]
    for operator in present_operators(models):
        runs = models[models["operator"] == operator]
        shown = next(c for c in order if (runs["condition"] == c).any())
        run = runs[runs["condition"] == shown].iloc[0]
        cls = OPERATORS[operator]
        source = f" \\cite{{{cls.source}}}" if cls.source else ""
        under = "" if shown == condition else f" (under \\texttt{{{latex_escape(shown)}}})"
        size = int(run["final_feature_map"])
        lines.append(
            f"{op_tex(operator)} & {latex_escape(cls.summary)}{source}{under} & "
            f"{fmt(run['flops'] / 1e6, 2)} & "
            f"{int(run['receptive_field'])} & {size}$\\times${size} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def parameters_table(models: pd.DataFrame) -> str:
    """Parameters of each operator's network per condition (the head changes them), ``--``
    where a condition did not train the operator."""
    conditions = ordered(models, "condition")
    params = models.drop_duplicates(["condition", "operator"]).set_index(["condition", "operator"])[
        "parameters"
    ]
    headers = " & ".join(f"\\texttt{{{latex_escape(c)}}}" for c in conditions)
    lines = [
        r"\begin{tabular}{l" + "r" * len(conditions) + "}",
        r"\toprule",
        f" & \\multicolumn{{{len(conditions)}}}{{c}}{{parameters under condition}} \\\\",
        f"\\cmidrule(l){{2-{len(conditions) + 1}}}",
        f"operator & {headers} \\\\",
        r"\midrule",
    ]
    for operator in present_operators(models):
        counts = " & ".join(
            f"{int(params[(c, operator)]):,}" if (c, operator) in params.index else "--"
            for c in conditions
        )
        lines.append(f"{op_tex(operator)} & {counts} \\\\")
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


def condition_blocks(in_dataset: pd.DataFrame, columns: int, row) -> list[str]:
    """Table rows in one block per condition (a heading row, then ``row(condition, operator)``
    per operator the condition trained)."""
    lines = []
    for condition in ordered(in_dataset, "condition"):
        group = in_dataset[in_dataset["condition"] == condition]
        lines += [
            r"\midrule",
            f"\\multicolumn{{{columns}}}{{l}}{{\\emph{{condition {latex_escape(condition)}}}}}"
            r" \\",
        ]
        for operator in present_operators(group):
            lines.append(" & ".join(row(condition, operator)) + r" \\")
    return lines


def results_table(
    summary: pd.DataFrame, dataset: str, bootstrap: pd.DataFrame | None = None
) -> str:
    """Clean accuracies with intervals over seeds, the test accuracy's interval over test
    images (bootstrap, networks fixed) and the gap: one block of rows per condition."""
    summary = clean_table(summary)
    in_dataset = summary[summary["dataset"] == dataset]
    header = ["operator", "train", "test", "test (images)", "gap"]

    def row(condition, operator):
        train = cell(summary, dataset, condition, operator, "accuracy_train")
        test = cell(summary, dataset, condition, operator, "accuracy_test")
        return [
            op_tex(operator),
            fmt_ci(train),
            fmt_ci(test),
            bootstrap_interval(bootstrap, dataset, condition, operator),
            fmt(train["mean"] - test["mean"]),
        ]

    lines = [
        r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        r"\toprule",
        " & ".join(header) + r" \\",
        *condition_blocks(in_dataset, len(header), row),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def shift_protocols(in_dataset: pd.DataFrame) -> list[str]:
    """The shift protocols evaluated on a dataset, the placement protocol left to its figure."""
    return [p for p in ordered(in_dataset, "protocol") if p and p != "placement"]


def consistency_table(summary: pd.DataFrame, dataset: str) -> str:
    """Consistency per shift protocol (mean $\\pm$ half-width over seeds), one block of rows
    per condition that evaluated one (a condition of clean accuracy alone, such as a run at
    half the budget, would be a block of dashes), ``--`` where a condition did not evaluate a
    protocol."""
    summary = clean_table(summary)
    in_dataset = summary[summary["dataset"] == dataset]
    protocols = shift_protocols(in_dataset)
    if not protocols:
        return "\\emph{No shift protocol was evaluated on this dataset.}\n"
    consistency = in_dataset[in_dataset["metric"] == "consistency"]
    in_dataset = in_dataset[in_dataset["condition"].isin(set(consistency["condition"]))]

    def row(condition, operator):
        values = [op_tex(operator)]
        for protocol in protocols:
            rows = consistency[
                (consistency["condition"] == condition)
                & (consistency["operator"] == operator)
                & (consistency["protocol"] == protocol)
            ]
            values.append(fmt_ci(rows.iloc[0]) if len(rows) else "--")
        return values

    lines = [
        r"\begin{tabular}{l" + "r" * len(protocols) + "}",
        r"\toprule",
        " & ".join(["operator", *map(latex_escape, protocols)]) + r" \\",
        *condition_blocks(in_dataset, len(protocols) + 1, row),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


STABILITY_COLUMNS = {
    "consistency": "cons.",
    "consistency_given_clean_correct": "cons.\\,$|$\\,clean ok",
    "consistency_given_one_correct": "both ok\\,$|$\\,one ok",
    "p_top1_change": "P(change)",
    "mean_abs_change": "MAC",
}


def comparable(value: float) -> float | None:
    """``value`` rounded to nine decimals (float noise aside), None for a missing one: NaN
    (no interval from too few seeds) equals no other NaN, and would make equal columns
    differ."""
    return None if math.isnan(value) else round(value, 9)


def coinciding_columns(in_cell: pd.DataFrame, protocols: list[str]) -> dict[str, list[str]]:
    """For each stability measure, the protocols under which its column is identical (every
    operator's mean and interval equal), when there are at least two such protocols."""
    found = {}
    for metric in STABILITY_COLUMNS:
        columns: dict[tuple, list[str]] = {}
        for protocol in protocols:
            rows = in_cell[(in_cell["metric"] == metric) & (in_cell["protocol"] == protocol)]
            if rows.empty:
                continue
            key = tuple(
                sorted(
                    (r.operator, *(comparable(v) for v in (r.mean, r.ci_low, r.ci_high)))
                    for r in rows.itertuples()
                )
            )
            columns.setdefault(key, []).append(protocol)
        same = [names for names in columns.values() if len(names) > 1]
        if same:
            found[metric] = same[0]
    return found


def coincidence_note(found: dict[str, list[str]]) -> str:
    """The caption's sentence on columns that coincide across protocols, and why."""
    if not found:
        return ""
    by_protocols: dict[tuple, list[str]] = {}
    for metric, protocols in found.items():
        by_protocols.setdefault(tuple(protocols), []).append(STABILITY_COLUMNS[metric])
    parts = []
    for protocols, names in by_protocols.items():
        verb = "coincide" if len(names) > 1 else "coincides"
        protocols_tex = listed(map(latex_escape, protocols))
        parts.append(f"{listed(names)} {verb} under the {protocols_tex} protocols")
    sentence = "; ".join(parts)
    return (
        " " + sentence[0].upper() + sentence[1:] + ": these protocols differ only in "
        "what enters the image across its border, so they coincide wherever that is the same "
        "under each of them for the shifts these measures use (background, where the image's "
        "margin is at least as wide as the shift)."
    )


def stability_rows(in_cell: pd.DataFrame, protocol: str) -> list[str]:
    group = in_cell[in_cell["protocol"] == protocol]
    lines = []
    for operator in present_operators(group):
        values = [op_tex(operator)]
        for metric in STABILITY_COLUMNS:
            rows = group[(group["operator"] == operator) & (group["metric"] == metric)]
            values.append(fmt_ci(rows.iloc[0]) if len(rows) else "--")
        lines.append(" & ".join(values) + r" \\")
    return lines


def stability_table(summary: pd.DataFrame, dataset: str, condition: str) -> str:
    """Consistency beside the measures that control for parts of accuracy, under the first
    shift protocol of the cell: agreement among images whose clean view is correct, the share
    of pairs with both views correct among those with one, P(top-1 change) and MAC under a
    one-step shift. A tabular for the body; every protocol is ``stability_appendix``'s."""
    summary = clean_table(summary)
    in_cell = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
    protocols = shift_protocols(in_cell)
    if not protocols:
        return "\\emph{No shift protocol was evaluated under this condition.}\n"
    lines = [
        r"\begin{tabular}{l" + "r" * len(STABILITY_COLUMNS) + "}",
        r"\toprule",
        " & ".join(["operator", *STABILITY_COLUMNS.values()]) + r" \\",
        r"\midrule",
        *stability_rows(in_cell, protocols[0]),
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def stability_protocol(summary: pd.DataFrame, dataset: str, condition: str) -> str:
    """The protocol ``stability_table`` shows (for its caption)."""
    summary = clean_table(summary)
    in_cell = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
    protocols = shift_protocols(in_cell)
    return protocols[0] if protocols else ""


def stability_appendix(
    summary: pd.DataFrame, dataset: str, condition: str, confidence: str | int
) -> str:
    """Every protocol's stability measures, one block of rows per protocol: a ``longtable``
    with its caption (label ``tab:stability-all``), which says which columns coincide across
    protocols and why."""
    summary = clean_table(summary)
    in_cell = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
    protocols = shift_protocols(in_cell)
    if not protocols:
        return "No shift protocol was evaluated under the primary condition.\n"
    header = " & ".join(["operator", *STABILITY_COLUMNS.values()]) + r" \\"
    caption = (
        f"\\caption{{Shift stability on {latex_escape(dataset)}, condition "
        f"\\texttt{{{latex_escape(condition)}}}, under every protocol (mean $\\pm$ half-width "
        f"of the {confidence}\\,\\% interval over seeds; percentages, MAC in points)."
        f"{coincidence_note(coinciding_columns(in_cell, protocols))}}}"
        "\\label{tab:stability-all}\\\\"
    )
    lines = [
        "Table~\\ref{tab:stability-all} gives the stability measures under every protocol.\n",
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
    for index, protocol in enumerate(protocols):
        if index:
            lines.append(r"\midrule")
        lines.append(
            f"\\multicolumn{{{len(STABILITY_COLUMNS) + 1}}}{{l}}"
            f"{{\\emph{{{latex_escape(protocol)} shifts}}}} \\\\"
        )
        lines += stability_rows(in_cell, protocol)
    lines.append(r"\end{longtable}")
    return "\n".join(lines) + "\n"


def glyphs_summary(options: dict) -> str:
    """The procedural glyphs as its options made them (the registry's summary names digits,
    the default class set)."""
    glyphs = GlyphOptions.from_dict(options)
    return (
        f"{len(glyphs.chars)} procedural {glyphs.classes} from {len(font_files())} matplotlib "
        f"fonts, randomly deformed (unlimited): glyphs of {glyphs.size:g} pixels on a "
        f"{glyphs.canvas}-pixel canvas, noise {glyphs.noise:g}, background {glyphs.background:g}; "
        f"{glyphs.n_train:,} training and {glyphs.n_test:,} test images"
    )


def datasets_table(datasets: list[str], options: dict | None = None) -> str:
    """Each dataset's summary and source; the glyphs' as ``options[name]`` (its
    ``data.options``) made them."""
    options = options or {}
    lines = [r"\begin{tabular}{lp{8cm}}", r"\toprule", r"dataset & description \\", r"\midrule"]
    for name in datasets:
        entry = DATASETS[name]
        source = f" \\cite{{{entry.source}}}" if entry.source else ""
        summary = glyphs_summary(options.get(name) or {}) if name == "glyphs" else entry.summary
        lines.append(f"{latex_escape(name)} & {latex_escape(summary)}{source} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
