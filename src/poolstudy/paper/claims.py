"""The paper's generated sentences and the paired-comparison table: every comparative claim
words a row that ``analyze`` computed (``paired.csv``, ``contrasts.csv``, ``sweep.csv``); a
difference is called one only when that row's interval excludes zero. Nothing here computes an
interval or a test."""

from __future__ import annotations

import math

import pandas as pd

from poolstudy.paper.format import (
    BASELINE,
    ci_text,
    fmt,
    fmt_beside,
    fmt_ci,
    fmt_ends,
    fmt_estimate,
    fmt_exact,
    fmt_signed,
    latex_escape,
    op_tex,
    ordered,
    places,
    plural,
    present_operators,
)
from poolstudy.stats import MIN_SEEDS


def comparison_sentence(row, metric_words: str, confidence: str | int) -> str:
    """One generated claim: a difference is called one only when its interval excludes 0."""
    name = op_tex(row["operator"])
    if math.isnan(row["ci_low"]):
        return (
            f"{name} differs from no pooling in {metric_words} by {fmt_signed(row['mean'])} "
            f"points ({plural(int(row['n']), 'seed')}: no interval, no claim)."
        )
    interval = ci_text(row["ci_low"], row["ci_high"], confidence)
    digits = mean_places(row)
    if row["significant"]:
        verb = "raises" if row["mean"] > 0 else "lowers"
        return (
            f"{name} {verb} {metric_words} by {fmt(abs(row['mean']), digits)} points "
            f"relative to no pooling ({interval})."
        )
    return (
        f"{name} shows no significant difference in {metric_words} from no pooling "
        f"({fmt_signed(row['mean'], digits)} points, {interval})."
    )


def mean_places(row) -> int:
    """The decimal places of a paired difference's mean: one, or as many as the printed ends
    of its interval needed (``fmt_estimate``), so that it prints inside them and the same
    wherever it is quoted (``paired_cell``, the sentences)."""
    return places(fmt_estimate(row["mean"], *fmt_ends(row["ci_low"], row["ci_high"])))


def paired_cell(row) -> str:
    """``+2.0 [+1.0, +3.0]``, marked with an asterisk when the interval excludes zero;
    ``+2.0 (2 seeds)`` where too few seeds give no interval."""
    if math.isnan(row["ci_low"]):
        return f"{fmt_signed(row['mean'])} ({plural(int(row['n']), 'seed')})"
    mark = "$^{*}$" if row["significant"] else ""
    # each end on its side of zero, which the asterisk is about
    low, high = fmt_ends(row["ci_low"], row["ci_high"])
    return f"{fmt_estimate(row['mean'], low, high)} [{low}, {high}]{mark}"


def paired_table(paired: pd.DataFrame, dataset: str, confidence: str | int) -> str:
    """Every operator against no pooling, paired by seed (``paired.csv``), in clean test
    accuracy and in consistency per protocol: a ``longtable`` with one block per condition,
    its caption and label ``tab:paired``."""
    if paired.empty:
        return (
            f"The no-pooling baseline \\texttt{{{BASELINE}}} was not run, so there is no paired "
            "comparison with it.\n"
        )
    rows = paired[(paired["dataset"] == dataset) & paired["dx"].isna()].copy()
    rows["protocol"] = rows["protocol"].fillna("")
    if rows.empty:
        return (
            f"No condition on {latex_escape(dataset)} trained the no-pooling baseline "
            f"\\texttt{{{BASELINE}}}, so there is no paired comparison with it.\n"
        )
    consistency = rows[rows["metric"] == "consistency"]
    protocols = [p for p in ordered(consistency, "protocol") if p != "placement"]
    columns = [("accuracy_test", ""), *(("consistency", p) for p in protocols)]
    header = " & ".join(
        ["operator", "test accuracy", *(f"cons.\\ {latex_escape(p)}" for p in protocols)]
    )
    caption = (
        f"\\caption{{Every operator minus no pooling (\\texttt{{{BASELINE}}}) on "
        f"{latex_escape(dataset)}, paired by seed: mean difference in points and its "
        f"{confidence}\\,\\% interval; $^{{*}}$: the interval excludes zero. Not adjusted for "
        "multiple comparisons; the primary contrasts (Table~\\ref{tab:contrasts}) are.}"
        "\\label{tab:paired}\\\\"
    )
    lines = [
        "Table~\\ref{tab:paired} compares every operator with no pooling, condition by "
        "condition.\n",
        r"\begin{longtable}{l" + "r" * (len(columns)) + "}",
        caption,
        r"\toprule",
        header + r" \\",
        r"\midrule",
        r"\endfirsthead",
        r"\toprule",
        header + r" \\",
        r"\midrule",
        r"\endhead",
        r"\bottomrule",
        r"\endfoot",
    ]
    for index, condition in enumerate(ordered(rows, "condition")):
        in_condition = rows[rows["condition"] == condition]
        if index:
            lines.append(r"\midrule")
        lines.append(
            f"\\multicolumn{{{len(columns) + 1}}}{{l}}"
            f"{{\\emph{{condition {latex_escape(condition)}}}}} \\\\"
        )
        for operator in present_operators(in_condition):
            values = [op_tex(operator)]
            for metric, protocol in columns:
                found = in_condition[
                    (in_condition["operator"] == operator)
                    & (in_condition["metric"] == metric)
                    & (in_condition["protocol"] == protocol)
                ]
                values.append(paired_cell(found.iloc[0]) if len(found) else "--")
            lines.append(" & ".join(values) + r" \\")
    lines.append(r"\end{longtable}")
    return "\n".join(lines) + "\n"


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
        if identical(by_protocol[a], by_protocol[b])
    ]
    return "".join(
        f"\nThe {latex_escape(a)} and {latex_escape(b)} protocols gave identical results for "
        "every model and shift: within these shifts no part of the object crosses the image "
        "border, so what enters the image is background under both.\n"
        for a, b in pairs
    )


def identical(first: pd.Series, second: pd.Series) -> bool:
    """Whether two protocols' means are the same numbers for the same keys: a mean that one
    of them lacks (NaN) is no match (``max`` would skip it), and one that both lack is none
    that could be checked."""
    return (
        first.index.equals(second.index)
        and first.isna().equals(second.isna())
        and bool((first - second).abs().max(skipna=False) == 0)
    )


REGION_WORDS = {
    "left": "with its centre in the left half of the canvas",
    "centre": "at the centre of the canvas only",
    "everywhere": "anywhere on the canvas",
}


def placement_tex(
    summary: pd.DataFrame,
    paired: pd.DataFrame,
    models: pd.DataFrame,
    dataset: str,
    confidence: str | int,
) -> str:
    """The placement experiment, generated: per placement condition, accuracy at the positions
    training used, at the others and the drop between them (which, unlike the accuracy
    outside, does not rise with accuracy alone), and each operator against no pooling on the
    last two."""
    placed = models[(models["dataset"] == dataset) & (models["placement_region"].fillna("") != "")]
    if placed.empty:
        return "No placement condition was run.\n"
    parts = []
    for condition in ordered(placed, "condition"):
        run = placed[placed["condition"] == condition].iloc[0]
        cells = summary[(summary["dataset"] == dataset) & (summary["condition"] == condition)]
        region = str(run["placement_region"])
        text = (
            f"\\emph{{Condition {latex_escape(condition)}.}} Each image was centred on a "
            f"{int(run['placement_canvas'])}-pixel black canvas; training placed it "
            f"{REGION_WORDS.get(region, region)}, and testing placed every test image at every "
            "position of a grid over the whole canvas (Figure~\\ref{fig:placement})."
        )
        for metric, words in (
            ("accuracy_placed_outside", "Accuracy at positions training never used"),
            ("accuracy_placed_inside", "At the trained positions"),
            ("accuracy_placed_drop", "The drop from trained to untrained positions (points)"),
        ):
            rows = cells[cells["metric"] == metric].sort_values("mean", ascending=False)
            if len(rows):
                ranked = ", ".join(
                    f"{op_tex(r['operator'])} {fmt_ci(r)}" for _, r in rows.iterrows()
                )
                text += f" {words}, highest first: {ranked}."
        paired_rows = paired[(paired["dataset"] == dataset) & (paired["condition"] == condition)]
        sentences = []
        for metric, words in (
            ("accuracy_placed_outside", "accuracy at untrained positions"),
            ("accuracy_placed_drop", "the drop at untrained positions"),
        ):
            for _, row in paired_rows[paired_rows["metric"] == metric].iterrows():
                sentences.append(comparison_sentence(row, words, confidence))
        parts.append(" ".join([text, *sentences]))
    figure = "\n".join(
        [
            r"\begin{figure}[tbp]",
            r"\centering",
            r"\psgraphic{placement}",
            "\\caption{Placement: test accuracy against the horizontal offset of the object "
            "from the canvas centre (mean over vertical offsets); shaded: the offsets training "
            f"drew from; bands: {confidence}\\,\\% intervals over seeds. Where the lines fall "
            "outside the shaded offsets, the networks fail to recognise the object where "
            "training never put it. \\psdrawn{placement}}",
            r"\label{fig:placement}",
            r"\end{figure}",
        ]
    )
    return "\n\n".join(parts) + "\n\n" + figure + "\n"


def difference_sentence(result, subject: str, words: str, confidence: str | int) -> str:
    """A paired difference that ``analyze`` computed (a row of ``paired.csv``, with its
    ``significant`` flag), in words; empty when there is none."""
    if result is None:
        return ""
    if math.isnan(result["ci_low"]):
        mean = fmt_signed(result["mean"])
        return (
            f"{subject}: {mean} points in {words} ({plural(int(result['n']), 'seed')}: no claim)."
        )
    interval = ci_text(result["ci_low"], result["ci_high"], confidence)
    digits = mean_places(result)
    if result["significant"]:
        verb = "raises" if result["mean"] > 0 else "lowers"
        mean = fmt(abs(result["mean"]), digits)
        return f"{subject} {verb} {words} by {mean} points ({interval})."
    return (
        f"{subject} makes no significant difference to {words} "
        f"({fmt_signed(result['mean'], digits)} points, {interval})."
    )


def comparable_conditions(models: pd.DataFrame) -> list[str]:
    """The conditions whose networks see the same images as the primary condition's (no
    placement canvas): only between these is a difference in accuracy a difference between
    networks rather than between test sets."""
    canvas = models.get("placement_canvas", pd.Series(dtype=float))
    plain = models[canvas.isna()] if len(canvas) else models
    return [c for c in ordered(plain, "condition")]


def controls_tex(
    contrasts: pd.DataFrame,
    paired: pd.DataFrame,
    models: pd.DataFrame,
    dataset: str,
    confidence: str | int,
    condition: str | None = None,
) -> str:
    """One generated paragraph per control: parameters and head, receptive field, and what
    pooling computes apart from how much it shrinks the map (\\texttt{maxbroadcast}, against
    \\texttt{none\\_rf} where a contrast tested that, else against no pooling). The
    counts come from ``models.csv``; every comparison is a row of ``contrasts.csv`` (worded by
    its verdict) or of ``paired.csv`` (against no pooling); a comparison that neither table
    holds is not made. Conditions with a placement canvas are left out: their test images
    differ. ``condition``: the primary condition (``primary.condition``), else the first."""
    from poolstudy.paper.contrasts import contrast_sentence

    runs = models[models["dataset"] == dataset]
    if runs.empty:
        return "The operators needed for the controls were not run.\n"
    primary = condition or ordered(runs, "condition")[0]
    comparable = comparable_conditions(runs)
    found = contrasts[contrasts["dataset"] == dataset] if len(contrasts) else contrasts
    clean = paired[(paired["dataset"] == dataset) & paired["dx"].isna()] if len(paired) else paired

    def value(condition: str, operator: str, column: str):
        rows = runs[(runs["condition"] == condition) & (runs["operator"] == operator)]
        return rows[column].iloc[0] if len(rows) else None

    def declared(first: tuple[str, str], second: tuple[str, str]) -> pd.DataFrame:
        """The rows of ``contrasts.csv`` that are first - second."""
        if not len(found):
            return found
        return found[
            (found["first_condition"] == first[0])
            & (found["first_operator"] == first[1])
            & (found["second_condition"] == second[0])
            & (found["second_operator"] == second[1])
        ]

    def tested(first: tuple[str, str], second: tuple[str, str]) -> bool:
        """Whether ``contrasts.csv`` holds first - second with the seeds a test takes."""
        rows = declared(first, second)
        return bool(len(rows)) and bool((rows["n"] >= MIN_SEEDS).any())

    def claim(first: tuple[str, str], second: tuple[str, str], subject: str = "") -> str:
        """first - second, each (condition, operator), from the tables; '' when absent.
        ``subject`` words a row of ``paired.csv``, which only compares with no pooling
        within one condition: the comparisons that can fall back to it name one."""
        rows = declared(first, second)
        if len(rows):
            return contrast_sentence(next(rows.itertuples()), str(confidence))
        if subject and second[1] == BASELINE and first[0] == second[0] and len(clean):
            rows = clean[
                (clean["condition"] == first[0])
                & (clean["operator"] == first[1])
                & (clean["metric"] == "accuracy_test")
            ]
            if len(rows):
                return difference_sentence(rows.iloc[0], subject, "clean test accuracy", confidence)
        return ""

    paragraphs = []
    heads = []
    for condition in comparable:
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
    for condition in comparable:
        if condition == primary:
            continue
        for operator in ("none", "max"):
            sentence = claim((condition, operator), (primary, operator))
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
            (primary, "none_rf"),
            (primary, "none"),
            "Growing the receptive field by dilation instead of pooling",
        )
        text += " " + claim((primary, "max"), (primary, "none_rf"))
        paragraphs.append("\\paragraph{Receptive field.}\n" + text.strip())

    if value(primary, "maxbroadcast", "parameters") is not None:
        # against the network of pooling's receptive field where a contrast tested it; else
        # against no pooling, from the paired table
        same_field = ((primary, "maxbroadcast"), (primary, "none_rf"))
        text = (
            claim(*same_field)
            if tested(*same_field)
            else claim(
                (primary, "maxbroadcast"),
                (primary, "none"),
                "Taking the 2$\\times$2 maximum without downsampling (\\texttt{maxbroadcast})",
            )
        )
        text += " " + claim((primary, "max"), (primary, "maxbroadcast"))
        if text.strip():
            paragraphs.append(
                "\\paragraph{What pooling computes, apart from shrinking.}\n" + text.strip()
            )
    if not paragraphs:
        return (
            "The controls of the primary contrasts are in Section~\\ref{sec:answer}; this run "
            f"trained no further control on {latex_escape(dataset)}.\n"
        )
    return "\n\n".join(paragraphs) + "\n"


def sizes_without_overfitting(
    setting: pd.DataFrame, sizes: list[int], gap_threshold: float, fit_floor: float
) -> list[int]:
    """The sizes N such that at N and at every larger size every operator's mean train-test
    gap is below ``gap_threshold`` and at least one operator fits its training set to
    ``fit_floor`` (mean clean train accuracy). The second condition keeps a small gap that only
    says that the training budget was too short for any network to fit the data from counting
    as the absence of overfitting; an operator that stays below the floor where another
    reaches it is named as underfitting (``underfitting_operators``)."""

    def means(metric):
        rows = setting[setting["metric"] == metric]
        return rows.groupby("n_train")["mean"]

    worst_gap, best_fit = means("gap").max(), means("accuracy_train").max()

    def free(n):
        return (
            n in worst_gap.index
            and n in best_fit.index
            and worst_gap[n] < gap_threshold
            and best_fit[n] >= fit_floor
        )

    return [n for n in sizes if all(free(m) for m in sizes if m >= n)]


def underfitting_operators(setting: pd.DataFrame, size: int, fit_floor: float) -> pd.DataFrame:
    """Rows of mean clean train accuracy below ``fit_floor`` at ``size``, lowest first."""
    fit = setting[(setting["metric"] == "accuracy_train") & (setting["n_train"] == size)]
    return fit[fit["mean"] < fit_floor].sort_values("mean")


def sweep_tex(
    sweep: pd.DataFrame,
    confidence: str | int,
    gap_threshold: float,
    fit_floor: float,
    steps=None,
) -> str:
    """The data-size sweep, generated: for each augmentation setting, the smallest training
    set from which on no operator overfits (``sizes_without_overfitting``), who underfits
    there, and the operators' ranking by test accuracy there (means and intervals from
    ``sweep.csv``)."""
    if sweep.empty:
        return "No data-size sweep was configured for this run.\n"
    dataset = ordered(sweep, "dataset")[0]
    sizes = sorted(set(sweep["n_train"]))
    operators = present_operators(sweep)
    fewest, most = int(sweep["n"].min()), int(sweep["n"].max())
    seeds = plural(most, "seed") if fewest == most else f"{fewest:,}--{most:,} seeds"
    budget = (
        f" for the same {int(steps):,} optimiser steps at every size"
        if steps not in (None, "none", "")
        else " for the same number of epochs at every size (smaller sets get fewer steps)"
    )
    parts = [
        f"On \\texttt{{{latex_escape(dataset)}}}, "
        + ", ".join(op_tex(op) for op in operators)
        + f" were trained on {', '.join(f'{n:,}' for n in sizes)} images "
        f"({seeds} each){budget}. A size counts as free of overfitting when, there and "
        f"at every larger size, every operator's train--test gap is below "
        f"{fmt_exact(gap_threshold)} points and at least one operator fits its training set to "
        f"{fmt_exact(fit_floor)}\\,\\% (clean train accuracy), so that a small gap where no "
        "network could fit the data in the budget does not count (Figure~\\ref{fig:sweep})."
    ]
    for shift in sorted(set(sweep["augment_shift"])):
        setting = sweep[sweep["augment_shift"] == shift]
        gap = setting[setting["metric"] == "gap"]
        fit = setting[setting["metric"] == "accuracy_train"]
        test = setting[setting["metric"] == "accuracy_test"]
        words = (
            f"With random translations of up to {shift} pixels"
            if shift
            else ("Without augmentation")
        )
        below = sizes_without_overfitting(setting, sizes, gap_threshold, fit_floor)
        if not below:
            largest = sizes[-1]
            row = gap[gap["n_train"] == largest].sort_values("mean").iloc[-1]
            best = fit[fit["n_train"] == largest].sort_values("mean").iloc[-1]
            parts.append(
                f"{words}, no size up to the largest ({largest:,} images) is free of "
                f"overfitting by this rule: there the largest gap is {op_tex(row['operator'])}'s "
                f"({fmt_beside(row['mean'], gap_threshold)} points) and "
                f"the highest train accuracy {op_tex(best['operator'])}'s "
                f"({fmt_beside(best['mean'], fit_floor)}\\,\\%)."
            )
            size = largest
        else:
            size = below[0]
            parts.append(
                f"{words}, every operator's gap is below {fmt_exact(gap_threshold)} points from "
                f"{size:,} training images on."
            )
            weak = underfitting_operators(setting, size, fit_floor)
            if len(weak):
                names = ", ".join(
                    f"{op_tex(r['operator'])} ({fmt_beside(r['mean'], fit_floor)}\\,\\%)"
                    for _, r in weak.iterrows()
                )
                parts.append(
                    f"There, {names} did not fit {'its' if len(weak) == 1 else 'their'} "
                    f"training set to {fmt_exact(fit_floor)}\\,\\% in the budget: "
                    "a shortfall in test accuracy there is underfitting, not overfitting."
                )
        there = test[test["n_train"] == size].sort_values("mean", ascending=False)
        ranking = ", ".join(f"{op_tex(r['operator'])} ({fmt_ci(r)})" for _, r in there.iterrows())
        parts.append(f"Ranked by test accuracy at {size:,} images: {ranking}.")
    figures = "\n".join(
        [
            r"\begin{figure}[tbp]",
            r"\centering",
            r"\psgraphic{sweep_accuracy}",
            "",
            r"\psgraphic{sweep_gap}",
            f"\\caption{{Data-size sweep on \\texttt{{{latex_escape(dataset)}}}: test accuracy "
            "(top) and train$-$test gap (bottom; dashed: the "
            f"{fmt_exact(gap_threshold)}-point threshold) against the number of training images; "
            f"bands: {confidence}\\,\\% intervals over seeds. Where every gap line stays below "
            "the dashed line, no operator overfits. \\psdrawn{sweep_accuracy}}",
            r"\label{fig:sweep}",
            r"\end{figure}",
        ]
    )
    return "\n".join(p for p in parts if p) + "\n\n" + figures + "\n"
