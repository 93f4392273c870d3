"""The primary contrasts in words: a table and one sentence per contrast, each worded by the
verdict that ``analyze`` computed (``stats.contrast_table``): a difference, equivalence within
the margin, or inconclusive. Nothing is recomputed here: every number is a cell of
``results/tables/contrasts.csv``."""

from __future__ import annotations

import math

import pandas as pd

from poolstudy import equivalence
from poolstudy.metrics import METRIC_WORDS
from poolstudy.paper.format import (
    fmt,
    fmt_against,
    fmt_beside,
    fmt_ends,
    fmt_estimate,
    fmt_exact,
    fmt_signed,
    interval_text,
    latex_escape,
    listed,
    op_tex,
    plural,
)
from poolstudy.stats import MIN_SEEDS, VERDICTS, interval_side, significance_level


def side_tex(condition: str, operator: str, shared_condition: str | None) -> str:
    """``max``, or ``max (flatten)`` when the two sides' conditions differ."""
    if shared_condition is not None:
        return op_tex(operator)
    return f"{op_tex(operator)} ({latex_escape(condition)})"


def contrast_label(row) -> str:
    shared = row.first_condition if row.first_condition == row.second_condition else None
    first = side_tex(row.first_condition, row.first_operator, shared)
    second = side_tex(row.second_condition, row.second_operator, shared)
    return f"{first} $-$ {second}"


def significance(confidence_text: str) -> float:
    """The level the tests were run at (``stats.significance_level``), from the confidence
    level the paper quotes: "95" -> 0.05."""
    return significance_level(float(confidence_text) / 100)


def p_digits(alpha: float) -> int:
    """Decimal places of a p-value: three, or as many as ``alpha`` itself has."""
    return max(3, len(fmt_exact(alpha).partition(".")[2]))


def fmt_p(value: float, alpha: float) -> str:
    """A p-value for a table: ``p_digits`` places, more where those would put it on the
    other side of ``alpha`` than the verdict, or on it (0.0496 -> 0.0496, not 0.050); one
    that those places would print as zero is written as below their last digit ($<$0.001)."""
    if math.isnan(value):
        return "n/a"
    digits = p_digits(alpha)
    smallest = 10.0**-digits
    if value < smallest <= alpha:
        return f"$<${smallest:.{digits}f}"
    return fmt_beside(value, alpha, digits)


def p_text(value: float, alpha: float) -> str:
    """A p-value as a relation: $p < 0.001$, $p = 0.005$ (digits as ``fmt_p``)."""
    if math.isnan(value):
        return "$p$ n/a"
    text = fmt_p(value, alpha)
    return f"$p < {text[3:]}$" if text.startswith("$<$") else f"$p = {text}$"


def margin_marks(margin: float) -> tuple[float, float, float]:
    """The points each printed end of a contrast's interval keeps its side of: zero and the
    margin's ends."""
    return (-margin, 0.0, margin)


def interval(row, confidence_text: str) -> str:
    """``95 % CI [-0.8, +1.4]`` of a contrast, each end on its side of zero and of the
    margin's ends as in the appendix's table (``contrasts_table``), or how many seeds were too
    few for one."""
    return interval_text(row.ci_low, row.ci_high, row.n, confidence_text, margin_marks(row.margin))


def interval_ends(row) -> tuple[str, ...]:
    """The ends of ``interval`` as printed (none without an interval)."""
    if math.isnan(row.ci_low):
        return ()
    return fmt_ends(row.ci_low, row.ci_high, margin_marks(row.margin))


def quotes_equivalence(row) -> bool:
    """Whether the text quotes the contrast's equivalence interval (``equivalence_text``):
    for one shown equivalent, and for a difference that lies within the margin."""
    return row.verdict == "equivalent" or (row.verdict == "difference" and row.within_margin)


def mean_text(row, confidence_text: str) -> str:
    """A contrast's mean difference, signed, to as many places as the printed ends of the
    intervals quoted with it needed (``fmt_estimate``), so that it prints inside them and
    the same wherever the paper quotes it."""
    ends = interval_ends(row)
    if quotes_equivalence(row) and ends:
        ends += equivalence_ends(
            row.mean, row.ci_low, row.ci_high, row.n, row.margin, confidence_text
        )
    return fmt_estimate(row.mean, *ends)


def equivalence_interval(
    mean: float, low: float, high: float, n: int, confidence_text: str
) -> tuple[float, float]:
    """The (1 - 2 alpha) interval of a paired difference whose t-interval at the quoted
    confidence is [``low``, ``high``] (90 % beside 95 %), the interval an equivalence verdict
    rests on (``poolstudy.equivalence``)."""
    return equivalence.equivalence_interval(mean, low, high, n, float(confidence_text) / 100)


def equivalence_text(
    mean: float, low: float, high: float, n: int, margin: float, confidence_text: str
) -> str:
    """``90 % CI [-0.4, +0.9]``: ``equivalence_interval``, each end printed on its side of
    zero and of the margin's ends."""
    ends = ", ".join(equivalence_ends(mean, low, high, n, margin, confidence_text))
    return f"{equivalence_level(confidence_text)}\\,\\% CI [{ends}]"


def equivalence_ends(
    mean: float, low: float, high: float, n: int, margin: float, confidence_text: str
) -> tuple[str, str]:
    """The ends of ``equivalence_text`` as printed."""
    lo, hi = equivalence_interval(mean, low, high, n, confidence_text)
    return fmt_ends(lo, hi, margin_marks(margin))


def equivalence_level(confidence_text: str) -> str:
    """The confidence level of ``equivalence_interval``, as the paper quotes it: "95" -> "90"."""
    return f"{100 * equivalence.equivalence_confidence(float(confidence_text) / 100):g}"


def verdict_interval(row, confidence_text: str) -> str:
    """The interval a contrast's verdict rests on: ``interval``, or for one shown equivalent
    ``equivalence_text``."""
    if row.verdict == "equivalent":
        return equivalence_text(
            row.mean, row.ci_low, row.ci_high, row.n, row.margin, confidence_text
        )
    return interval(row, confidence_text)


def contrast_sentence(row, confidence_text: str) -> str:
    """One contrast, in the words its verdict allows."""
    label = contrast_label(row)
    mean = mean_text(row, confidence_text)
    estimate = f"{mean} points ({interval(row, confidence_text)})"
    margin = fmt_exact(row.margin)
    alpha = significance(confidence_text)
    if row.verdict == "not trained":
        return f"{label}: not trained in this run."
    if row.n < MIN_SEEDS:
        return f"{label}: {mean} points from {plural(row.n, 'seed')}; no claim."
    if row.verdict == "difference":
        direction = "higher" if row.mean > 0 else "lower"
        within = ""
        if row.within_margin:
            inside = equivalence_text(
                row.mean, row.ci_low, row.ci_high, row.n, row.margin, confidence_text
            )
            within = f", a difference smaller than the {margin}-point margin ({inside})"
        return (
            f"{label}: {estimate}; the first is {direction} (Holm-adjusted "
            f"{p_text(row.p_difference_holm, alpha)}){within}."
        )
    if row.verdict == "equivalent":
        return (
            f"{label}: {mean} points ({verdict_interval(row, confidence_text)}); "
            f"equivalent within $\\pm${margin} "
            f"points (two one-sided tests, Holm-adjusted {p_text(row.p_equivalence_holm, alpha)})."
        )
    return (
        f"{label}: {estimate}; inconclusive: neither a difference nor equivalence within "
        f"$\\pm${margin} points is shown ({p_text(row.p_difference_holm, alpha)} and "
        f"{p_text(row.p_equivalence_holm, alpha)}, Holm-adjusted)."
    )


def contrasts_table(table: pd.DataFrame, confidence_text: str) -> str:
    """The family of primary contrasts as a booktabs table body: every column of
    ``contrasts.csv`` a reader needs to check a verdict."""
    alpha = significance(confidence_text)
    lines = [
        r"\begin{tabular}{lrrrrl}",
        r"\toprule",
        f"Contrast & $n$ & Difference [{confidence_text}\\,\\% CI] & $p_{{\\ne}}$ & "
        r"$p_{\approx}$ & Verdict \\",
        r"\midrule",
    ]
    for row in table.itertuples():
        ci = mean_text(row, confidence_text)
        if ends := interval_ends(row):  # each end on its side of zero and of the margin's
            ci += " [{}, {}]".format(*ends)
        lines.append(
            f"{contrast_label(row)} & {row.n} & {ci} & {fmt_p(row.p_difference_holm, alpha)} & "
            f"{fmt_p(row.p_equivalence_holm, alpha)} & {row.verdict} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def contrasts_appendix(table: pd.DataFrame, confidence_text: str) -> str:
    """The full list of primary contrasts, for the appendix (label ``tab:contrasts``)."""
    if table.empty:
        return "No primary contrasts were declared in this run's configuration.\n"
    margin = fmt_exact(table["margin"].iloc[0])
    no_interval = (
        f" A difference from fewer than {MIN_SEEDS} seeds has no interval."
        if (table["ci_low"].isna() & (table["n"] > 0)).any()
        else ""
    )
    return (
        "\\begin{table}[htbp]\n\\centering\n\\small\n"
        + contrasts_table(table, confidence_text)
        + "\\caption{The primary contrasts on "
        f"{latex_escape(table['dataset'].iloc[0])} (points of {metric_words(table)}): the first "
        "network minus the second, paired by seed. $p_{\\ne}$: Holm-adjusted $p$-value of the "
        "paired $t$-test of no difference; $p_{\\approx}$: Holm-adjusted $p$-value of the two "
        f"one-sided tests of equivalence within $\\pm${margin} points, which before adjustment "
        f"reject where the {equivalence_level(confidence_text)}\\,\\% interval lies inside that "
        "band (the "
        f"{confidence_text}\\,\\% interval shown may cross it).{no_interval} The verdict "
        "is the one \\texttt{analyze} gave (Figure~\\ref{fig:forest} draws the same rows).}\n"
        "\\label{tab:contrasts}\n\\end{table}\n"
    )


def metric_words(table: pd.DataFrame) -> str:
    metric = str(table["metric"].iloc[0])
    return METRIC_WORDS.get(metric, latex_escape(metric))


def contrasts_tex(
    table: pd.DataFrame, confidence_text: str, regime: pd.DataFrame | None = None
) -> str:
    """The generated part of the primary-contrasts subsection: how the family was tested, the
    forest plot and the learning curves of the primary regime. The numbers are in the answer
    section and in the appendix's table (``contrasts_appendix``)."""
    if table.empty:
        return "No primary contrasts were declared in this run's configuration.\n"
    first = table.iloc[0]
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{counts[v]} {v}" for v in (*VERDICTS, "not trained") if v in counts)
    family = int((table["n"] >= MIN_SEEDS).sum())  # Holm's family: the rest have no p-value
    outside = len(table) - family
    left_out = (
        f"; {plural(outside, 'other')}, with fewer than {MIN_SEEDS} seeds, "
        f"{'stays' if outside == 1 else 'stay'} out of it"
        if outside
        else ""
    )
    words = metric_words(table)
    if family:
        members = f"{plural(family, 'contrast')} of {words} "
        members += f"{'forms' if family == 1 else 'form'} the family{left_out}"
    elif outside == 1:
        members = f"the one declared contrast of {words} has fewer than {MIN_SEEDS} seeds, the "
        members += "fewest a test takes, so the family is empty"
    else:
        members = f"none of the {outside:,} declared contrasts of {words} has the {MIN_SEEDS} "
        members += "seeds a test takes, so the family is empty"
    head = (
        f"On {latex_escape(first['dataset'])}, {members} "
        "(Figure~\\ref{fig:forest}; every number in Table~\\ref{tab:contrasts} of the "
        "appendix): each is paired by seed; $p$-values are adjusted across the family with "
        "Holm's method, and equivalence means that both one-sided tests reject a difference "
        f"beyond $\\pm${fmt_exact(first['margin'])} points (so the "
        f"{equivalence_level(confidence_text)}\\,\\% interval, which the text quotes with each "
        f"equivalence, lies inside that band). Verdicts: {tally}.\n\n"
    )
    forest = (
        "\\begin{figure}[tbp]\n\\centering\n\\psgraphic{forest}\n"
        "\\caption{The primary contrasts: mean paired difference (first minus second, points of "
        f"{metric_words(table)}) with its {confidence_text}\\,\\% interval over seeds (thin "
        f"line) and its {equivalence_level(confidence_text)}\\,\\% interval (thick bar), the "
        "one an equivalence rests on: it lies inside the grey band (the equivalence margin of "
        f"$\\pm${fmt_exact(first['margin'])} points) exactly where both one-sided tests reject "
        "before adjustment. The point's marker gives the verdict of the "
        "Holm-adjusted tests (filled circle: difference; open diamond: equivalent; open circle: "
        "inconclusive), also written on the right. The intervals are not adjusted for the "
        "family, so they can suggest a verdict that the adjusted tests do not give. "
        "\\psdrawn{forest}}\n"
        "\\label{fig:forest}\n\\end{figure}\n\n"
    )
    figure = (
        "\\begin{figure}[tbp]\n\\centering\n"
        "\\psgraphic{learning_curves}\n"
        "\\caption{Learning curves of the primary regime (mean over seeds): training accuracy "
        "solid, validation dashed. Lines that meet: no overfitting. The ends rise as the "
        "cosine schedule anneals the learning rate, converged or not, so convergence is "
        "checked against runs at half the budget instead. \\psdrawn{learning_curves}}\n"
        "\\label{fig:learning}\n\\end{figure}\n\n"
    )
    has_regime = regime is not None and not regime.empty
    text = head + forest
    if has_regime:
        text += (
            "Figure~\\ref{fig:learning} shows how the networks of the primary regime trained.\n\n"
            + figure
        )
    return text


def regime_tex(
    regime: pd.DataFrame, figure: str | None = "fig:learning", subject: str = "The primary regime"
) -> str:
    """Whether the primary regime is what it is meant to be, from ``regime.csv``: every
    compared network's train-test gap below the threshold and its training converged, or the
    networks for which that fails, named; ``figure``: the label of its learning curves."""
    if regime.empty:
        return ""
    first = regime.iloc[0]
    worst = regime.loc[regime["gap"].idxmax()]
    free = regime["free_of_overfitting"].astype(str)
    overfit = regime[free.eq("False")]
    # analyze leaves the check empty where fewer than MIN_SEEDS seeds ran
    unshown = regime[~free.isin(["True", "False"])]
    conditions = [latex_escape(c) for c in dict.fromkeys(regime["condition"])]
    noun = "condition" if len(conditions) == 1 else "conditions"
    text = (
        f"{subject} trains {plural(len(regime), 'network')} on {latex_escape(first['dataset'])} "
        f"({noun} {', '.join(conditions)}" + (f"; Figure~\\ref{{{figure}}}). " if figure else "). ")
    )

    def names(rows: pd.DataFrame) -> str:
        return network_names(rows, regime)

    # the threshold, where the table names it (regime tables recorded before it did not)
    limit = first.get("gap_threshold", math.nan)
    named = not pd.isna(limit)
    threshold = f"the threshold of {fmt_exact(limit)} points" if named else "the threshold"
    largest = fmt_against(worst["gap"], limit) if named else fmt_signed(worst["gap"])
    if not unshown.empty:
        verb = "overfits" if len(unshown) == 1 else "overfit"
        text += (
            f"Whether {network_names(unshown, regime, conjunction=True)} {verb} was not "
            f"checked (fewer than {MIN_SEEDS} seeds). "
        )
    if not overfit.empty:
        text += (
            f"Its gap is not below {threshold} for {names(overfit)}: there it may be overfitting. "
        )
    elif unshown.empty and len(regime) == 1:
        text += (
            f"{names(regime)} has a mean train$-$test gap below {threshold} ({largest} points, "
            f"against a test-set sampling error of {fmt(worst['gap_sampling_se'])} points), so "
            "by that criterion it does not overfit. "
        )
    elif unshown.empty:
        text += (
            f"Every one of them has a mean train$-$test gap below {threshold} (largest: "
            f"{largest} points, {names(regime.loc[[worst.name]])}, against a "
            f"test-set sampling error of {fmt(worst['gap_sampling_se'])} points), so by that "
            "criterion none of them overfits. "
        )
    text += convergence_tex(regime, names)
    return text


def network_names(rows: pd.DataFrame, regime: pd.DataFrame, conjunction: bool = False) -> str:
    """The networks of ``rows`` (rows of ``regime``), each named by its operator, and by its
    condition too where the regime has several; separated by commas, the last by "and" with
    ``conjunction``."""
    several = regime["condition"].nunique() > 1
    names = [
        side_tex(row.condition, row.operator, None if several else row.condition)
        for row in rows.itertuples()
    ]
    if conjunction and len(names) > 1:
        return listed(names)
    return ", ".join(names)


def whole(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{int(value):,}"


def checked(regime: pd.DataFrame) -> pd.Series:
    """Rows whose convergence was checked (a half-budget run): True where so."""
    return regime["converged"].astype(str).isin(["True", "False"])


def convergence_tex(regime: pd.DataFrame, names) -> str:
    """What doubling the training budget did to each checked network, and which networks it
    did not check."""
    done = regime[checked(regime)]
    unconverged = done[done["converged"].astype(str).eq("False")]
    converged = done[done["converged"].astype(str).eq("True")]
    unchecked = regime[~checked(regime)]
    text = ""
    if not done.empty:
        most = done.loc[done["budget_gain"].idxmax()]
        plateau = float(most["plateau_points"])
        threshold = f"{fmt_exact(plateau)} points"

        def gain(value: float) -> str:
            return fmt_against(value, plateau)

        def at_most(rows: pd.DataFrame, value: float) -> str:
            """``by at most +0.3 points`` (``by +0.3 points`` for one network); where no gain
            is above zero, their range: ``by -1.5 to -0.2 points``."""
            if len(rows) == 1:
                return f"by {gain(value)} points"
            if value > 0:
                return f"by at most {gain(value)} points"
            return f"by {gain(rows['budget_gain'].min())} to {gain(value)} points"

        steps = f"from {whole(most['half_budget_steps'])} to {whole(most['steps'])} optimiser steps"
        if unconverged.empty:
            # a largest gain of zero or below raised no network's accuracy: it changed them
            verb = "raised" if most["budget_gain"] > 0 else "changed"
            which = (
                f" ({names(done.loc[[most.name]])})" if len(done) > 1 and verb == "raised" else ""
            )
            text += (
                f"Doubling the training budget ({steps}) {verb} the mean test accuracy of "
                f"{names(done)} {at_most(done, most['budget_gain'])}{which}, less than the "
                f"threshold of {threshold}: by that criterion "
                f"{'their' if len(done) > 1 else 'its'} training had converged. "
            )
        else:
            worst = unconverged["budget_gain"].idxmax()
            largest = gain(unconverged.loc[worst, "budget_gain"])
            # unconverged: a gain not below the threshold, which it may equal
            beyond = "more than" if (unconverged["budget_gain"] > plateau).all() else "at least"
            if len(unconverged) == 1:
                by = f"by {largest} points, {beyond} the threshold of {threshold}: its"
                involving = "it"
            else:
                by = f"by {beyond} the threshold of {threshold} (up to {largest} points, "
                by += f"{names(unconverged.loc[[worst]])}): their"
                involving = "them"
            text += (
                f"Doubling the training budget ({steps}) still raised the mean test accuracy of "
                f"{names(unconverged)} {by} training had not converged, and the comparisons "
                f"involving {involving} are provisional. "
            )
            if not converged.empty:
                rose = converged["budget_gain"].max()
                text += (
                    f"That of {names(converged)} {'rose' if rose > 0 else 'changed'} "
                    f"{at_most(converged, rose)}: by that criterion "
                    f"{'its' if len(converged) == 1 else 'their'} training had converged. "
                )
    # seeds run at both budgets, too few to decide (regime tables before analyze said so: none)
    few = unchecked.get("budget_n", pd.Series(0, index=unchecked.index)).fillna(0) > 0
    if few.any():
        text += (
            f"Convergence was not checked for {names(unchecked[few])} (fewer than {MIN_SEEDS} "
            "seeds run at both budgets). "
        )
    if not few.all():
        text += (
            f"Convergence was not checked for {names(unchecked[~few])} (no runs at half the "
            "budget). "
        )
    return text + "\n\n"


def budget_checked(row) -> bool:
    """Whether the contrast ``row`` was also measured between runs at half the budget."""
    return not pd.isna(row.budget_n) and row.budget_n > 0


def stable_under_budget(row) -> bool:
    """Whether doubling the training budget was shown to leave what the contrast ``row``
    shows as it was (``stats.budget_change``): its change shown to lie within the margin, and
    its interval at half the budget on the same side of zero as at the full budget (both
    above, both below, or both holding zero). A row without that interval (a table written
    before ``analyze`` recorded it: no ``half_budget_ci_low``) checked only the change, so
    it is not."""
    return str(row.stable_under_budget) == "True" and half_budget_recorded(row)


def half_budget_recorded(row) -> bool:
    """Whether the table holds the contrast ``row``'s interval at half the budget (tables
    written before ``analyze`` recorded it have none)."""
    return not pd.isna(getattr(row, "half_budget_ci_low", math.nan))


def change_within_margin(row) -> bool:
    """Whether the budget change of the contrast ``row`` was shown to lie within the margin
    (in tables written before ``analyze`` recorded that apart, ``stable_under_budget``
    meant just that)."""
    return str(getattr(row, "budget_change_within_margin", row.stable_under_budget)) == "True"


SIDE_WORDS = {1: "above zero", -1: "below zero", 0: "across zero"}
"""An interval's place against zero (``stats.interval_side``), in words."""


def changed_by_budget(row) -> bool:
    """Whether doubling the training budget was seen to change what the contrast ``row``
    shows (from ``MIN_SEEDS`` seeds or more, the fewest a budget check takes, with the
    contrast at half the budget recorded): its interval at half the budget above, below or
    across zero where the full budget's is not; or, both across zero, an equivalence shown at
    one budget only, which ``analyze`` records as not ``stable_under_budget`` though the change
    lies within the margin (the table keeps no test of the half budget's own)."""
    if not (budget_checked(row) and row.budget_n >= MIN_SEEDS and half_budget_recorded(row)):
        return False
    half = interval_side(row.half_budget_ci_low, row.half_budget_ci_high)
    full = interval_side(row.ci_low, row.ci_high)
    if None in (half, full):
        return False
    return half != full or (change_within_margin(row) and not stable_under_budget(row))


def change_of_answer_text(row, confidence_text: str) -> str:
    """``max - none shows, from +0.5 points (...) at half the budget to -0.4 points (...) at
    the full budget``: what the contrast ``row`` shows at both budgets."""
    return (
        f"{contrast_label(row)} shows, from {half_budget_text(row, confidence_text)} at half "
        f"the budget to {mean_text(row, confidence_text)} points "
        f"({interval(row, confidence_text)}) at the full budget"
    )


def half_budget_text(row, confidence_text: str) -> str:
    """``-0.4 points (95 % CI [-0.7, -0.1])``: the contrast ``row`` at half the budget, its
    mean to the places that put it inside its printed interval (``fmt_estimate``)."""
    low, high = row.half_budget_ci_low, row.half_budget_ci_high
    ends = () if math.isnan(low) else fmt_ends(low, high)
    interval_part = interval_text(low, high, row.budget_n, confidence_text)
    return f"{fmt_estimate(row.half_budget_mean, *ends)} points ({interval_part})"


def budget_change_text(row, confidence_text: str) -> str:
    """``moved max - none_rf by +0.3 points (95 % CI [-0.8, +1.4])``; where the change was
    shown to lie within the margin, the interval that check rests on (``equivalence_text``)."""
    values = (row.budget_change, row.budget_change_ci_low, row.budget_change_ci_high)
    if stable_under_budget(row):
        change = equivalence_text(*values, row.budget_n, row.margin, confidence_text)
        ends = equivalence_ends(*values, row.budget_n, row.margin, confidence_text)
    else:
        marks = margin_marks(row.margin)
        change = interval_text(*values[1:], row.budget_n, confidence_text, marks)
        ends = () if math.isnan(values[1]) else fmt_ends(*values[1:], marks)
        if change_within_margin(row):  # the sentence quotes the margin check's interval too
            ends += equivalence_ends(*values, row.budget_n, row.margin, confidence_text)
    moved = fmt_estimate(row.budget_change, *ends)
    return f"moved {contrast_label(row)} by {moved} points ({change})"


def regime_failure(regime: pd.DataFrame | None, rows: list, confidence_text: str, run: str) -> str:
    """Why the primary regime cannot carry the answer of the deciding contrasts ``rows``
    (empty when it can): a network on a side of those contrasts that may overfit, or whose
    overfitting or convergence was not checked (no runs at half the budget, or fewer than
    ``MIN_SEEDS`` seeds: ``analyze`` leaves the check empty); or one whose training had not
    converged, unless doubling the budget was shown to leave every deciding contrast as it
    was (``stable_under_budget``: moved by less than its margin, and on the same side of zero
    at half the budget as at the full; the answer then does not depend on the budget, though
    the accuracies still do). Networks that each count as converged (a mean gain below the
    plateau, a point estimate) do not settle it where doubling the budget moved a deciding
    contrast to another side of zero, or changed whether it shows equivalence
    (``changed_by_budget``): the answer then depends on the budget whatever each network's
    gain. ``run``: how the text names the run."""
    if regime is None or regime.empty:
        return f"{run} has no primary regime to check"
    reasons = []
    sides = {(row.first_condition, row.first_operator) for row in rows}
    sides |= {(row.second_condition, row.second_operator) for row in rows}
    deciding = regime[
        [(c, o) in sides for c, o in zip(regime["condition"], regime["operator"], strict=True)]
    ]
    # only the networks these contrasts compare: the regime also holds others (the compute
    # conditions, the other contrasts' networks), whose overfitting decides nothing here
    free = deciding["free_of_overfitting"].astype(str)
    if free.eq("False").any():
        reasons.append("a compared network may overfit")
    if not free.isin(["True", "False"]).all():  # too few seeds to decide (analyze leaves it empty)
        unshown = deciding[~free.isin(["True", "False"])]
        reasons.append(
            f"whether {network_names(unshown, regime, conjunction=True)} "
            f"{'overfits' if len(unshown) == 1 else 'overfit'} was not checked (fewer than "
            f"{MIN_SEEDS} seeds)"
        )
    unconverged = deciding[deciding["converged"].astype(str).eq("False")]
    unchecked = deciding[~checked(deciding)]
    learning = []
    changed_rows = [row for row in rows if changed_by_budget(row)]
    if unconverged.empty and changed_rows:
        # each network counts as converged, but the budget changed what a contrast shows
        reasons.append(
            "doubling the training budget changed what "
            + "; and what ".join(
                change_of_answer_text(row, confidence_text) for row in changed_rows
            )
            + ", so the answer depends on the training budget"
        )
    if not unconverged.empty and not all(stable_under_budget(row) for row in rows):
        checked_rows = [row for row in rows if budget_checked(row)]
        moved = [
            budget_change_text(row, confidence_text)
            for row in checked_rows
            if not change_within_margin(row)
        ]
        changed = [
            change_of_answer_text(row, confidence_text)
            for row in checked_rows
            if change_within_margin(row) and changed_by_budget(row)
        ]
        unrecorded = [
            contrast_label(row)
            for row in checked_rows
            if change_within_margin(row) and not half_budget_recorded(row)
        ]
        clauses = []
        if moved:
            clauses.append(
                f"{'; '.join(moved)}, not shown to stay within "
                f"$\\pm${fmt_exact(rows[0].margin)} points"
            )
        if changed:
            clauses.append(f"changed what {'; and what '.join(changed)}")
        if unrecorded:
            clauses.append(
                f"whether it left {listed(unrecorded)} on the same side of zero was not recorded"
            )
        learning.append(
            "doubling the training budget still raised the accuracy of "
            + network_names(unconverged, regime, conjunction=True)
            + "".join(f", and {clause}" for clause in clauses)
        )
    if deciding.empty:
        learning.append(
            "the convergence of the compared networks was not checked (they are not in the "
            "primary regime)"
        )
    elif not unchecked.empty:
        # runs at half the budget, but fewer seeds with both budgets than a check takes
        paired = pd.to_numeric(unchecked.get("budget_n", pd.Series(0, unchecked.index)))
        for rows_of, why in (
            (unchecked[~(paired > 0)], "no runs at half the budget"),
            (unchecked[paired > 0], f"fewer than {MIN_SEEDS} seeds run at both budgets"),
        ):
            if not rows_of.empty:
                learning.append(
                    f"the convergence of {network_names(rows_of, regime, conjunction=True)} "
                    f"was not checked ({why})"
                )
    if learning:
        reasons.append(
            " and ".join(learning) + ", so a difference may be one of how fast they learn "
            "rather than of the accuracy they reach"
        )
    return "; ".join(reasons)


def budget_tex(rows: list, confidence_text: str) -> str:
    """What doubling the training budget did to each deciding contrast that was checked: how
    much it moved, whether that was shown to lie within the margin, and the contrast at half
    the budget, which the sentence's conclusion rests on too: the answer does not depend on
    the budget only where the change lies within the margin and the contrast lies on the same
    side of zero at both budgets (``stable_under_budget``); where the change lies within the
    margin but the side differs, the budget changed the answer's contrast."""
    checked_rows = [row for row in rows if budget_checked(row)]
    if not checked_rows:
        return ""
    alpha = significance(confidence_text)

    def side(low: float, high: float) -> str:
        return SIDE_WORDS[interval_side(low, high)]

    parts = []
    for row in checked_rows:
        margin = f"$\\pm${fmt_exact(row.margin)} points"
        tests = f"two one-sided tests, {p_text(row.budget_change_p_equivalence, alpha)}"
        half = ""
        if not pd.isna(getattr(row, "half_budget_mean", math.nan)):
            half = half_budget_text(row, confidence_text)
        full = interval(row, confidence_text)
        if stable_under_budget(row):
            ending = (
                f", shown to lie within {margin} ({tests}), and at half the budget it was "
                f"{half}, {side(row.half_budget_ci_low, row.half_budget_ci_high)} as at the "
                f"full budget ({full}): over this range the answer does not depend on the budget"
            )
        elif change_within_margin(row):
            inside = equivalence_text(
                row.budget_change,
                row.budget_change_ci_low,
                row.budget_change_ci_high,
                row.budget_n,
                row.margin,
                confidence_text,
            )
            shown = f", shown to lie within {margin} (two one-sided tests, {inside}, "
            shown += f"{p_text(row.budget_change_p_equivalence, alpha)}), but "
            if half_budget_recorded(row):
                ending = (
                    f"{shown}at half the budget it was {half}, "
                    f"{side(row.half_budget_ci_low, row.half_budget_ci_high)}, where at the "
                    f"full budget it is {side(row.ci_low, row.ci_high)} ({full}): the budget "
                    "changed the answer's contrast, so over this range the budget check does "
                    "not settle the answer"
                )
            else:
                ending = (
                    f"{shown}the contrast at half the budget was not recorded, so whether the "
                    "budget changed the answer's contrast was not checked"
                )
        else:
            ending = f", not shown to lie within {margin} ({tests})"
            if half:
                ending += f", and at half the budget it was {half}"
        parts.append(budget_change_text(row, confidence_text) + ending)
    return "Doubling the training budget " + "; it ".join(parts) + ".\n\n"


def verdict_sentence(
    rows: list,
    regime: pd.DataFrame | None,
    confidence_text: str,
    run: str = "this run",
    refer: bool = False,
) -> str:
    """One answer to the question from the deciding contrasts (``primary.answer``); where the
    primary regime's own checks fail, the measured contrast and why it does not settle the
    question instead. ``run``: how the text names the run (a recorded one: "that run");
    ``refer``: point to the section "The answer" for the checks (in the abstract and the
    conclusion; that section itself gives them next)."""
    if not rows:
        return f"{run.capitalize()} declares no deciding contrast, so it gives no answer. "
    verdicts = {row.verdict for row in rows}
    quoted = "; ".join(
        f"{contrast_label(row)}: {mean_text(row, confidence_text)} points "
        f"({verdict_interval(row, confidence_text)})"
        for row in rows
    )
    failure = regime_failure(regime, rows, confidence_text, run)
    if failure:
        where = " (Section~\\ref{sec:answer})" if refer else ""
        return (
            f"Not settled: at {run}'s budget, pooling against no pooling measured "
            f"{quoted}, but {failure}{where}. "
        )
    if verdicts == {"difference"} and all(row.mean > 0 for row in rows):
        return f"Yes: where no compared network overfits, pooling raised accuracy ({quoted}). "
    if all(lowered(row) for row in rows):
        return f"No: where no compared network overfits, pooling lowered accuracy ({quoted}). "
    # an equivalence bounds the change by the margin; it does not rule out a smaller rise
    # (its interval may lie above zero), so the answer is not a plain "no"
    if verdicts == {"equivalent"}:
        margin = fmt_exact(rows[0].margin)
        return (
            f"Not by more than {margin} points: where no compared network overfits, pooling "
            f"changed accuracy by less than $\\pm${margin} points ({quoted}). "
        )
    if all(row.verdict == "equivalent" or lowered(row) for row in rows):
        margin = fmt_exact(rows[0].margin)
        return (
            f"Not by more than {margin} points: where no compared network overfits, pooling "
            f"lowered accuracy or changed it by less than $\\pm${margin} points ({quoted}). "
        )
    where = "Section~\\ref{sec:answer}" if refer else "the verdicts below"
    if verdicts == {"difference"}:  # shown in both directions
        return (
            "It depends: where no compared network overfits, pooling raised accuracy in some "
            f"deciding contrasts and lowered it in others ({quoted}); see {where}. "
        )
    return f"{run.capitalize()} cannot tell: {quoted}; see {where}. "


def lowered(row) -> bool:
    """A contrast that shows pooling (its first side) lowering accuracy."""
    return row.verdict == "difference" and row.mean < 0


def mechanism_effect(row) -> str:
    """What the contrast ``row`` shows its mechanism did to accuracy, in a few words."""
    if row.verdict == "difference":
        return "raised accuracy" if row.mean > 0 else "lowered accuracy"
    if row.verdict == "equivalent":
        return f"changed accuracy by less than $\\pm${fmt_exact(row.margin)} points"
    return "had an effect that this run cannot tell from none"


def mechanisms_sentence(
    pairs: list, regime: pd.DataFrame | None, confidence_text: str, run: str
) -> str:
    """The answer split into its mechanisms, one clause each (``pairs``: (mechanism, row) for
    the contrasts outside the answer, trained with enough seeds); provisional, with the reason,
    where the primary regime's checks fail for their networks. Empty without such pairs."""
    if not pairs:
        return ""
    clauses = [
        f"\\emph{{{latex_escape(mechanism)}}} {mechanism_effect(row)} ({contrast_label(row)}: "
        f"{mean_text(row, confidence_text)} points, {verdict_interval(row, confidence_text)})"
        for mechanism, row in pairs
    ]
    failure = regime_failure(regime, [row for _, row in pairs], confidence_text, run)
    caveat = f" These parts are provisional: {failure}." if failure else ""
    return "Split into its parts: " + "; ".join(clauses) + "." + caveat


def split_answer(
    table: pd.DataFrame,
    regime: pd.DataFrame | None,
    answer: list[str],
    pairs: list,
    confidence_text: str,
    run: str = "this run",
    refer: bool = False,
) -> str:
    """The verdict of the deciding contrasts ``answer`` and, after it, the answer split into
    its mechanisms (``pairs``: (mechanism, contrast name)), each trained with enough seeds;
    ``refer`` as in ``verdict_sentence``."""
    by_name = {row.name: row for row in table.itertuples()}
    deciding = [by_name[name] for name in answer if name in by_name]
    verdict = verdict_sentence(deciding, regime, confidence_text, run, refer).strip()
    parts = [
        (mechanism, by_name[name])
        for mechanism, name in pairs
        if name in by_name and name not in answer and by_name[name].n >= MIN_SEEDS
    ]
    if split := mechanisms_sentence(parts, regime, confidence_text, run):
        verdict = f"{verdict} {split}"
    return verdict


def answer_tex(
    table: pd.DataFrame,
    regime: pd.DataFrame | None,
    answer: list[str],
    mechanisms: dict[str, str] | list,
    confidence_text: str,
) -> str:
    """The generated answer as two macros: ``\\psanswer``, the verdict and its split into
    mechanisms (the abstract quotes it), and ``\\psanswerbody``, the same, the regime's checks
    and one paragraph per mechanism (each its contrast's sentence), for the section "The
    answer"."""
    by_name = {row.name: row for row in table.itertuples()}
    deciding = [by_name[name] for name in answer if name in by_name]
    pairs = list(mechanisms.items() if isinstance(mechanisms, dict) else mechanisms)
    verdict = split_answer(table, regime, answer, pairs, confidence_text, refer=True)
    body = [split_answer(table, regime, answer, pairs, confidence_text), ""]
    if regime is not None and not regime.empty:
        body.append(regime_tex(regime))
        if budget := budget_tex(deciding, confidence_text):
            body.append(budget)
    for mechanism, name in pairs:
        if name in by_name:
            body.append(
                f"\\paragraph{{{latex_escape(mechanism.capitalize())}.}} "
                f"{contrast_sentence(by_name[name], confidence_text)}\n"
            )
    return (
        f"\\newcommand{{\\psanswer}}{{{verdict}}}\n"
        + "\\newcommand{\\psanswerbody}{%\n"
        + "\n".join(body)
        + "}\n"
    )
