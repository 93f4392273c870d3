"""The look shared by every figure: printed sizes, operators' colours, line styles and markers,
the families that split crowded panels, and the helpers that draw a band, clip an axis, save a
PDF or say why there is nothing to draw.

Every figure is drawn at the size it is printed (a 16 cm text width), so its type sizes are
the ones the reader sees. Operators keep one colour and line style across all figures of a run
(``operator_styles``): colours from Paul Tol's colour-blind-safe "bright" scheme and black, no
two operators of a figure sharing a hue while the figure has at most eight operators. Panels
that would hold more than ``MAX_LINES`` lines are split by operator family (``line_groups``).
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.textpath import TextPath

from poolstudy.atomic import atomic_path
from poolstudy.pooling import OPERATORS

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


# Inches kept free between the titles of neighbouring panels.
TITLE_GAP = 0.12


def text_width(text: str, size: float) -> float:
    """Width in inches of ``text`` (its longest line) set at ``size`` points in the figures'
    font."""
    widths = [
        TextPath((0, 0), line, size=size).get_extents().width for line in text.split("\n") if line
    ]
    return max(widths, default=0.0) / 72


def fitted_titles(
    titles: list[str], weights: list[float], size: float, width: float
) -> tuple[list[str], list[float]]:
    """Titles for a row of panels that share ``width`` inches in proportion to ``weights``,
    and the panels' widths (in inches, for ``width_ratios``) that keep every title clear of
    its neighbours: a title wider than its panel is broken after its first comma, a panel
    whose title is still wider is given its title's width, and the other panels share what is
    left in proportion to their weights (which may break more titles). Where the titles
    cannot all fit, each panel gets its title's width (the ratios stay the titles')."""
    count = len(titles)
    titles = list(titles)
    fixed: set[int] = set()
    while len(fixed) < count:
        needs = [text_width(title, size) + TITLE_GAP for title in titles]
        left = width - sum(needs[i] for i in fixed)
        free = sum(weights[i] for i in range(count) if i not in fixed)
        widths = [needs[i] if i in fixed else left * weights[i] / free for i in range(count)]
        narrow = [i for i in range(count) if i not in fixed and widths[i] < needs[i]]
        if not narrow:
            return titles, widths
        breakable = [i for i in narrow if ",\n" not in titles[i] and ", " in titles[i]]
        for i in breakable:
            titles[i] = titles[i].replace(", ", ",\n", 1)
        if not breakable:
            fixed |= set(narrow)
    return titles, [text_width(title, size) + TITLE_GAP for title in titles]


def placeholder(path, message: str) -> None:
    """A figure that says why there is nothing to draw (e.g. no sweep configured)."""
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9)
    save_figure(fig, path)


def is_integer_axis(values) -> bool:
    values = np.asarray(list(values), dtype=float)
    return bool(len(values)) and bool(np.all(values == np.round(values)))


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
