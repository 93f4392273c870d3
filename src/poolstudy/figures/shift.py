"""Figures of robustness to translation: accuracy against the shift, the maps of accuracy over
the grid of shifts, and accuracy against the object's position on a wider canvas."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import MaxNLocator

from poolstudy.figures.style import (
    PERCENT,
    TEXT_WIDTH,
    clip_axis,
    family_of,
    is_integer_axis,
    legend_handles,
    line_groups,
    operator_order,
    panel_rows,
    pick_styles,
    placeholder,
    plot_with_band,
    save_figure,
)


def accuracy_vs_shift(curves: pd.DataFrame, path, styles: dict | None = None) -> None:
    """Test accuracy against shift magnitude: a row of panels per (dataset, condition) and
    group of at most ``MAX_LINES`` operators (split by family), a panel per protocol evaluated
    there (no empty panels), the interval over seeds as a band clipped to 0-100 %, one legend."""
    # The placement protocol moves objects over a canvas: its own figure (``placement``).
    curves = curves[curves["protocol"] != "placement"]
    if curves.empty:
        return placeholder(path, "no shifted evaluation in this run")
    styles = pick_styles(styles, curves["operator"])
    rows = []
    for dataset, condition in panel_rows(curves):
        cell = curves[(curves["dataset"] == dataset) & (curves["condition"] == condition)]
        protocols = list(dict.fromkeys(cell["protocol"]))
        groups = line_groups(cell["operator"])
        for group in groups:
            rows.append((dataset, condition, group, protocols, len(groups) > 1))
    columns = max(len(row[3]) for row in rows)
    fig, axes = plt.subplots(
        len(rows),
        columns,
        figsize=(TEXT_WIDTH, 1.45 * len(rows) + 0.5),
        squeeze=False,
        layout="constrained",
    )
    for r, (dataset, condition, group, protocols, split) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            if c >= len(protocols):
                ax.remove()
                continue
            protocol = protocols[c]
            cell = curves[
                (curves["dataset"] == dataset)
                & (curves["condition"] == condition)
                & (curves["protocol"] == protocol)
            ]
            for operator in group:
                line = cell[cell["operator"] == operator]
                if len(line):
                    plot_with_band(ax, line, "shift", styles[operator])
            ax.set_title(f"{protocol} shift")
            if is_integer_axis(cell["shift"]):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            clip_axis(ax, PERCENT)
            if r == len(rows) - 1 or c >= len(rows[r + 1][3]):
                ax.set_xlabel("shift (px)")
            if c == 0:
                families = ", ".join(dict.fromkeys(map(family_of, group)))
                row_name = f"{dataset}, {condition}" + (f"\n({families})" if split else "")
                ax.set_ylabel(f"{row_name}\ntest accuracy (%)")
            ax.grid(alpha=0.3)
    fig.legend(handles=legend_handles(styles), loc="outside right upper")
    save_figure(fig, path)


def sensitivity_maps(
    summary: pd.DataFrame, path, dataset: str | None = None, condition: str | None = None
) -> None:
    """Translation-sensitivity maps (Kauderer-Abrams 2017): mean test accuracy over the grid of
    shifts (dx, dy), one panel per operator, for the primary ``dataset`` and ``condition``
    (where not given or not evaluated under shifts: the first pair evaluated) under the first
    integer protocol (every shift of its grid whole pixels: not a sub-pixel grid, whose
    corners are whole too), on one colour scale."""
    shifted = summary[
        (summary["metric"] == "accuracy_shifted") & (summary["protocol"] != "placement")
    ]
    if shifted.empty:
        return placeholder(path, "no shifted evaluation in this run")
    pairs = panel_rows(shifted)
    if (dataset, condition) not in pairs:
        dataset, condition = pairs[0]
    shifted = shifted[(shifted["dataset"] == dataset) & (shifted["condition"] == condition)]
    fractional = (shifted["dx"] % 1 != 0) | (shifted["dy"] % 1 != 0)
    integer = [
        protocol
        for protocol in dict.fromkeys(shifted["protocol"])
        if not fractional[shifted["protocol"] == protocol].any()
    ]
    if not integer:
        return placeholder(path, "no evaluation under whole-pixel shifts in this run")
    protocol = integer[0]
    cell = shifted[shifted["protocol"] == protocol]
    operators = operator_order(cell["operator"])
    columns = min(6, len(operators))
    rows = -(-len(operators) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(min(TEXT_WIDTH, 1.15 * columns + 0.8), 1.2 * rows + 0.3),
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
        ax.set_title(operator)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("dx (px)", fontsize=6)
    for row in axes:
        row[0].set_ylabel("dy (px)", fontsize=6)
    used = list(axes.flat)[: len(operators)]
    for ax in list(axes.flat)[len(operators) :]:
        ax.remove()
    # the colour bar spans the panels drawn: a removed panel belongs to no figure
    fig.colorbar(image, ax=used, shrink=0.8, label="test accuracy (%)")
    fig.suptitle(f"{dataset}, {condition}, {protocol} shift", fontsize=7)
    save_figure(fig, path)


REGION_SPANS = {"left": lambda reach: (-reach, 0), "centre": lambda reach: (0, 0)}


def placement(curves: pd.DataFrame, path, styles: dict | None = None) -> None:
    """Test accuracy against the object's horizontal position on the canvas (averaged over
    vertical positions), a line per operator with its interval band; the positions training
    drew from are shaded."""
    if curves.empty:
        return placeholder(path, "no placement condition in this run")
    panels = panel_rows(curves)
    styles = pick_styles(styles, curves["operator"])
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(min(TEXT_WIDTH, 3.4 * len(panels) + 0.8), 2.2),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, (dataset, condition) in zip(axes[0], panels, strict=True):
        cell = curves[(curves["dataset"] == dataset) & (curves["condition"] == condition)]
        reach = float(cell["position"].abs().max())
        region = str(cell["region"].iloc[0]) if "region" in cell else ""
        if region in REGION_SPANS:
            low, high = REGION_SPANS[region](reach)
            ax.axvspan(low - 0.5, high + 0.5, color="grey", alpha=0.15, lw=0)
        for operator in operator_order(cell["operator"]):
            plot_with_band(ax, cell[cell["operator"] == operator], "position", styles[operator])
        if is_integer_axis(cell["position"]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("horizontal offset of the object from the centre (px)")
        ax.set_title(f"{dataset}, {condition} (trained: {region})")
        ax.grid(alpha=0.3)
    clip_axis(axes[0][0], PERCENT)
    axes[0][0].set_ylabel("test accuracy (%)")
    handles = legend_handles(styles)
    handles.append(plt.Rectangle((0, 0), 1, 1, color="grey", alpha=0.15, label="trained"))
    fig.legend(handles=handles, loc="outside right upper")
    save_figure(fig, path)
