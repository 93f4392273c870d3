"""Formatting of results for LaTeX, and lookups in the tidy tables that every part of the
paper shares."""

from __future__ import annotations

import math
import re

import pandas as pd

from poolstudy.pooling import OPERATORS
from poolstudy.stats import on_threshold

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
        "^": r"\textasciicircum{}",
        "~": r"\textasciitilde{}",
    }
    return "".join(replacements.get(ch, ch) for ch in str(text))


def op_tex(name: str) -> str:
    return r"\texttt{" + latex_escape(name) + "}"


def fmt(value: float, digits: int = 1) -> str:
    """``value`` to ``digits`` places; one that rounds to zero keeps the digits that show its
    sign, up to ``MOST_DIGITS`` (-0.03, not -0.0), and a smaller one, float noise such as a
    difference of equal means, is zero without a sign (0.0, not -0.0 or -0.000000000000002)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    for places in range(digits, max(digits, MOST_DIGITS) + 1):
        text = f"{value:.{places}f}"
        if float(text) != 0:
            return text
    return f"{0:.{digits}f}"


SIGN_MINUS = re.compile(r"(?<=[\s\[(&:,;{])-(?=(?>\d+(?:\.\d+)?)(?!\w|\.\d))")
"""A hyphen that is a number's sign: after a space, bracket, column separator or brace, and
before a whole number that no unit follows (so ``\\hspace{-2pt}`` keeps its hyphen; a full
stop after it ends a sentence)."""


def typeset_minus(tex: str) -> str:
    """``tex`` with each negative number's hyphen typeset as a minus sign (``$-$0.8``): in
    text mode a hyphen prints as a hyphen, shorter than the minus of the numbers beside it."""
    return SIGN_MINUS.sub("$-$", tex)


MOST_DIGITS = 6
"""The most decimal places ``fmt_exact`` prints."""

EVERY_DIGIT = 17
"""Decimal places enough to tell apart any two floats below 10, the most ``fmt_beside``
prints."""


def fmt_exact(value: float, digits: int = 1) -> str:
    """A setting as written (a margin, a threshold): ``digits`` decimal places, or as many
    more as it needs (up to ``MOST_DIGITS``), so 0.25 prints as 0.25, not 0.2."""
    if value is None or math.isnan(value):
        return "n/a"
    value = float(value)
    for places in range(digits, MOST_DIGITS + 1):
        text = f"{value:.{places}f}"
        if float(text) == value:
            return text
    return text


def fmt_beside(
    value: float, threshold: float | tuple, digits: int = 1, signed: bool = False
) -> str:
    """``value`` beside the ``threshold`` it was compared with (or each of several):
    ``digits`` decimal places, or as many more as it takes for the printed number to fall on
    the same side of the threshold as the value itself (or on it, where the value is), so a
    gain of 0.97 below a threshold of 1 prints as +0.97, not as +1.0 "less than the threshold
    of 1.0"."""
    if value is None or math.isnan(value):
        return "n/a"
    value = float(value)
    thresholds = [float(t) for t in (threshold if isinstance(threshold, tuple) else (threshold,))]
    # float noise of a mean on a threshold is on it, as analyze's checks decide
    value = next((t for t in thresholds if on_threshold(value, t)), value)
    sign = "+" if signed else ""

    def sides(number: float) -> list[int]:
        return [(number > t) - (number < t) for t in thresholds]

    for places in range(digits, max(digits, EVERY_DIGIT) + 1):
        text = f"{value:{sign}.{places}f}"
        if sides(float(text)) == sides(value):
            return text
    return text


def half_width(row) -> float:
    """The half-width of a row's t-interval: the larger distance from its mean to an end,
    since an interval clipped to a metric's range (``ci_clipped``: a mean near 100 %) has lost
    part of one side and kept the other whole."""
    return max(row["mean"] - row["ci_low"], row["ci_high"] - row["mean"])


def fmt_ci(row, digits: int = 1) -> str:
    """``mean $\\pm$ half-width`` of a t-interval (just the mean when there is none)."""
    hw = half_width(row)
    if math.isnan(hw):
        return fmt(row["mean"], digits)
    return f"{fmt(row['mean'], digits)} $\\pm$ {fmt(hw, digits)}"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 step``, ``4,000 steps``, ``2 passes`` (``many``: the plural, where not noun + s)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def listed(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def confidence_text(settings: dict) -> str:
    """The confidence level the paper quotes: the settings' (``plan.paper_settings``), else the
    schema's default, so a run of ``paper-inputs`` without settings quotes the level its
    intervals were computed at by default."""
    if "confidence_text" in settings:
        return str(settings["confidence_text"])
    from poolstudy.config import section_defaults
    from poolstudy.plan import confidence_percent

    return confidence_percent(section_defaults("stats")["confidence"])


def too_few_seeds(n) -> str:
    """``2 seeds, too few for an interval``: what stands where fewer seeds than
    ``stats.MIN_SEEDS`` give no interval."""
    return f"{plural(int(n), 'seed')}, too few for an interval"


def fmt_signed(value: float, digits: int = 1) -> str:
    """``value`` as ``fmt`` prints it, with a plus sign where that text is above zero: +0.03,
    not +0.0; -0.03, not -0.0; float noise 0.0 without a sign."""
    text = fmt(value, digits)
    if text != "n/a" and float(text) > 0:
        return "+" + text
    return text


def fmt_against(value: float, threshold: float) -> str:
    """A signed value beside the ``threshold`` it was compared with (a gap, a budget gain):
    on its side of the threshold and of zero (``fmt_beside``), so -0.03 prints as -0.03, not
    -0.0; float noise that ``fmt`` prints as zero is zero, without a sign."""
    if value is None or math.isnan(value):
        return "n/a"
    if float(fmt(value)) == 0:
        return fmt_beside(0.0, threshold)
    return fmt_beside(value, (0.0, threshold), signed=True)


def places(text: str) -> int:
    """The decimal places of a printed number (0 for one without, or for ``n/a``)."""
    return len(text.partition(".")[2])


def fmt_estimate(value: float, *ends: str) -> str:
    """A mean beside the printed ends of its interval (``fmt_ends``; of several, each
    interval's two in turn), signed (``fmt_signed``): one place, or as many more, up to those
    of the end that needed the most, as it takes to print inside every one of them:
    +0.97 [+0.96, +0.98], not +1.0 [+0.96, +0.98]; still +0.3 [+0.04, +0.6]."""
    pairs = [(ends[i], ends[i + 1]) for i in range(0, len(ends) - 1, 2)]
    bounds = [(float(low), float(high)) for low, high in pairs if "n/a" not in (low, high)]
    most = max([1, *(places(end) for end in ends)])
    for digits in range(1, most + 1):
        text = fmt_signed(value, digits)
        if text == "n/a" or all(low <= float(text) <= high for low, high in bounds):
            return text
    return fmt_signed(value, most)


def fmt_ends(low: float, high: float, marks: float | tuple = 0.0) -> tuple[str, str]:
    """The ends of an interval, signed, each printed on its side of zero, or of each of
    ``marks`` (``fmt_beside``)."""
    return fmt_beside(low, marks, signed=True), fmt_beside(high, marks, signed=True)


def ci_text(low: float, high: float, confidence_text: str | int, marks: float | tuple = 0.0) -> str:
    """``95 % CI [-0.8, +1.4]``, each end printed on the side of zero it lies on (``+0.04``,
    not ``+0.0``), since whether it excludes zero is what a reader reads an interval for; and
    on its side of each of ``marks`` too, where another point (a margin's ends) matters."""
    ends = ", ".join(fmt_ends(low, high, marks))
    return f"{confidence_text}\\,\\% CI [{ends}]"


def interval_text(
    low: float, high: float, n, confidence_text: str, marks: float | tuple = 0.0
) -> str:
    """``95 % CI [-0.8, +1.4]`` (``ci_text``), or ``2 seeds, too few for an interval`` where
    ``n`` seeds gave none."""
    if math.isnan(low):
        return too_few_seeds(n)
    return ci_text(low, high, confidence_text, marks)


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
