"""Tidy tables -> matplotlib figures (PDF). A figure is a query on a table, not a folder walk."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from poolstudy.atomic import atomic_path  # noqa: E402
from poolstudy.pooling import OPERATORS  # noqa: E402

# Fixed metadata so that the same tables give byte-identical PDFs.
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": "poolstudy"}


def operator_order(names) -> list[str]:
    """Operators in registry order (the order of the paper's tables)."""
    present = set(names)
    return [name for name in OPERATORS if name in present]


def operator_colors(names) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(OPERATORS) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(OPERATORS) if name in set(names)}


def save_figure(fig, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata=PDF_METADATA)
    plt.close(fig)


def plot_with_band(ax, line: pd.DataFrame, x: str, operator: str, colors: dict) -> None:
    """One operator's means against ``x`` with its interval over seeds as a band."""
    line = line.sort_values(x)
    ax.plot(line[x], line["mean"], marker="o", ms=3, label=operator, color=colors[operator])
    if line["ci_low"].notna().any():
        ax.fill_between(
            line[x], line["ci_low"], line["ci_high"], color=colors[operator], alpha=0.2, lw=0
        )


def panel_rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(dataset, condition) pairs in order of appearance: one row of panels each."""
    return list(dict.fromkeys(zip(frame["dataset"], frame["condition"], strict=True)))


def accuracy_vs_shift(curves: pd.DataFrame, path) -> None:
    """Test accuracy against shift magnitude: one panel per (dataset, condition) x protocol, a
    line per operator, the interval over seeds as a band."""
    # The placement protocol moves objects over a canvas: its own figure (``placement``).
    curves = curves[curves["protocol"] != "placement"]
    if curves.empty:
        return placeholder(path, "no shifted evaluation in this run")
    rows = panel_rows(curves)
    protocols = list(dict.fromkeys(curves["protocol"]))
    colors = operator_colors(curves["operator"])
    fig, axes = plt.subplots(
        len(rows),
        len(protocols),
        figsize=(3.4 * len(protocols), 2.9 * len(rows)),
        squeeze=False,
        sharey="row",
        layout="constrained",
    )
    for row, (dataset, condition) in enumerate(rows):
        for col, protocol in enumerate(protocols):
            ax = axes[row][col]
            cell = curves[
                (curves["dataset"] == dataset)
                & (curves["condition"] == condition)
                & (curves["protocol"] == protocol)
            ]
            ax.set_title(f"{dataset}, {condition}, {protocol} shift", fontsize=9)
            if cell.empty:
                ax.set_axis_off()
                ax.text(0.5, 0.5, "not evaluated", ha="center", va="center", transform=ax.transAxes)
                continue
            for operator in operator_order(cell["operator"]):
                plot_with_band(ax, cell[cell["operator"] == operator], "shift", operator, colors)
            ax.set_xlabel("shift (px, max of |dx|, |dy|)", fontsize=8)
            if col == 0:
                ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    save_figure(fig, path)


def overfitting_gap(summary: pd.DataFrame, path) -> None:
    """Train and test accuracy per operator (bars with 95% intervals): the overfitting gap."""
    clean = summary[summary["metric"].isin(["accuracy_train", "accuracy_test"])]
    panels = panel_rows(clean)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 3.0), squeeze=False, layout="constrained"
    )
    for ax, (dataset, condition) in zip(axes[0], panels, strict=True):
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
                part["mean"],
                width=0.4,
                label=label,
                yerr=np.nan_to_num(errors),
                capsize=2,
            )
        ax.set_xticks(positions, operators, rotation=45, ha="right", fontsize=8)
        low = float(cell["mean"].min())
        ax.set_ylim(max(0.0, low - 5.0), 100.5)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{dataset}, {condition}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    save_figure(fig, path)


def sensitivity_maps(summary: pd.DataFrame, path) -> None:
    """Translation-sensitivity maps (Kauderer-Abrams 2017): mean test accuracy over the grid of
    shifts (dx, dy), one panel per operator, for the primary dataset and condition under the
    first integer protocol, on one colour scale."""
    shifted = summary[
        (summary["metric"] == "accuracy_shifted") & (summary["protocol"] != "placement")
    ]
    if shifted.empty:
        return placeholder(path, "no shifted evaluation in this run")
    dataset, condition = panel_rows(shifted)[0]
    whole = shifted[(shifted["dx"] % 1 == 0) & (shifted["dy"] % 1 == 0)]
    protocol = list(dict.fromkeys(whole["protocol"]))[0]
    cell = whole[
        (whole["dataset"] == dataset)
        & (whole["condition"] == condition)
        & (whole["protocol"] == protocol)
    ]
    operators = operator_order(cell["operator"])
    columns = min(6, len(operators))
    rows = -(-len(operators) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(1.7 * columns, 1.8 * rows + 0.4),
        squeeze=False,
        layout="constrained",
    )
    low = float(cell["mean"].min())
    for ax, operator in zip(axes.flat, operators, strict=False):
        grid = cell[cell["operator"] == operator].pivot_table(
            index="dy", columns="dx", values="mean"
        )
        image = ax.imshow(
            grid.to_numpy(),
            origin="lower",
            vmin=low,
            vmax=100.0,
            cmap="viridis",
            extent=(
                grid.columns.min() - 0.5,
                grid.columns.max() + 0.5,
                grid.index.min() - 0.5,
                grid.index.max() + 0.5,
            ),
        )
        ax.set_title(operator, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(operators) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes, shrink=0.8, label="test accuracy (%)")
    fig.suptitle(f"{dataset}, {condition}, {protocol} shift: accuracy over (dx, dy)", fontsize=9)
    save_figure(fig, path)


def row_of_panels(count: int, width: float, height: float):
    """A figure of ``count`` panels side by side, each ``width`` x ``height`` inches, sharing
    their y axis; the axes as a [1, count] array."""
    return plt.subplots(
        1,
        count,
        figsize=(width * count, height),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )


def placeholder(path, message: str) -> None:
    """A figure that says why there is nothing to draw (e.g. no sweep configured)."""
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9)
    save_figure(fig, path)


def sweep_curves(sweep: pd.DataFrame, metric: str, ylabel: str, path) -> None:
    """One sweep metric against the training-set size (log scale): a panel per augmentation
    setting, a line per operator, the interval over seeds as a band."""
    rows = sweep[sweep["metric"] == metric]
    if rows.empty:
        placeholder(path, "no data-size sweep configured")
        return
    shifts = sorted(set(rows["augment_shift"]))
    colors = operator_colors(rows["operator"])
    fig, axes = row_of_panels(len(shifts), 3.6, 2.8)
    for ax, shift in zip(axes[0], shifts, strict=True):
        panel = rows[rows["augment_shift"] == shift]
        for operator in operator_order(panel["operator"]):
            plot_with_band(ax, panel[panel["operator"] == operator], "n_train", operator, colors)
        if metric == "gap":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        sizes = sorted(set(panel["n_train"]))
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training images")
        ax.set_title(f"augmentation: {shift} px" if shift else "no augmentation", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=7)
    save_figure(fig, path)


REGION_SPANS = {"left": lambda reach: (-reach, 0), "centre": lambda reach: (0, 0)}


def placement(curves: pd.DataFrame, path) -> None:
    """Test accuracy against the object's horizontal position on the canvas (averaged over
    vertical positions), a line per operator with its interval band; the positions training
    drew from are shaded."""
    if curves.empty:
        return placeholder(path, "no placement condition in this run")
    panels = panel_rows(curves)
    colors = operator_colors(curves["operator"])
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.6 * len(panels), 3.0), squeeze=False, layout="constrained"
    )
    for ax, (dataset, condition) in zip(axes[0], panels, strict=True):
        cell = curves[(curves["dataset"] == dataset) & (curves["condition"] == condition)]
        reach = float(cell["position"].abs().max())
        region = str(cell["region"].iloc[0]) if "region" in cell else ""
        if region in REGION_SPANS:
            low, high = REGION_SPANS[region](reach)
            ax.axvspan(low - 0.5, high + 0.5, color="grey", alpha=0.15, lw=0, label="trained")
        for operator in operator_order(cell["operator"]):
            plot_with_band(ax, cell[cell["operator"] == operator], "position", operator, colors)
        ax.set_xlabel("horizontal offset of the object from the centre (px)", fontsize=8)
        ax.set_title(f"{dataset}, {condition} (trained: {region})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    save_figure(fig, path)


def learning_curves(curves: pd.DataFrame, regime: pd.DataFrame, path) -> None:
    """Training and validation accuracy against the optimiser step for every network of the
    primary regime (mean over seeds): a panel per condition, a colour per operator, training
    solid and validation dashed. Flat ends show convergence; lines that meet show no
    overfitting."""
    if regime.empty or curves.empty:
        return placeholder(path, "no primary regime declared in this run")
    dataset = regime["dataset"].iloc[0]
    conditions = list(dict.fromkeys(regime["condition"]))
    cells = curves[(curves["dataset"] == dataset) & curves["condition"].isin(conditions)]
    colors = operator_colors(cells["operator"])
    fig, axes = row_of_panels(len(conditions), 3.8, 2.9)
    for ax, condition in zip(axes[0], conditions, strict=True):
        panel = cells[cells["condition"] == condition]
        for operator in operator_order(panel["operator"]):
            mean = (
                panel[panel["operator"] == operator]
                .groupby("step")[["train_accuracy", "val_accuracy"]]
                .mean()
            )
            ax.plot(mean.index, mean["train_accuracy"], color=colors[operator], label=operator)
            ax.plot(mean.index, mean["val_accuracy"], color=colors[operator], ls="--", lw=0.9)
        ax.set_xlabel("optimiser step")
        ax.set_title(f"{dataset}, {condition}", fontsize=9)
        ax.set_ylim(top=100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy (%): training solid, validation dashed")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    save_figure(fig, path)


FIGURES = {
    "accuracy_vs_shift": lambda tables, path: accuracy_vs_shift(tables["shift_curves"], path),
    "overfitting_gap": lambda tables, path: overfitting_gap(tables["summary"], path),
    "sensitivity_maps": lambda tables, path: sensitivity_maps(tables["summary"], path),
    "sweep_accuracy": lambda tables, path: sweep_curves(
        tables["sweep"], "accuracy_test", "test accuracy (%)", path
    ),
    "sweep_gap": lambda tables, path: sweep_curves(
        tables["sweep"], "gap", "train - test accuracy (points)", path
    ),
    "placement": lambda tables, path: placement(tables["placement"], path),
    "learning_curves": lambda tables, path: learning_curves(
        tables["learning_curves"], tables["regime"], path
    ),
}


def make_figures(tables_dir, out_dir) -> list[str]:
    tables = {
        name: pd.read_csv(
            os.path.join(tables_dir, f"{name}.csv"), keep_default_na=False, na_values=[""]
        )
        for name in ("summary", "shift_curves", "sweep", "placement", "learning_curves", "regime")
    }
    written = []
    for name, draw in FIGURES.items():
        path = os.path.join(out_dir, f"{name}.pdf")
        draw(tables, path)
        written.append(path)
    return written
