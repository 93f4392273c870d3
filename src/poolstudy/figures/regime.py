"""Figures of the regime: train against test accuracy, learning curves, and the data-size
sweep's accuracy and gap."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from poolstudy.figures.style import (
    PALETTE,
    PERCENT,
    POINTS,
    TEXT_WIDTH,
    clip_axis,
    fitted_titles,
    legend_handles,
    operator_order,
    panel_rows,
    pick_styles,
    placeholder,
    plot_with_band,
    row_of_panels,
    save_figure,
)

# The bar chart's panel titles (points), and the inches of its row taken by the y axis's
# ticks and label and by the space between two panels.
TITLE_SIZE = 6.5
Y_AXIS_WIDTH = 0.5
PANEL_SPACING = 0.06


def overfitting_gap(summary: pd.DataFrame, path) -> None:
    """Train and test accuracy per operator (bars with intervals over seeds), a panel per
    (dataset, condition) on one y range; the legend above the panels."""
    clean = summary[summary["metric"].isin(["accuracy_train", "accuracy_test"])]
    clean = clean[clean["dx"].isna()] if "dx" in clean else clean
    panels = panel_rows(clean)
    bars = [
        len(set(clean[(clean["dataset"] == d) & (clean["condition"] == c)]["operator"]))
        for d, c in panels
    ]
    weights = [max(count, 1.5) for count in bars]
    titles, widths = fitted_titles(
        [f"{dataset}, {condition}" for dataset, condition in panels],
        weights,
        TITLE_SIZE,
        TEXT_WIDTH - Y_AXIS_WIDTH - PANEL_SPACING * (len(panels) - 1),
    )
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(TEXT_WIDTH, 2.3),
        squeeze=False,
        sharey=True,
        layout="constrained",
        gridspec_kw={"width_ratios": widths},
    )
    low = float(np.nanmin(clean["ci_low"].fillna(clean["mean"])))
    bottom = max(0.0, 10 * np.floor((low - 2.0) / 10))
    colors = {"accuracy_train": PALETTE[0], "accuracy_test": PALETTE[1]}
    slot = min(width / weight for width, weight in zip(widths, weights, strict=True))
    for ax, (dataset, condition), title, width in zip(axes[0], panels, titles, widths, strict=True):
        cell = clean[(clean["dataset"] == dataset) & (clean["condition"] == condition)]
        operators = operator_order(cell["operator"])
        positions = np.arange(len(operators))
        for offset, metric, label in (
            (-0.2, "accuracy_train", "train"),
            (0.2, "accuracy_test", "test"),
        ):
            part = cell[cell["metric"] == metric].set_index("operator").reindex(operators)
            errors = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
            ax.bar(
                positions + offset,
                part["mean"] - bottom,
                bottom=bottom,
                width=0.4,
                label=label,
                color=colors[metric],
                yerr=np.nan_to_num(errors),
                capsize=1.5,
                error_kw={"lw": 0.7},
            )
        span = width / slot  # in bars' positions, so that bars are equally wide in every panel
        ax.set_xlim((len(operators) - 1 - span) / 2, (len(operators) - 1 + span) / 2)
        ax.set_xticks(positions, operators, rotation=45, ha="right")
        ax.set_title(title, fontsize=TITLE_SIZE)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylim(bottom, 100.5)
    axes[0][0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2)
    save_figure(fig, path)


def sweep_curves(
    sweep: pd.DataFrame,
    metric: str,
    ylabel: str,
    path,
    gap_threshold: float | None = None,
    styles: dict | None = None,
) -> None:
    """One sweep metric against the training-set size (log scale): a panel per augmentation
    setting, a line per operator, the interval over seeds as a band clipped to the metric's
    range; for the gap, the threshold below which a size counts as free of overfitting
    (``sweep.gap_threshold``) as a dashed line."""
    rows = sweep[sweep["metric"] == metric]
    if rows.empty:
        placeholder(path, "no data-size sweep configured")
        return
    bounds = POINTS if metric == "gap" else PERCENT
    shifts = sorted(set(rows["augment_shift"]))
    styles = pick_styles(styles, rows["operator"])
    fig, axes = row_of_panels(len(shifts), 3.1, 2.2)
    for ax, shift in zip(axes[0], shifts, strict=True):
        panel = rows[rows["augment_shift"] == shift]
        for operator in operator_order(panel["operator"]):
            plot_with_band(
                ax, panel[panel["operator"] == operator], "n_train", styles[operator], bounds
            )
        if metric == "gap" and gap_threshold is not None:
            ax.axhline(gap_threshold, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        sizes = sorted(set(panel["n_train"]))
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_title(f"augmentation: {shift} px" if shift else "no augmentation")
        ax.grid(alpha=0.3)
    means = rows["mean"]
    span = [float(means.min()), float(means.max())]
    if metric == "gap" and gap_threshold is not None:
        span += [gap_threshold]
    pad = max(1.0, 0.1 * (span[1] - span[0]))
    axes[0][0].set_ylim(max(bounds[0], min(span) - pad), min(bounds[1] + 0.5, max(span) + pad))
    axes[0][0].set_ylabel(ylabel)
    fig.legend(handles=legend_handles(styles), loc="outside right upper")
    save_figure(fig, path)


def learning_curves(
    curves: pd.DataFrame,
    regime: pd.DataFrame,
    path,
    styles: dict | None = None,
    missing: str = "no primary regime declared in this run",
) -> None:
    """Training and validation accuracy against the optimiser step for every network of the
    primary regime (mean over seeds): a panel per condition, a colour per operator, training
    solid and validation dashed. Lines that meet show no overfitting (convergence is checked
    against runs at half the budget, ``analyze.regime_table``: the cosine schedule makes the
    ends rise either way). ``missing``: what the placeholder says without them."""
    if regime.empty or curves.empty:
        return placeholder(path, missing)
    dataset = regime["dataset"].iloc[0]
    conditions = list(dict.fromkeys(regime["condition"]))
    cells = curves[(curves["dataset"] == dataset) & curves["condition"].isin(conditions)]
    styles = pick_styles(styles, cells["operator"])
    fig, axes = row_of_panels(len(conditions), 2.6, 2.2)
    for ax, condition in zip(axes[0], conditions, strict=True):
        panel = cells[cells["condition"] == condition]
        for operator in operator_order(panel["operator"]):
            mean = (
                panel[panel["operator"] == operator]
                .groupby("step")[["train_accuracy", "val_accuracy"]]
                .mean()
            )
            color = styles[operator]["color"]
            ax.plot(mean.index, mean["train_accuracy"], color=color)
            ax.plot(mean.index, mean["val_accuracy"], color=color, ls="--", lw=0.8)
        ax.set_xlabel("optimiser step")
        ax.set_title(f"{dataset}, {condition}")
        clip_axis(ax, PERCENT)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%)")
    handles = [Line2D([], [], color=s["color"], label=name) for name, s in styles.items()]
    handles += [
        Line2D([], [], color="black", label="training"),
        Line2D([], [], color="black", ls="--", lw=0.8, label="validation"),
    ]
    fig.legend(handles=handles, loc="outside right upper")
    save_figure(fig, path)
