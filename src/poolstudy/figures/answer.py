"""Figures of the answer: the primary contrasts as a forest plot and accuracy against compute."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from poolstudy.equivalence import equivalence_confidence, equivalence_interval
from poolstudy.figures.style import (
    MARKERS,
    PERCENT,
    TEXT_WIDTH,
    clip_axis,
    operator_order,
    pick_styles,
    placeholder,
    save_figure,
)
from poolstudy.metrics import METRIC_WORDS


def contrast_side(condition: str, operator: str, shared: bool) -> str:
    return operator if shared else f"{operator} ({condition})"


def contrast_labels(contrasts: pd.DataFrame) -> list[str]:
    """``first − second`` per contrast, each side's condition named only where they differ."""
    labels = []
    for row in contrasts.itertuples():
        shared = row.first_condition == row.second_condition
        labels.append(
            f"{contrast_side(row.first_condition, row.first_operator, shared)} − "
            f"{contrast_side(row.second_condition, row.second_operator, shared)}"
        )
    return labels


VERDICT_MARKERS = {
    "difference": {"marker": "o", "mfc": "black"},
    "equivalent": {"marker": "D", "mfc": "white"},
    "inconclusive": {"marker": "o", "mfc": "white"},
}


def forest(contrasts: pd.DataFrame, path, confidence: float) -> None:
    """The primary contrasts as a forest plot: each contrast's mean paired difference (first
    minus second) with its interval over seeds at ``confidence`` (thin line) and the interval
    an equivalence rests on (``poolstudy.equivalence``: thick bar, 90 % beside 95 %), the
    equivalence margin shaded around zero, and the verdict that ``analyze`` gave (marker and
    label)."""
    if contrasts.empty:
        return placeholder(path, "no primary contrasts declared in this run")
    labels = contrast_labels(contrasts)
    n = len(contrasts)
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.8, 0.32 * n + 0.75), layout="constrained")
    margin = float(contrasts["margin"].max())
    ax.axvspan(-margin, margin, color="grey", alpha=0.2, lw=0, label=f"margin ±{margin:g}")
    ax.axvline(0, color="grey", lw=0.8)
    for position, row in zip(range(n - 1, -1, -1), contrasts.itertuples(), strict=True):
        style = VERDICT_MARKERS.get(row.verdict, {"marker": "x", "mfc": "black"})
        if pd.notna(row.ci_low):
            ax.plot([row.ci_low, row.ci_high], [position, position], color="black", lw=1.0)
            inner = equivalence_interval(row.mean, row.ci_low, row.ci_high, row.n, confidence)
            ax.plot(list(inner), [position, position], color="black", lw=3.0, alpha=0.45)
        if pd.notna(row.mean):
            ax.plot(row.mean, position, ls="", color="black", ms=4, **style)
    ax.set_yticks(range(n - 1, -1, -1), labels)
    ax.set_ylim(-0.6, n - 0.4)
    right = ax.secondary_yaxis("right")
    right.set_yticks(range(n - 1, -1, -1), list(contrasts["verdict"]))
    right.tick_params(length=0)
    metric = str(contrasts["metric"].iloc[0])
    ax.set_xlabel(f"difference in {METRIC_WORDS.get(metric, metric)} (points): first − second")
    ax.grid(axis="x", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    handles += (
        []
        if contrasts["ci_low"].isna().all()
        else [
            Line2D([], [], color="black", lw=1.0, label=f"{100 * confidence:g} % CI"),
            Line2D(
                [],
                [],
                color="black",
                lw=3.0,
                alpha=0.45,
                label=f"{100 * equivalence_confidence(confidence):g} % CI",
            ),
        ]
    )
    ax.legend(handles=handles, loc="lower right", frameon=True)
    save_figure(fig, path)


def accuracy_flops(
    summary: pd.DataFrame,
    models: pd.DataFrame,
    path,
    dataset: str | None = None,
    compute: list[str] | None = None,
    styles: dict | None = None,
) -> None:
    """Clean test accuracy (mean and interval over seeds) against forward FLOPs per image (log
    scale): one point per network (condition, operator) of ``dataset`` (placement conditions
    left out: their accuracy is measured on a canvas), a colour per operator and a marker per
    condition; each operator's points in the ``compute`` conditions (which differ only in
    width) joined in order of FLOPs."""
    if models.empty or summary.empty:
        return placeholder(path, "no trained networks in this run")
    dataset = dataset or list(dict.fromkeys(summary["dataset"]))[0]
    runs = models[models["dataset"] == dataset]
    if "placement_canvas" in runs:
        runs = runs[runs["placement_canvas"].isna()]
    flops = runs.groupby(["condition", "operator"], sort=False)["flops"].mean().rename("flops")
    accuracy = summary[
        (summary["dataset"] == dataset)
        & (summary["metric"] == "accuracy_test")
        & summary["dx"].isna()
    ].set_index(["condition", "operator"])[["mean", "ci_low", "ci_high"]]
    points = accuracy.join(flops, how="inner").reset_index()
    if points.empty:
        return placeholder(path, f"no clean test accuracy on {dataset}")
    conditions = list(dict.fromkeys(points["condition"]))
    compute = [c for c in (compute or conditions[:1]) if c in conditions]
    styles = pick_styles(styles, points["operator"])
    markers = {c: MARKERS[i % len(MARKERS)] for i, c in enumerate(conditions)}
    fig, ax = plt.subplots(figsize=(TEXT_WIDTH * 0.75, 2.6), layout="constrained")
    for operator in operator_order(points["operator"]):
        mine = points[points["operator"] == operator]
        joined = mine[mine["condition"].isin(compute)].sort_values("flops")
        if len(joined) > 1:
            ax.plot(joined["flops"], joined["mean"], color=styles[operator]["color"], lw=0.9)
        for row in mine.itertuples():
            low = max(PERCENT[0], row.ci_low) if pd.notna(row.ci_low) else row.mean
            high = min(PERCENT[1], row.ci_high) if pd.notna(row.ci_high) else row.mean
            ax.errorbar(
                row.flops,
                row.mean,
                yerr=[[row.mean - low], [high - row.mean]],
                color=styles[operator]["color"],
                marker=markers[row.condition],
                ms=4,
                capsize=1.5,
                lw=0.8,
            )
    ax.set_xscale("log")
    clip_axis(ax, PERCENT)
    ax.set_xlabel("forward FLOPs per image (log scale)")
    ax.set_ylabel("clean test accuracy (%)")
    ax.set_title(dataset)
    ax.grid(alpha=0.3, which="both")
    handles = [
        Line2D([], [], color=s["color"], marker="o", ms=3, label=name) for name, s in styles.items()
    ]
    if len(conditions) > 1:
        handles += [
            Line2D([], [], color="grey", ls="", marker=markers[c], ms=4, label=f"condition {c}")
            for c in conditions
        ]
    fig.legend(handles=handles, loc="outside right upper")
    save_figure(fig, path)
