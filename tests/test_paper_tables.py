"""The paper's tables and number formatting, each in full on small hand-made inputs: every
rule, heading, cell and caption, so a change to any of them is seen."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from poolstudy.data import DATASETS
from poolstudy.data.glyphs import font_files
from poolstudy.paper import tables
from poolstudy.paper.format import cell, clean_table, fmt, fmt_beside, fmt_ci, fmt_exact
from poolstudy.pooling import OPERATORS

NAN = math.nan
COLUMNS = ["dataset", "condition", "operator", "metric", "protocol", "dx", "dy", "mean"]
COLUMNS += ["ci_low", "ci_high"]
HEADER = r"operator & cons. & cons.\,$|$\,clean ok & both ok\,$|$\,one ok & P(change) & MAC \\"
COINCIDENCE_REASON = (
    "these protocols differ only in what enters the image across its border, so they coincide "
    "wherever that is the same under each of them for the shifts these measures use "
    "(background, where the image's margin is at least as wide as the shift)."
)


def summary_rows(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS)


def clean(condition, operator, metric, mean, low=NAN, high=NAN, dataset="digits"):
    return (dataset, condition, operator, metric, NAN, NAN, NAN, mean, low, high)


def consistency(condition, operator, protocol, mean, low, high):
    return ("digits", condition, operator, "consistency", protocol, NAN, NAN, mean, low, high)


SUMMARY = summary_rows(
    clean("gap", "max", "accuracy_train", 91.25, 90.25, 92.25),
    clean("gap", "max", "accuracy_test", 88.5, 88.0, 89.0),
    clean("gap", "none", "accuracy_train", 99.0),  # one seed: no interval
    clean("gap", "none", "accuracy_test", 80.0),
    clean("flat", "max", "accuracy_train", 95.0, 94.0, 96.0),
    clean("flat", "max", "accuracy_test", 90.0, 89.5, 90.5),
    consistency("gap", "max", "circular", 70.0, 68.0, 72.0),
    consistency("gap", "none", "circular", 60.0, 59.0, 61.0),
    consistency("gap", "max", "zero", 71.0, 70.0, 72.0),
    consistency("flat", "max", "circular", 75.0, 74.0, 76.0),
    ("digits", "gap", "max", "accuracy_shifted", "zero", 1, 0, 50.0, 49.0, 51.0),
    clean("gap", "max", "accuracy_train", 1.0, 0.0, 2.0, dataset="mnist"),
    clean("gap", "max", "accuracy_test", 1.0, 0.0, 2.0, dataset="mnist"),
)


def test_fmt_says_n_a_for_a_missing_value_and_rounds_to_its_digits():
    assert (fmt(None), fmt(NAN), fmt(3), fmt(2.345, 2), fmt(-0.46), fmt(0.05)) == (
        "n/a",
        "n/a",
        "3.0",
        "2.35",  # 2.345 is stored as 2.34500000000000019984
        "-0.5",
        "0.1",  # 0.05 is stored as 0.05000000000000000277
    )


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(-0.04, 1, "-0.04"), (0.003, 1, "0.003"), (-0.0004, 2, "-0.0004"), (-0.0, 1, "0.0"),
     (0.0, 2, "0.00"), (-0.049, 1, "-0.05"), (0.95, 0, "1"), (-0.000002, 1, "-0.000002"),
     (-2e-15, 1, "0.0"), (3e-9, 2, "0.00"), (1.25, 8, "1.25000000")],
)  # fmt: skip
def test_fmt_keeps_the_sign_of_a_value_that_rounds_to_zero_and_gives_zero_none(
    value, digits, expected
):
    assert fmt(value, digits) == expected


@pytest.mark.parametrize(
    ("tex", "expected"),
    [
        ("moved by -0.4 points", "moved by $-$0.4 points"),
        ("95\\,\\% CI [-1.3, -0.3]", "95\\,\\% CI [$-$1.3, $-$0.3]"),
        ("(2 seeds) & -5.8 & (-12)", "(2 seeds) & $-$5.8 & ($-$12)"),
        ("none: -0.03; max:-2", "none: $-$0.03; max:$-$2"),
        ("none -0.0, max -0.8. Then (-12.5).", "none $-$0.0, max $-$0.8. Then ($-$12.5)."),
        ("\\psset{gap}{-0.8}", "\\psset{gap}{$-$0.8}"),
        ("\\hspace{-2pt}\\\\[-1.5ex] \\vspace{-3mm}", "\\hspace{-2pt}\\\\[-1.5ex] \\vspace{-3mm}"),
        ("primary-1, 2026-12-07, 4-8 steps, x-1", "primary-1, 2026-12-07, 4-8 steps, x-1"),
        ("max $-$ none, a - b, +0.4, -x", "max $-$ none, a - b, +0.4, -x"),
    ],
)
def test_typeset_minus_turns_only_a_numbers_sign_into_a_minus(tex, expected):
    from poolstudy.paper.format import typeset_minus

    assert typeset_minus(tex) == expected
    assert fmt_ci({"mean": 1.234, "ci_low": 0.984, "ci_high": 1.484}, 2) == r"1.23 $\pm$ 0.25"
    assert fmt_ci({"mean": 1.234, "ci_low": NAN, "ci_high": NAN}, 2) == "1.23"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.25, "0.25"), (1.0, "1.0"), (2, "2.0"), (0.125, "0.125"), (NAN, "n/a"), (1 / 3, "0.333333")],
)
def test_a_setting_prints_as_written(value, expected):
    assert fmt_exact(value) == expected


@pytest.mark.parametrize(
    ("value", "threshold", "signed", "expected"),
    [
        (0.97, 1.0, True, "+0.97"),  # not "+1.0", which would not look less than 1.0
        (1.04, 1.0, False, "1.04"),  # not "1.0", which would not look more
        (0.4, 1.0, True, "+0.4"),  # far from it: the usual digit
        (94.96, 95.0, False, "94.96"),
        (95.0, 95.0, False, "95.0"),  # on it: stays on it
        (0.99999, 1.0, False, "0.99999"),  # as many digits as it takes
        (1.0000003, 1.0, True, "+1.0000003"),
        # float noise of a mean on the threshold is on it, as analyze decides (stats.on_threshold)
        (0.9999999999999952, 1.0, True, "+1.0"),
        (1 - 2**-52, 1.0, False, "1.0"),
        (NAN, 1.0, False, "n/a"),
    ],
)
def test_a_value_prints_on_the_side_of_the_threshold_it_was_compared_with(
    value, threshold, signed, expected
):
    assert fmt_beside(value, threshold, signed=signed) == expected


def test_the_clean_table_keeps_the_unshifted_rows_with_an_empty_protocol():
    table = clean_table(SUMMARY)
    assert len(table) == len(SUMMARY) - 1 and table["dx"].isna().all()
    assert list(table["protocol"][:2]) == ["", ""]
    assert cell(table, "digits", "gap", "max", "consistency", "zero")["mean"] == 71.0
    with pytest.raises(KeyError, match="one summary row for digits/gap/max/consistency/crop"):
        cell(table, "digits", "gap", "max", "consistency", "crop")
    with pytest.raises(KeyError, match="one summary row"):
        cell(pd.concat([table, table]), "digits", "gap", "max", "accuracy_test")


def test_the_results_table_in_full():
    bootstrap = pd.DataFrame(
        [("digits", "gap", "max", 88.5, 87.75, 89.25), ("mnist", "gap", "max", 1.0, 0.5, 1.5)],
        columns=["dataset", "condition", "operator", "mean", "ci_low", "ci_high"],
    )
    assert tables.results_table(SUMMARY, "digits", bootstrap) == (
        "\\begin{tabular}{lrrrr}\n"
        "\\toprule\n"
        "operator & train & test & test (images) & gap \\\\\n"
        "\\midrule\n"
        "\\multicolumn{5}{l}{\\emph{condition gap}} \\\\\n"
        "\\texttt{none} & 99.0 & 80.0 & -- & 19.0 \\\\\n"
        "\\texttt{max} & 91.2 $\\pm$ 1.0 & 88.5 $\\pm$ 0.5 & [87.8, 89.2] & 2.8 \\\\\n"
        "\\midrule\n"
        "\\multicolumn{5}{l}{\\emph{condition flat}} \\\\\n"
        "\\texttt{max} & 95.0 $\\pm$ 1.0 & 90.0 $\\pm$ 0.5 & -- & 5.0 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    empty = bootstrap.iloc[:0]
    for none in (None, empty):
        assert "[87.8, 89.2]" not in tables.results_table(SUMMARY, "digits", none)


def test_the_consistency_table_in_full():
    assert tables.consistency_table(SUMMARY, "digits") == (
        "\\begin{tabular}{lrr}\n"
        "\\toprule\n"
        "operator & circular & zero \\\\\n"
        "\\midrule\n"
        "\\multicolumn{3}{l}{\\emph{condition gap}} \\\\\n"
        "\\texttt{none} & 60.0 $\\pm$ 1.0 & -- \\\\\n"
        "\\texttt{max} & 70.0 $\\pm$ 2.0 & 71.0 $\\pm$ 1.0 \\\\\n"
        "\\midrule\n"
        "\\multicolumn{3}{l}{\\emph{condition flat}} \\\\\n"
        "\\texttt{max} & 75.0 $\\pm$ 1.0 & -- \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    assert tables.consistency_table(SUMMARY, "mnist") == (
        "\\emph{No shift protocol was evaluated on this dataset.}\n"
    )


def test_the_consistency_table_leaves_out_a_condition_that_evaluated_no_protocol():
    clean_only = summary_rows(
        clean("half", "max", "accuracy_train", 80.0, 79.0, 81.0),
        clean("half", "max", "accuracy_test", 79.0, 78.0, 80.0),
    )
    with_half = pd.concat([SUMMARY, clean_only], ignore_index=True)
    assert "condition half" in tables.results_table(with_half, "digits")
    assert tables.consistency_table(with_half, "digits") == tables.consistency_table(
        SUMMARY, "digits"
    )


def stability_summary() -> pd.DataFrame:
    """Every stability measure of max and none under three protocols: consistency and MAC
    equal under circular and zero, P(change) equal under all three, the rest apart; none
    has no 'both ok | one ok' under subpixel."""
    rows = []
    for p_index, protocol in enumerate(("circular", "zero", "subpixel")):
        for o_index, operator in enumerate(("max", "none")):
            for m_index, metric in enumerate(tables.STABILITY_COLUMNS):
                pair = metric in ("consistency", "mean_abs_change") and protocol != "subpixel"
                apart = 0 if pair or metric == "p_top1_change" else p_index / 10
                value = 10.0 * m_index + o_index + apart
                missing = ("subpixel", "none", "consistency_given_one_correct")
                if (protocol, operator, metric) != missing:
                    row = (operator, metric, protocol, value, value - 0.5, value + 0.5)
                    rows.append(("digits", "gap", *row[:3], NAN, NAN, *row[3:]))
    rows.append(consistency("flat", "max", "circular", 1.0, 0.0, 2.0))
    return summary_rows(*rows)


def operator_row(operator: str, *cells: str) -> str:
    return f"\\texttt{{{operator}}} & " + " & ".join(cells) + " \\\\\n"


def pm(*means: float) -> list[str]:
    return [f"{mean:.1f} $\\pm$ 0.5" for mean in means]


def test_the_stability_table_in_full():
    assert tables.stability_table(stability_summary(), "digits", "gap") == (
        "\\begin{tabular}{lrrrrr}\n"
        "\\toprule\n"
        f"{HEADER}\n"
        "\\midrule\n"
        + operator_row("none", *pm(1, 11, 21, 31, 41))
        + operator_row("max", *pm(0, 10, 20, 30, 40))
        + "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    assert tables.stability_table(stability_summary(), "mnist", "gap") == (
        "\\emph{No shift protocol was evaluated under this condition.}\n"
    )


def test_the_protocols_that_coincide_are_named_escaped():
    assert tables.coincidence_note({"consistency": ["circular", "subpixel_fourier"]}) == (
        " Cons. coincides under the circular and subpixel\\_fourier protocols: "
        + COINCIDENCE_REASON
    )


def test_the_stability_appendix_in_full_says_which_columns_coincide():
    assert tables.stability_appendix(stability_summary(), "digits", "gap", confidence="90") == (
        "Table~\\ref{tab:stability-all} gives the stability measures under every protocol.\n\n"
        "\\begin{longtable}{lrrrrr}\n"
        "\\caption{Shift stability on digits, condition \\texttt{gap}, under every protocol "
        "(mean $\\pm$ half-width of the 90\\,\\% interval over seeds; percentages, MAC in "
        "points). Cons. and MAC coincide under the circular and zero protocols; P(change) "
        f"coincides under the circular, zero and subpixel protocols: {COINCIDENCE_REASON}}}"
        "\\label{tab:stability-all}\\\\\n"
        "\\toprule\n"
        f"{HEADER}\n"
        "\\midrule\n"
        "\\endfirsthead\n"
        "\\toprule\n"
        f"{HEADER}\n"
        "\\midrule\n"
        "\\endhead\n"
        "\\bottomrule\n"
        "\\endfoot\n"
        "\\multicolumn{6}{l}{\\emph{circular shifts}} \\\\\n"
        + operator_row("none", *pm(1, 11, 21, 31, 41))
        + operator_row("max", *pm(0, 10, 20, 30, 40))
        + "\\midrule\n"
        "\\multicolumn{6}{l}{\\emph{zero shifts}} \\\\\n"
        + operator_row("none", *pm(1, 11.1, 21.1, 31, 41))
        + operator_row("max", *pm(0, 10.1, 20.1, 30, 40))
        + "\\midrule\n"
        "\\multicolumn{6}{l}{\\emph{subpixel shifts}} \\\\\n"
        + operator_row("none", *pm(1.2, 11.2), "--", *pm(31, 41.2))
        + operator_row("max", *pm(0.2, 10.2, 20.2, 30, 40.2))
        + "\\end{longtable}\n"
    )
    assert tables.stability_appendix(stability_summary(), "digits", "none", "95") == (
        "No shift protocol was evaluated under the primary condition.\n"
    )


@pytest.mark.parametrize("column", ["mean", "ci_low", "ci_high"])
def test_columns_that_differ_get_no_coincidence_note(column):
    summary = stability_summary()
    summary.loc[summary["protocol"] == "zero", column] += 0.3
    summary.loc[(summary["protocol"] == "subpixel") & (summary["operator"] == "max"), column] -= 1
    appendix = tables.stability_appendix(summary, "digits", "gap", "95")
    assert "points).}\\label{tab:stability-all}" in appendix and "coincide" not in appendix


def test_columns_of_one_seed_coincide_though_they_have_no_interval():
    """One seed gives no interval (NaN bounds); equal means must still be found equal, and
    a bound present under one protocol alone still tells its columns apart."""
    summary = stability_summary()
    summary[["ci_low", "ci_high"]] = NAN
    caption = tables.stability_appendix(summary, "digits", "gap", "95").split("\\label")[0]
    assert caption.endswith(
        "points). Cons. and MAC coincide under the circular and zero protocols; P(change) "
        f"coincides under the circular, zero and subpixel protocols: {COINCIDENCE_REASON}}}"
    )
    summary.loc[(summary["protocol"] == "zero") & (summary["operator"] == "max"), "ci_low"] = 0
    caption = tables.stability_appendix(summary, "digits", "gap", "95").split("\\label")[0]
    assert caption.endswith(
        "points). P(change) coincides under the circular and subpixel protocols: "
        f"{COINCIDENCE_REASON}}}"
    )


def models_rows(rows) -> pd.DataFrame:
    columns = ["dataset", "condition", "operator", "seed", "parameters", "flops"]
    columns += ["receptive_field", "final_feature_map"]
    return pd.DataFrame(rows, columns=columns)


def test_the_operators_and_parameters_tables_in_full():
    models = models_rows(
        [
            ("digits", "gap", "max", 0, 12345, 2.5e6, 18, 4),
            ("digits", "gap", "max", 1, 12345, 2.5e6, 18, 4),
            ("digits", "gap", "none", 0, 1000, 12_345_010, 7, 32),
            ("digits", "flat", "max", 0, 99999, 2.6e6, 18, 4),
        ]
    )
    described = {
        name: f"{OPERATORS[name].summary} \\cite{{{OPERATORS[name].source}}}"
        if OPERATORS[name].source
        else OPERATORS[name].summary
        for name in ("none", "max")
    }
    assert tables.operators_table(models, "gap") == (
        "\\begin{tabular}{lp{8.2cm}rrr}\n"
        "\\toprule\n"
        "operator & what it does & MFLOPs & RF & final map \\\\\n"
        "\\midrule\n"
        f"\\texttt{{none}} & {described['none']} & 12.35 & 7 & 32$\\times$32 \\\\\n"
        f"\\texttt{{max}} & {described['max']} & 2.50 & 18 & 4$\\times$4 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )
    # the accounting under the condition named, an operator it did not train under the first
    # that did, named in its row
    flat = models[(models["condition"] == "flat") | (models["operator"] == "none")]
    assert tables.operators_table(flat, "flat").splitlines()[4:6] == [
        f"\\texttt{{none}} & {described['none']} (under \\texttt{{gap}}) & 12.35 & 7 & "
        "32$\\times$32 \\\\",
        f"\\texttt{{max}} & {described['max']} & 2.60 & 18 & 4$\\times$4 \\\\",
    ]
    assert tables.parameters_table(models) == (
        "\\begin{tabular}{lrr}\n"
        "\\toprule\n"
        " & \\multicolumn{2}{c}{parameters under condition} \\\\\n"
        "\\cmidrule(l){2-3}\n"
        "operator & \\texttt{gap} & \\texttt{flat} \\\\\n"
        "\\midrule\n"
        "\\texttt{none} & 1,000 & -- \\\\\n"
        "\\texttt{max} & 12,345 & 99,999 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_the_datasets_table_in_full():
    glyph_options = {"classes": "letters", "n_train": 1000, "n_test": 200, "canvas": 16}
    options = {"glyphs": glyph_options | {"size": 10, "noise": 0.4, "background": 0.5}}
    glyphs = (
        f"26 procedural letters from {len(font_files())} matplotlib fonts, randomly deformed "
        "(unlimited): glyphs of 10 pixels on a 16-pixel canvas, noise 0.4, background 0.5; "
        "1,000 training and 200 test images"
    )
    digits = DATASETS["digits"]
    assert not DATASETS["glyphs"].source and digits.source  # made here; cited
    assert tables.datasets_table(["glyphs", "digits"], options) == (
        "\\begin{tabular}{lp{8cm}}\n"
        "\\toprule\n"
        "dataset & description \\\\\n"
        "\\midrule\n"
        f"glyphs & {glyphs} \\\\\n"
        f"digits & {digits.summary} \\cite{{{digits.source}}} \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
    )


def test_the_stability_table_names_the_first_shift_protocol_of_its_cell():

    summary = stability_summary()
    assert tables.stability_protocol(summary, "digits", "gap") == "circular"
    assert tables.stability_protocol(
        summary[summary["protocol"] != "circular"], "digits", "gap"
    ) == ("zero")
    assert tables.stability_protocol(summary, "digits", "none") == ""


def test_a_column_coincides_where_it_is_equal_to_float_noise_and_only_where_measured():
    summary = stability_summary()
    zero = summary["protocol"] == "zero"
    summary.loc[zero, ["mean", "ci_low", "ci_high"]] += 9e-11  # equal to nine decimals
    # MAC measured under circular alone; 'cons. | clean ok' under zero and subpixel alone,
    # equal there
    summary = summary[
        ~((summary["metric"] == "mean_abs_change") & (summary["protocol"] != "circular"))
    ]
    clean_ok = summary["metric"] == "consistency_given_clean_correct"
    summary = summary[~(clean_ok & (summary["protocol"] == "circular"))]
    clean_ok = summary["metric"] == "consistency_given_clean_correct"
    summary.loc[clean_ok & (summary["protocol"] == "zero"), ["mean", "ci_low", "ci_high"]] = (
        summary.loc[
            clean_ok & (summary["protocol"] == "subpixel"), ["mean", "ci_low", "ci_high"]
        ].to_numpy()
    )
    caption = tables.stability_appendix(summary, "digits", "gap", "95").split("\\label")[0]
    assert caption.endswith(
        "(mean $\\pm$ half-width of the 95\\,\\% interval over seeds; percentages, MAC in "
        "points). Cons. coincides under the circular and zero protocols; cons.\\,$|$\\,clean "
        "ok coincides under the zero and subpixel protocols; P(change) coincides under the "
        f"circular, zero and subpixel protocols: {COINCIDENCE_REASON}}}"
    )


def test_the_coincidence_note_lists_three_columns_and_protocols_with_commas():
    found = {
        "consistency": ["circular", "zero", "crop"],
        "p_top1_change": ["circular", "zero", "crop"],
        "mean_abs_change": ["circular", "zero", "crop"],
        "consistency_given_one_correct": ["zero", "crop"],
    }
    assert tables.coincidence_note(found) == (
        " Cons., P(change) and MAC coincide under the circular, zero and crop protocols; both "
        f"ok\\,$|$\\,one ok coincides under the zero and crop protocols: {COINCIDENCE_REASON}"
    )
    assert tables.coincidence_note({}) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.03, "+0.03"),  # printed as fmt prints it, not +0.0
        (-0.03, "-0.03"),  # not -0.0
        (2.0, "+2.0"),
        (-2.04, "-2.0"),
        (1e-17, "0.0"),  # float noise: zero, without a sign
        (-2e-15, "0.0"),
        (0.0, "0.0"),
        (NAN, "n/a"),
    ],
)
def test_a_signed_value_prints_as_fmt_does_with_a_sign_only_where_it_is_not_zero(value, expected):
    from poolstudy.paper.format import fmt_signed

    assert fmt_signed(value) == expected
    assert fmt_signed(value).lstrip("+") == fmt(value)


@pytest.mark.parametrize(
    ("mean", "ends", "expected"),
    [
        # one place would put the mean outside the interval printed beside it
        (0.97, ("+0.96", "+0.98"), "+0.97"),
        (0.03, ("+0.02", "+0.04"), "+0.03"),
        (-0.03, ("-0.04", "-0.02"), "-0.03"),
        # one place lies inside, and is kept
        (0.3, ("+0.04", "+0.6"), "+0.3"),
        (-0.5, ("-1.004", "-0.0004"), "-0.5"),
        # inside each of two intervals: here the inner one needs two places
        (0.975, ("+0.9", "+1.04", "+0.97", "+0.99"), "+0.97"),
        (2.0, (), "+2.0"),
    ],
)
def test_a_mean_prints_inside_the_printed_ends_of_its_interval(mean, ends, expected):
    from poolstudy.paper.format import fmt_estimate

    assert fmt_estimate(mean, *ends) == expected


def test_a_signed_value_beside_a_threshold_keeps_its_side_of_zero_too():
    from poolstudy.paper.format import fmt_against

    assert fmt_against(-0.03, 1.0) == "-0.03"  # not -0.0
    assert fmt_against(0.97, 1.0) == "+0.97"
    assert fmt_against(0.029, 0.03) == "+0.029"
    assert fmt_against(2e-15, 1.0) == "0.0"  # float noise
    assert fmt_against(NAN, 1.0) == "n/a"


def test_an_interval_keeps_each_end_on_its_side_of_the_marks_it_is_given():
    from poolstudy.paper.format import ci_text

    assert ci_text(0.961, 0.979, "95") == "95\\,\\% CI [+1.0, +1.0]"
    assert ci_text(0.961, 0.979, "95", (-1.0, 0.0, 1.0)) == "95\\,\\% CI [+0.96, +0.98]"


def test_fmt_shows_the_sign_of_a_value_that_rounds_to_zero_in_at_most_most_digits_places():
    from poolstudy.paper.format import MOST_DIGITS

    assert MOST_DIGITS == 6
    assert fmt(-6e-7) == "-0.000001"  # the sixth place shows it
    assert (fmt(-4e-7), fmt(4e-7, 2)) == ("0.0", "0.00")  # it takes a seventh: noise, 0


def test_a_value_beside_a_threshold_gets_the_digits_asked_for_even_past_every_digit():
    from poolstudy.paper.format import EVERY_DIGIT

    for digits in (EVERY_DIGIT - 1, EVERY_DIGIT, EVERY_DIGIT + 1):
        assert fmt_beside(0.25, 1.0, digits) == f"{0.25:.{digits}f}"


@pytest.mark.parametrize(
    ("mean", "ends", "expected"),
    [
        # a mean that rounds onto an end of its interval prints as that end, which is inside
        (0.31, ("+0.3", "+0.65"), "+0.3"),
        (0.59, ("+0.25", "+0.6"), "+0.6"),
        # an interval without ends (n/a: too few seeds) bounds nothing; the others still do
        (0.97, ("+0.96", "+0.98", "n/a", "n/a"), "+0.97"),
        (0.97, ("n/a", "n/a", "+0.96", "+0.98"), "+0.97"),
        (0.97, ("n/a", "n/a"), "+1.0"),
        (NAN, ("+0.96", "+0.98"), "n/a"),
        # a mean that no places put inside an interval: the places of its ends, no more
        (0.5, ("+0.9", "+1.0"), "+0.5"),
        (0.5, ("+0.90", "+1.00"), "+0.50"),
    ],
)
def test_a_mean_prints_on_the_ends_of_its_interval_and_ignores_intervals_without_ends(
    mean, ends, expected
):
    from poolstudy.paper.format import fmt_estimate

    assert fmt_estimate(mean, *ends) == expected


def test_an_interval_keeps_its_ends_on_their_side_of_zero_unless_given_other_marks():
    from poolstudy.paper.format import interval_text

    assert interval_text(-0.03, 0.97, 5, "95") == "95\\,\\% CI [-0.03, +1.0]"
    assert interval_text(-0.03, 0.97, 5, "95", (0.0, 1.0)) == "95\\,\\% CI [-0.03, +0.97]"
    assert interval_text(NAN, NAN, 2, "95") == "2 seeds, too few for an interval"
