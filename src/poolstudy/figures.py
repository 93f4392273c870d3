"""Tidy tables -> matplotlib figures (PDF). A figure is a query on a table, not a folder walk.

Every figure is drawn at the size it is printed (a 16 cm text width), so its type sizes are
the ones the reader sees. Operators keep one colour and line style across all figures of a run
(``operator_styles``): colours from Paul Tol's colour-blind-safe "bright" scheme and black, no
two operators of a figure sharing a hue while the figure has at most eight operators. Panels
that would hold more than ``MAX_LINES`` lines are split by operator family (``line_groups``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from poolstudy.atomic import atomic_path, read_csv  # noqa: E402
from poolstudy.metrics import METRIC_WORDS  # noqa: E402
from poolstudy.pooling import OPERATORS  # noqa: E402

# Fixed metadata so that the same tables give byte-identical PDFs.
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": "poolstudy"}

# Printed sizes: the paper's text is 16 cm (6.3 in) wide.
TEXT_WIDTH = 6.3
plt.rcParams.update(
    {
        "font.size": 7,
        "axes.titlesize": 7,
        "axes.labelsize": 7,
        "xtick.labelsize": 6,
        "ytick.labelsize": 6,
        "legend.fontsize": 6,
        "lines.linewidth": 1.1,
    }
)

# Paul Tol's "bright" scheme (colour-blind safe, distinct hues; its grey darkened), then black.
PALETTE = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#888888", "#000000"]
LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
MAX_LINES = 5

# Operator families: the groups in which panels with too many lines are split. An operator not
# named here (a new registry entry) joins "other".
FAMILIES = {
    "no pooling": ("none", "none_rf", "none_deep"),
    "max": ("max", "maxdil", "maxbroadcast", "fracmax"),
    "smoothing": ("avg", "lp", "blur"),
    "subsampling": ("stride", "subsample", "aps", "convpool"),
}

# The range a metric can take: bands and axes are clipped to it.
PERCENT = (0.0, 100.0)
POINTS = (-100.0, 100.0)


def operator_order(names) -> list[str]:
    """Operators in registry order (the order of the paper's tables)."""
    present = set(names)
    return [name for name in OPERATORS if name in present]


def family_of(operator: str) -> str:
    for family, members in FAMILIES.items():
        if operator in members:
            return family
    return "other"


def line_groups(operators, max_lines: int = MAX_LINES) -> list[list[str]]:
    """The operators (registry order) split into as few panels of at most ``max_lines`` lines
    as possible, of about equal size, whole families kept together where they fit: one group
    when they all fit."""
    operators = operator_order(operators)
    if len(operators) <= max_lines:
        return [operators] if operators else []
    families: dict[str, list[str]] = {}
    for operator in operators:
        families.setdefault(family_of(operator), []).append(operator)
    # balanced: as few panels as the limit allows, each about as full as the others
    target = -(-len(operators) // -(-len(operators) // max_lines))
    groups: list[list[str]] = []
    for members in families.values():
        for start in range(0, len(members), target):
            chunk = members[start : start + target]
            if groups and len(groups[-1]) + len(chunk) <= target:
                groups[-1] = groups[-1] + chunk
            else:
                groups.append(chunk)
    return [operator_order(group) for group in groups]


def operator_styles(names) -> dict[str, dict]:
    """A colour, line style and marker per operator present, in registry order: distinct colours
    for up to ``len(PALETTE)`` operators, then the colours again with the next line style."""
    styles = {}
    for index, name in enumerate(operator_order(names)):
        styles[name] = {
            "color": PALETTE[index % len(PALETTE)],
            "ls": LINESTYLES[(index // len(PALETTE)) % len(LINESTYLES)],
            "marker": MARKERS[(index // len(PALETTE)) % len(MARKERS)],
        }
    return styles


def pick_styles(styles: dict | None, names) -> dict[str, dict]:
    """The styles of the operators in ``names`` (registry order), from the run's ``styles``
    where given, so that an operator looks the same in every figure."""
    styles = styles or operator_styles(names)
    return {name: styles[name] for name in operator_order(names)}


def operator_colors(names) -> dict[str, str]:
    return {name: style["color"] for name, style in operator_styles(names).items()}


def legend_handles(styles: dict[str, dict]) -> list[Line2D]:
    return [
        Line2D([], [], color=s["color"], ls=s["ls"], marker=s["marker"], ms=3, label=name)
        for name, s in styles.items()
    ]


def save_figure(fig, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="pdf", bbox_inches="tight", metadata=PDF_METADATA)
    plt.close(fig)


def clip_axis(ax, bounds: tuple[float, float], margin: float = 0.5) -> None:
    """Keep the y axis inside the metric's range (plus a hair, so that markers at the bound
    show)."""
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, bounds[0] - margin), min(high, bounds[1] + margin))


def plot_with_band(ax, line: pd.DataFrame, x: str, style: dict, bounds=PERCENT, label=None) -> None:
    """One operator's means against ``x`` with its interval over seeds as a band, clipped to
    the metric's range ``bounds``."""
    line = line.sort_values(x)
    ax.plot(
        line[x],
        line["mean"],
        marker=style["marker"],
        ms=2.5,
        label=label,
        color=style["color"],
        ls=style["ls"],
    )
    if line["ci_low"].notna().any():
        ax.fill_between(
            line[x],
            line["ci_low"].clip(*bounds),
            line["ci_high"].clip(*bounds),
            color=style["color"],
            alpha=0.15,
            lw=0,
        )


def panel_rows(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(dataset, condition) pairs in order of appearance: one row of panels each."""
    return list(dict.fromkeys(zip(frame["dataset"], frame["condition"], strict=True)))


def placeholder(path, message: str) -> None:
    """A figure that says why there is nothing to draw (e.g. no sweep configured)."""
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9)
    save_figure(fig, path)


def is_integer_axis(values) -> bool:
    values = np.asarray(list(values), dtype=float)
    return bool(len(values)) and bool(np.all(values == np.round(values)))


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


def overfitting_gap(summary: pd.DataFrame, path) -> None:
    """Train and test accuracy per operator (bars with intervals over seeds), a panel per
    (dataset, condition) on one y range; the legend above the panels."""
    clean = summary[summary["metric"].isin(["accuracy_train", "accuracy_test"])]
    clean = clean[clean["dx"].isna()] if "dx" in clean else clean
    panels = panel_rows(clean)
    widths = [
        len(set(clean[(clean["dataset"] == d) & (clean["condition"] == c)]["operator"]))
        for d, c in panels
    ]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(TEXT_WIDTH, 2.3),
        squeeze=False,
        sharey=True,
        layout="constrained",
        gridspec_kw={"width_ratios": [max(w, 1.5) for w in widths]},
    )
    low = float(np.nanmin(clean["ci_low"].fillna(clean["mean"])))
    bottom = max(0.0, 10 * np.floor((low - 2.0) / 10))
    colors = {"accuracy_train": PALETTE[0], "accuracy_test": PALETTE[1]}
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
                part["mean"] - bottom,
                bottom=bottom,
                width=0.4,
                label=label,
                color=colors[metric],
                yerr=np.nan_to_num(errors),
                capsize=1.5,
                error_kw={"lw": 0.7},
            )
        ax.set_xticks(positions, operators, rotation=45, ha="right")
        ax.set_title(f"{dataset}, {condition}", fontsize=6.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylim(bottom, 100.5)
    axes[0][0].set_ylabel("accuracy (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2)
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


def row_of_panels(count: int, width: float, height: float):
    """A figure of ``count`` panels side by side, each ``width`` x ``height`` inches (at most
    the text width in all), sharing their y axis; the axes as a [1, count] array."""
    return plt.subplots(
        1,
        count,
        figsize=(min(width * count, TEXT_WIDTH), height),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )


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


def forest(contrasts: pd.DataFrame, path) -> None:
    """The primary contrasts as a forest plot: each contrast's mean paired difference (first
    minus second) with its interval over seeds, the equivalence margin shaded around zero, and
    the verdict that ``analyze`` gave (marker and label)."""
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
    ax.legend(loc="lower right", frameon=True)
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


@dataclass(frozen=True)
class Figure:
    """A figure of the paper: the ``poolstudy`` function that draws it and how it is called on
    the tables (and the figure settings of the config)."""

    function: Callable
    draw: Callable[[dict, dict, str], None]

    @property
    def qualified_name(self) -> str:
        return f"{self.function.__module__}.{self.function.__qualname__}"


FIGURES = {
    "forest": Figure(forest, lambda t, s, path: forest(t["contrasts"], path)),
    "accuracy_flops": Figure(
        accuracy_flops,
        lambda t, s, path: accuracy_flops(
            t["summary"], t["models"], path, s.get("dataset"), s.get("compute"), s["styles"]
        ),
    ),
    "learning_curves": Figure(
        learning_curves,
        lambda t, s, path: learning_curves(t["learning_curves"], t["regime"], path, s["styles"]),
    ),
    # the learning curves of the recorded longer study (poolstudy.record), where one is quoted
    "recorded_learning_curves": Figure(
        learning_curves,
        lambda t, s, path: learning_curves(
            t["recorded_learning_curves"],
            t["recorded_regime"],
            path,
            s["styles"],
            "no recorded longer study is quoted",
        ),
    ),
    "accuracy_vs_shift": Figure(
        accuracy_vs_shift,
        lambda t, s, path: accuracy_vs_shift(t["shift_curves"], path, s["styles"]),
    ),
    "overfitting_gap": Figure(
        overfitting_gap, lambda t, s, path: overfitting_gap(t["summary"], path)
    ),
    "sensitivity_maps": Figure(
        sensitivity_maps, lambda t, s, path: sensitivity_maps(t["summary"], path)
    ),
    "sweep_accuracy": Figure(
        sweep_curves,
        lambda t, s, path: sweep_curves(
            t["sweep"], "accuracy_test", "test accuracy (%)", path, styles=s["styles"]
        ),
    ),
    "sweep_gap": Figure(
        sweep_curves,
        lambda t, s, path: sweep_curves(
            t["sweep"],
            "gap",
            "train − test accuracy (points)",
            path,
            s.get("gap_threshold"),
            s["styles"],
        ),
    ),
    "placement": Figure(placement, lambda t, s, path: placement(t["placement"], path, s["styles"])),
}

# The tables the figures read (results/tables/<name>.csv).
FIGURE_TABLES = (
    "summary",
    "shift_curves",
    "sweep",
    "placement",
    "learning_curves",
    "regime",
    "contrasts",
    "models",
)


def read_table(tables_dir, name: str) -> pd.DataFrame:
    frame = read_csv(os.path.join(tables_dir, f"{name}.csv"))
    if "protocol" in frame:
        frame["protocol"] = frame["protocol"].astype(object).fillna("")
    return frame


def recorded_tables(record_folders, experiment: str | None) -> dict[str, pd.DataFrame]:
    """The learning curves and regime of the record a paper of ``experiment`` quotes
    (``poolstudy.record``, chosen as the paper chooses it), empty where it quotes none."""
    from poolstudy.record import quoted_record, read_record

    record = quoted_record([read_record(f) for f in record_folders], experiment)
    if record is None:
        return {"recorded_learning_curves": pd.DataFrame(), "recorded_regime": pd.DataFrame()}
    return {"recorded_learning_curves": record.learning_curves, "recorded_regime": record.regime}


def make_figures(tables_dir, out_dir, settings: dict | None = None, record_folders=()) -> list[str]:
    """Every figure of ``FIGURES`` from the tables in ``tables_dir`` and the recorded runs in
    ``record_folders``. ``settings``: the ``experiment``, the primary ``dataset``, the
    ``compute`` conditions (config ``primary.compute``) and the sweep's ``gap_threshold``, as
    figures.smk's ``figure_settings`` gives them."""
    settings = settings or {}
    tables = {name: read_table(tables_dir, name) for name in FIGURE_TABLES}
    tables |= recorded_tables(record_folders, settings.get("experiment"))
    run_operators = [*tables["models"].get("operator", []), *tables["summary"]["operator"]]
    run_operators += list(tables["sweep"]["operator"])
    run_operators += list(tables["recorded_regime"].get("operator", []))
    settings = {**settings, "styles": operator_styles(run_operators)}
    written = []
    for name, figure in FIGURES.items():
        path = os.path.join(out_dir, f"{name}.pdf")
        figure.draw(tables, settings, path)
        written.append(path)
    return written
