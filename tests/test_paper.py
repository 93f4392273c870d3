"""Tables, numbers and generated sentences for the paper."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pandas as pd
import pytest

from poolstudy.evaluate import COLUMNS
from poolstudy.paper import (
    comparison_sentence,
    consistency_table,
    fmt_ci,
    latex_escape,
    numbers_tex,
    operators_table,
    paired_table,
    parameters_table,
    results_table,
)
from poolstudy.pooling import OPERATORS
from poolstudy.stats import MODEL_KEYS

NAN = math.nan


def body_rows(table: str) -> list[str]:
    """The operator rows: between the first rule and the bottom rule, without the rules and
    the condition headings."""
    lines = table.splitlines()
    start = lines.index(r"\midrule") + 1
    end = lines.index(r"\bottomrule")
    return [line for line in lines[start:end] if line != r"\midrule" and "multicolumn" not in line]


def test_latex_escape():
    assert latex_escape("a_b") == r"a\_b"
    assert latex_escape("50%") == r"50\%"
    assert latex_escape("x & y") == r"x \& y"
    assert latex_escape("#1") == r"\#1"
    assert latex_escape("plain text") == "plain text"
    assert latex_escape("fashion_mnist 5% & #2") == r"fashion\_mnist 5\% \& \#2"


def test_latex_escape_backslash_and_braces():
    assert latex_escape("\\") == r"\textbackslash{}"
    assert latex_escape("{x}") == r"\{x\}"
    assert latex_escape("$") == r"\$"
    # a schema pattern quoted in a config error, a home folder
    assert latex_escape("'^[a-z]+$'") == r"'\textasciicircum{}[a-z]+\$'"
    assert latex_escape("~/data") == r"\textasciitilde{}/data"


def paired_row(operator="max", mean=2.0, low=1.0, high=3.0, significant=True, n=5) -> pd.Series:
    return pd.Series(
        {
            "operator": operator,
            "mean": mean,
            "ci_low": low,
            "ci_high": high,
            "significant": significant,
            "n": n,
        }
    )


def test_sentence_raises_when_significant_and_positive():
    text = comparison_sentence(paired_row(mean=2.0, low=1.0, high=3.0), "clean test accuracy", "95")
    assert "raises" in text
    assert "lowers" not in text and "no significant" not in text
    assert "clean test accuracy" in text
    assert "2.0" in text
    assert r"\texttt{max}" in text


def test_sentence_lowers_when_significant_and_negative():
    row = paired_row(operator="stride", mean=-2.5, low=-4.0, high=-1.0)
    text = comparison_sentence(row, "zero-shift consistency", "95")
    assert "lowers" in text
    assert "raises" not in text and "no significant" not in text
    assert "2.5" in text


@pytest.mark.parametrize("mean", [3.0, -3.0])
def test_sentence_not_significant_makes_no_direction_claim(mean):
    row = paired_row(mean=mean, low=-5.0, high=5.0, significant=False)
    text = comparison_sentence(row, "clean test accuracy", "95")
    assert "no significant difference" in text
    assert "raises" not in text and "lowers" not in text


def test_sentence_significance_comes_from_flag():
    row = paired_row(mean=2.0, low=1.0, high=3.0, significant=False)
    text = comparison_sentence(row, "clean test accuracy", "95")
    assert "no significant difference" in text
    assert "raises" not in text


def test_sentence_one_seed_makes_no_claim():
    row = paired_row(mean=4.0, low=NAN, high=NAN, significant=False)
    text = comparison_sentence(row, "clean test accuracy", "95")
    assert "no claim" in text
    assert "raises" not in text and "lowers" not in text
    assert "no significant difference" not in text
    assert "+4.0" in text


def summary_frame(
    operators, protocols=("circular", "zero"), dataset="digits", condition="gap"
) -> pd.DataFrame:
    rows = []
    for index, operator in enumerate(operators):
        base = 80.0 + index
        for metric, mean in (("accuracy_train", base + 10), ("accuracy_test", base)):
            rows.append((operator, metric, "", NAN, NAN, mean, mean - 1, mean + 1))
        for protocol in protocols:
            rows.append((operator, "consistency", protocol, NAN, NAN, 70.0, 69.0, 71.0))
        rows.append((operator, "accuracy_shifted", "zero", 1, 0, 50.0, 49.0, 51.0))
    columns = ["operator", "metric", "protocol", "dx", "dy", "mean", "ci_low", "ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "condition", condition)
    frame.insert(0, "dataset", dataset)
    return frame


def test_results_table_rows_in_registry_order():
    present = ["stride", "none", "max"]
    summary = pd.concat(
        [summary_frame(present), summary_frame(["avg"], dataset="mnist")], ignore_index=True
    )
    table = results_table(summary, "digits")
    rows = body_rows(table)
    expected = [name for name in OPERATORS if name in present]
    assert len(rows) == len(expected)
    for row, name in zip(rows, expected, strict=True):
        assert row.startswith(rf"\texttt{{{name}}} &")
        assert row.endswith(r"\\")
    assert table.startswith(r"\begin{tabular}{lrrrr}")
    header = consistency_table(summary, "digits").splitlines()[2]
    assert "circular" in header and "zero" in header


def test_results_table_has_one_block_per_condition():
    summary = pd.concat(
        [summary_frame(["none", "max"]), summary_frame(["none", "max"], condition="flatten")],
        ignore_index=True,
    )
    summary.loc[summary["condition"] == "flatten", "mean"] -= 5.0
    lines = results_table(summary, "digits").splitlines()
    headings = [i for i, line in enumerate(lines) if "multicolumn" in line]
    assert len(headings) == 2
    assert "condition gap" in lines[headings[0]] and "condition flatten" in lines[headings[1]]
    flatten_rows = [line for line in lines[headings[1] + 1 :] if line.startswith(r"\texttt")]
    assert len(flatten_rows) == 2
    assert flatten_rows[1].split("&")[2].strip().startswith("76.0")


def test_results_table_values():
    summary = summary_frame(["max"], protocols=("zero",))
    bootstrap = pd.DataFrame(
        [("digits", "gap", "max", 80.0, 78.25, 81.5), ("digits", "flatten", "max", 1, 0, 2)],
        columns=["dataset", "condition", "operator", "mean", "ci_low", "ci_high"],
    )
    rows = body_rows(results_table(summary, "digits", bootstrap))
    cells = [c.strip() for c in rows[0].removesuffix(r"\\").split("&")]
    assert cells == [
        r"\texttt{max}",
        r"90.0 $\pm$ 1.0",
        r"80.0 $\pm$ 1.0",
        "[78.2, 81.5]",
        "10.0",
    ]
    consistency = body_rows(consistency_table(summary, "digits"))[0].split("&")
    assert [c.strip() for c in consistency] == [r"\texttt{max}", r"70.0 $\pm$ 1.0 \\"]
    without = body_rows(results_table(summary, "digits"))[0].split("&")
    assert without[3].strip() == "--"


def test_results_table_leaves_the_placement_protocol_to_its_figure():
    summary = summary_frame(["none", "max"], protocols=("zero", "placement"))
    header = consistency_table(summary, "digits").splitlines()[2]
    assert "zero" in header and "placement" not in header


def test_fmt_ci_without_interval():
    assert fmt_ci({"mean": 81.25, "ci_low": NAN, "ci_high": NAN}) == "81.2"


def test_fmt_ci_of_an_interval_clipped_at_100_gives_the_side_left_whole():
    """A t-interval is symmetric about its mean; clipped to 100 % it keeps its lower half."""
    assert fmt_ci({"mean": 99.8, "ci_low": 98.94, "ci_high": 100.0}) == "99.8 $\\pm$ 0.9"
    assert fmt_ci({"mean": 0.3, "ci_low": 0.0, "ci_high": 1.1}) == "0.3 $\\pm$ 0.8"
    assert fmt_ci({"mean": 80.0, "ci_low": 79.0, "ci_high": 81.0}) == "80.0 $\\pm$ 1.0"


def test_a_protocol_with_an_underscore_is_escaped_in_the_consistency_table():
    summary = summary_frame(["none", "max"], protocols=("circular", "subpixel_fourier"))
    header = consistency_table(summary, "digits").splitlines()[2]
    assert header == r"operator & circular & subpixel\_fourier \\"


def models_frame(operators, conditions=("gap",)) -> pd.DataFrame:
    rows = []
    for index, operator in enumerate(operators):
        for dataset in ("digits", "mnist"):
            for offset, condition in enumerate(conditions):
                for seed in (0, 1):
                    params = 1000 + index + 100 * offset
                    rows.append((dataset, condition, operator, seed, params, 2.5e6, 10 + index, 4))
    columns = [
        "dataset",
        "condition",
        "operator",
        "seed",
        "parameters",
        "flops",
        "receptive_field",
        "final_feature_map",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_operators_table_rows_in_registry_order():
    present = list(reversed(OPERATORS))
    table = operators_table(models_frame(present), "gap")
    rows = body_rows(table)
    assert len(rows) == len(OPERATORS)
    for row, name in zip(rows, OPERATORS, strict=True):
        assert row.startswith(rf"\texttt{{{latex_escape(name)}}} &")
        assert latex_escape(OPERATORS[name].summary) in row
        if OPERATORS[name].source:
            assert rf"\cite{{{OPERATORS[name].source}}}" in row
        else:
            assert r"\cite" not in row


def test_operators_table_subset_and_values():
    table = operators_table(models_frame(["max"]), "gap")
    rows = body_rows(table)
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].removesuffix(r"\\").split("&")]
    assert cells[0] == r"\texttt{max}"
    assert cells[2:] == ["2.50", "10", r"4$\times$4"]
    params = [c.strip() for c in body_rows(parameters_table(models_frame(["max"])))[0].split("&")]
    assert params == [r"\texttt{max}", r"1,000 \\"]


def test_operators_table_gives_parameters_per_condition():
    table = parameters_table(models_frame(["max"], conditions=("gap", "flatten")))
    assert r"operator & \texttt{gap} & \texttt{flatten}" in table
    rows = [line for line in table.splitlines() if line.startswith(r"\texttt{max}")]
    cells = [c.strip() for c in rows[0].removesuffix(r"\\").split("&")]
    assert cells[1:3] == ["1,000", "1,100"]


def test_operators_table_marks_operators_a_condition_did_not_train():
    models = models_frame(["none", "max"], conditions=("gap", "flatten"))
    models = models[(models["condition"] == "gap") | (models["operator"] == "none")]
    table = parameters_table(models[models["dataset"] == "digits"])
    rows = [line.removesuffix(r"\\") for line in table.splitlines() if line.startswith(r"\texttt")]
    cells = {row.split("&")[0].strip(): [c.strip() for c in row.split("&")] for row in rows}
    assert cells[r"\texttt{max}"][2] == "--"
    assert cells[r"\texttt{none}"][2] == "1,100"


def test_numbers_tex():
    text = numbers_tex({"digits.max.accuracy_test": "97.1", "run.device": "cpu"})
    lines = text.splitlines()
    assert lines[0].startswith("%")
    assert lines[1:] == [r"\psset{digits.max.accuracy_test}{97.1}", r"\psset{run.device}{cpu}"]
    assert text.endswith("\n")


def test_numbers_tex_empty():
    assert not any(line.startswith(r"\psset") for line in numbers_tex({}).splitlines())


def paired_frame() -> pd.DataFrame:
    rows = []
    for condition in ("gap", "flatten"):
        for operator, mean, significant in (("stride", -3.0, True), ("max", 2.0, False)):
            rows.append(
                (condition, operator, "accuracy_test", "", NAN, mean, -4.0, 3.0, significant)
            )
            rows.append((condition, operator, "consistency", "zero", NAN, 0.1, -1, 1, False))
            rows.append(
                (condition, operator, "accuracy_shifted", "zero", 1.0, 9.0, 8.0, 10.0, True)
            )
    columns = [
        "condition",
        "operator",
        "metric",
        "protocol",
        "dx",
        "mean",
        "ci_low",
        "ci_high",
        "significant",
    ]
    return pd.DataFrame(rows, columns=columns).assign(dataset="digits")


def test_paired_table_without_baseline_says_so():
    assert "not run" in paired_table(pd.DataFrame(), "digits", "95")
    assert "no paired comparison" in paired_table(paired_frame(), "mnist", "95")


def test_paired_table_has_a_block_per_condition_and_marks_intervals_that_exclude_zero():
    text = paired_table(paired_frame(), "digits", "97.5")
    assert r"\label{tab:paired}" in text and r"97.5\,\% interval" in text
    headings = [line for line in text.splitlines() if "multicolumn" in line]
    assert ["condition gap" in headings[0], "condition flatten" in headings[1]] == [True, True]
    rows = [line for line in text.splitlines() if line.startswith(r"\texttt")]
    assert rows[0] == r"\texttt{max} & +2.0 [-4.0, +3.0] & +0.1 [-1.0, +1.0] \\"
    assert rows[1] == r"\texttt{stride} & -3.0 [-4.0, +3.0]$^{*}$ & +0.1 [-1.0, +1.0] \\"
    assert "cons.\\ zero" in text and "accuracy_shifted" not in text


def test_identical_protocols_are_remarked_only_when_identical():
    from poolstudy.paper import identical_protocols_tex

    rows = []
    for protocol in ("circular", "zero"):
        for dx in (0, 1):
            rows.append(("digits", "gap", "max", "accuracy_shifted", protocol, dx, 0, 90.0 - dx))
    summary = pd.DataFrame(
        rows,
        columns=["dataset", "condition", "operator", "metric", "protocol", "dx", "dy", "mean"],
    )
    assert "circular and zero protocols gave identical" in identical_protocols_tex(
        summary, "digits"
    )
    summary.loc[(summary["protocol"] == "zero") & (summary["dx"] == 1), "mean"] = 80.0
    assert identical_protocols_tex(summary, "digits") == ""
    summary["protocol"] = summary["protocol"].replace("zero", "subpixel_fourier")
    summary["mean"] = 90.0 - summary["dx"]
    assert "circular and subpixel\\_fourier protocols gave identical" in identical_protocols_tex(
        summary, "digits"
    )


def test_stability_table_has_a_block_per_protocol_and_a_column_per_measure():
    from poolstudy.paper import STABILITY_COLUMNS, stability_appendix, stability_table

    rows = []
    for protocol in ("circular", "subpixel"):
        for operator in ("max", "none"):
            for index, metric in enumerate(STABILITY_COLUMNS):
                value = 10.0 * index + (1 if protocol == "subpixel" else 0)
                rows.append(("digits", "gap", operator, metric, protocol, NAN, NAN, value))
    columns = ["dataset", "condition", "operator", "metric", "protocol", "dx", "dy", "mean"]
    summary = pd.DataFrame(rows, columns=columns)
    summary["ci_low"] = summary["ci_high"] = NAN
    body = stability_table(summary, "digits", "gap")
    assert body.count(r"\texttt") == 2  # the body shows the first protocol only
    lines = stability_appendix(summary, "digits", "gap", "95").splitlines()
    headings = [line for line in lines if "multicolumn" in line]
    assert ["circular" in headings[0], "subpixel" in headings[1]] == [True, True]
    operator_rows = [line for line in lines if line.startswith(r"\texttt")]
    assert [row.split(" & ")[0] for row in operator_rows] == [r"\texttt{none}", r"\texttt{max}"] * 2
    cells = operator_rows[2].removesuffix(r" \\").split(" & ")
    assert cells[1:] == [f"{10.0 * i + 1:.1f}" for i in range(len(STABILITY_COLUMNS))]


def controls_inputs(operators=("none", "max", "stride", "maxbroadcast", "none_rf")):
    offsets = {"none": 0.0, "max": 10.0, "stride": 11.0, "maxbroadcast": 5.0, "none_rf": 8.0}
    observations, models = [], []
    for condition, shift in (("gap", 0.0), ("flatten", -2.0)):
        for operator in operators:
            for seed in (0, 1, 2):
                value = 80.0 + offsets[operator] + shift + 0.1 * seed
                observations.append(
                    ("e", "digits", condition, operator, seed, "accuracy_test", "", NAN, NAN, value)
                )
                params = 1000 if condition == "gap" or operator not in ("none", "none_rf") else 9000
                if operator == "stride":
                    params += 500
                fields = {"none": 7, "max": 22, "none_rf": 23}.get(operator, 15)
                models.append(("digits", condition, operator, seed, params, fields))
    obs = pd.DataFrame(observations, columns=[*MODEL_KEYS, *COLUMNS[:-1]])
    runs = pd.DataFrame(
        models,
        columns=["dataset", "condition", "operator", "seed", "parameters", "receptive_field"],
    )
    # the tables analyze writes: comparisons with no pooling and the declared contrasts
    from poolstudy.stats import contrast_table, paired_differences

    paired = paired_differences(obs)
    declared = [
        ("max - none_rf", ("gap", "max"), ("gap", "none_rf")),
        ("max - maxbroadcast", ("gap", "max"), ("gap", "maxbroadcast")),
        ("flatten:max - max", ("flatten", "max"), ("gap", "max")),
    ]
    present = set(operators)
    family = [
        {
            "name": name,
            "dataset": "digits",
            "metric": "accuracy_test",
            "protocol": "",
            "first": {"condition": first[0], "operator": first[1]},
            "second": {"condition": second[0], "operator": second[1]},
        }
        for name, first, second in declared
        if first[1] in present and second[1] in present
    ]
    contrasts = contrast_table(obs, family, margin=1.0) if family else pd.DataFrame()
    return contrasts, paired, runs


def test_controls_paragraphs_come_from_the_results():
    from poolstudy.paper import controls_tex

    text = controls_tex(*controls_inputs(), "digits", "95")
    assert text.count(r"\paragraph") == 3
    assert "9,000 parameters without pooling" in text
    assert (
        "sees 7 pixels" in text
        and "max pooling, 22" in text
        and "network without pooling, 23" in text
    )
    # none_rf - none = +8 exactly for every seed: a significant rise
    assert "dilation instead of pooling raises clean test accuracy by 8.0 points" in text
    # flatten is 2 points below gap for every operator: a declared contrast, worded by verdict
    assert r"\texttt{max} (flatten) $-$ \texttt{max} (gap): -2.0 points" in text
    # a comparison that no table holds (none under flatten against gap) is not made
    assert r"For \texttt{none}" not in text


def test_what_pooling_computes_quotes_the_declared_contrast_against_the_same_receptive_field():
    from poolstudy.paper import controls_tex
    from poolstudy.stats import contrast_table

    contrasts, paired, runs = controls_inputs()
    observations = pd.DataFrame(
        [
            ("e", "digits", "gap", operator, seed, "accuracy_test", "", NAN, NAN, value + seed)
            for operator, value in (("maxbroadcast", 85.0), ("none_rf", 88.0))
            for seed in (0, 1, 2)
        ],
        columns=[*MODEL_KEYS, *COLUMNS[:-1]],
    )
    side = {"condition": "gap", "operator": "maxbroadcast"}
    declared = {"name": "maxbroadcast - none_rf", "dataset": "digits", "first": side}
    declared |= {"metric": "accuracy_test", "second": {**side, "operator": "none_rf"}}
    both = pd.concat([contrasts, contrast_table(observations, [declared], margin=1.0)])
    text = controls_tex(both, paired, runs, "digits", "95")
    computes = text.split("\\paragraph{What pooling computes, apart from shrinking.}\n")[1]
    assert computes.startswith(
        "\\texttt{maxbroadcast} $-$ \\texttt{none\\_rf}: -3.0 points (95\\,\\% CI [-3.0, -3.0]); "
        "the first is lower"
    )
    assert "relative to no pooling" not in computes  # not the paired table's comparison


def test_what_pooling_computes_falls_back_to_no_pooling_where_its_contrast_was_not_tested():
    from poolstudy.paper import controls_tex

    contrasts, paired, runs = controls_inputs()
    side = {"first_condition": "gap", "second_condition": "gap", "dataset": "digits"}
    untested = pd.DataFrame(
        [
            {
                **contrasts.iloc[0].to_dict(),
                **side,
                "name": "maxbroadcast - none_rf",
                "first_operator": "maxbroadcast",
                "second_operator": "none_rf",
                "n": 0,
                "verdict": "not trained",
            }
        ]
    )
    text = controls_tex(pd.concat([contrasts, untested]), paired, runs, "digits", "95")
    computes = text.split("\\paragraph{What pooling computes, apart from shrinking.}\n")[1]
    assert computes.startswith(
        "Taking the 2$\\times$2 maximum without downsampling (\\texttt{maxbroadcast}) raises"
    )
    assert "not trained" not in computes


def test_a_paired_cell_prints_each_end_on_its_side_of_zero():
    from poolstudy.paper.claims import paired_cell

    row = {"mean": 0.3, "ci_low": 0.04, "ci_high": 0.56, "significant": True, "n": 5}
    assert paired_cell(row) == "+0.3 [+0.04, +0.6]$^{*}$"
    row = {"mean": -0.3, "ci_low": -0.6, "ci_high": 0.001, "significant": False, "n": 5}
    assert paired_cell(row) == "-0.3 [-0.6, +0.001]"


def test_controls_skip_what_was_not_run():
    from poolstudy.paper import controls_tex

    text = controls_tex(*controls_inputs(operators=("none", "max")), "digits", "95")
    assert "Receptive field" not in text and "maxbroadcast" not in text
    assert r"\paragraph{Parameters and the head.}" in text


def sweep_frames(gaps_by_size, operators=("none", "max"), test_by_size=None):
    """Tiny sweep tables: per size a gap for every operator (or {operator: gap}); max is 2
    points better. Test accuracy of none is 96 (or ``test_by_size[size]``), train accuracy
    test + gap."""
    observed = []
    test_by_size = test_by_size or {}
    for size, gap in gaps_by_size.items():
        condition = f"sweep-n{size}-aug0"
        for operator in operators:
            gap_of = gap[operator] if isinstance(gap, dict) else gap
            for seed in (0, 1, 2):
                base = test_by_size.get(size, 96.0)
                test = base + (2.0 if operator == "max" else 0.0) + 0.1 * seed
                for metric, value in (
                    ("accuracy_test", test),
                    ("accuracy_train", test + gap_of),
                    ("gap", gap_of),
                ):
                    observed.append(
                        (
                            "e",
                            "glyphs",
                            condition,
                            size,
                            0,
                            operator,
                            seed,
                            metric,
                            "",
                            NAN,
                            NAN,
                            value,
                        )
                    )
    columns = [*MODEL_KEYS[:3], "n_train", "augment_shift", *MODEL_KEYS[3:], *COLUMNS[:-1]]
    observations = pd.DataFrame(observed, columns=columns)
    from poolstudy.stats import summarize

    cells = summarize(observations.drop(columns=["n_train", "augment_shift"]))
    cells.insert(3, "augment_shift", 0)
    cells.insert(3, "n_train", [int(c.split("-")[1][1:]) for c in cells["condition"]])
    return cells, observations


def test_sweep_text_names_the_size_where_the_gap_closes_and_the_ranking():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({500: 5.0, 2000: 0.5, 8000: 0.2})
    text = sweep_tex(cells, "95", gap_threshold=1.0, fit_floor=95.0)
    assert "every operator's gap is below 1.0 points from 2,000 training images on" in text
    assert "did not fit" not in text
    assert r"Ranked by test accuracy at 2,000 images: \texttt{max}" in text
    assert "There," not in text  # no paired test is computed while writing LaTeX
    assert r"\psgraphic{sweep_gap}" in text


def test_sweep_gap_must_stay_closed_for_every_larger_size_and_every_operator():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({250: 0.5, 1000: 3.0, 4000: 0.2})
    assert "from 4,000 training images on" in sweep_tex(
        cells, "95", gap_threshold=1.0, fit_floor=95.0
    )
    # at 1,000 images only max still overfits: the worst operator's gap decides
    cells, observations = sweep_frames({250: 5.0, 1000: {"none": 0.5, "max": 3.0}, 4000: 0.2})
    assert "from 4,000 training images on" in sweep_tex(
        cells, "95", gap_threshold=1.0, fit_floor=95.0
    )


def test_sweep_text_says_when_the_gap_never_closes():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({500: 5.0, 2000: {"none": 1.5, "max": 3.0}})
    text = sweep_tex(cells, "95", gap_threshold=1.0, fit_floor=95.0)
    assert "no size up to the largest (2,000 images) is free of overfitting" in text
    # max: test 98.1 on average, train 101.1; none: 96.1 and 97.6
    assert (
        r"the largest gap is \texttt{max}'s (3.0 points) and the highest train accuracy "
        r"\texttt{max}'s (101.1\,\%)" in text
    )


def test_a_small_gap_from_underfitting_does_not_count():
    from poolstudy.paper import sweep_tex

    # at 250 images the gap is small only because neither network fits (train ~80%)
    cells, observations = sweep_frames({250: 0.5, 4000: 0.5}, test_by_size={250: 79.5})
    text = sweep_tex(cells, "95", gap_threshold=1.0, fit_floor=95.0)
    assert "from 4,000 training images on" in text
    assert "from 250" not in text
    lenient = sweep_tex(cells, "95", fit_floor=50.0, gap_threshold=1.0)
    assert "from 250 training images on" in lenient


def test_an_operator_that_cannot_fit_is_named_as_underfitting():
    from poolstudy.paper import sweep_tex

    # none's train accuracy is 96.2-96.4 + gap; with a floor of 97 only max (98+) fits
    cells, observations = sweep_frames({500: 0.2, 2000: 0.2})
    text = sweep_tex(cells, "95", fit_floor=97.0, gap_threshold=1.0)
    assert "from 500 training images on" in text
    assert r"There, \texttt{none} (96.3\,\%) did not fit its training set to 97.0" in text


def test_sweep_values_near_the_floor_and_threshold_print_on_their_side():
    from poolstudy.paper import sweep_tex

    # none's train accuracy is 96.3 on average: a floor of 96.35 rounds it to the floor
    cells, observations = sweep_frames({500: 0.2, 2000: 0.2})
    text = sweep_tex(cells, "95", fit_floor=96.35, gap_threshold=0.25)
    assert r"There, \texttt{none} (96.3\,\%) did not fit its training set to 96.35" in text
    assert "every operator's gap is below 0.25 points from 500" in text
    train = cells["metric"] == "accuracy_train"
    none = cells["operator"] == "none"
    cells.loc[train & none, "mean"] = 96.26  # one place would print it as the floor
    text = sweep_tex(cells, "95", fit_floor=96.3, gap_threshold=0.25)
    assert r"\texttt{none} (96.26\,\%) did not fit its training set to 96.3" in text
    # the largest gap where no size is free: 3.0 against a threshold of 2.96
    cells, observations = sweep_frames({500: 5.0, 2000: {"none": 1.5, "max": 3.0}})
    text = sweep_tex(cells, "95", gap_threshold=2.96, fit_floor=95.0)
    assert r"the largest gap is \texttt{max}'s (3.0 points)" in text
    cells.loc[(cells["metric"] == "gap") & (cells["operator"] == "max"), "mean"] = 2.958
    text = sweep_tex(cells, "95", gap_threshold=2.96, fit_floor=110.0)
    assert r"the largest gap is \texttt{max}'s (2.958 points)" in text


def test_sweep_text_states_the_step_budget_and_thresholds():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({500: 5.0, 2000: 0.2})
    text = sweep_tex(cells, "95", gap_threshold=0.5, fit_floor=97.0, steps=600)
    assert "for the same 600 optimiser steps at every size" in text
    assert "below 0.5 points and at least one operator fits its training set to 97.0" in text
    assert "smaller sets get fewer steps" in sweep_tex(
        cells, "95", gap_threshold=1.0, fit_floor=95.0
    )


def test_no_sweep_is_said_plainly():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({})
    assert sweep_tex(cells.iloc[0:0], "95", gap_threshold=1.0, fit_floor=95.0).startswith(
        "No data-size sweep"
    )


def placement_inputs():
    rows = []
    for operator, outside in (("none", 40.0), ("max", 70.0)):
        for metric, mean in (
            ("accuracy_placed_inside", 98.0),
            ("accuracy_placed_outside", outside),
            ("accuracy_placed_drop", 98.0 - outside),
        ):
            rows.append(
                ("digits", "placed", operator, metric, "placement", mean, mean - 2, mean + 2)
            )
    columns = [
        "dataset",
        "condition",
        "operator",
        "metric",
        "protocol",
        "mean",
        "ci_low",
        "ci_high",
    ]
    summary = pd.DataFrame(rows, columns=columns).assign(dx=NAN, dy=NAN, n=3)
    paired = pd.DataFrame(
        [
            (
                "digits",
                "placed",
                "max",
                "accuracy_placed_outside",
                "placement",
                30.0,
                25.0,
                35.0,
                True,
            ),
            (
                "digits",
                "placed",
                "max",
                "accuracy_placed_drop",
                "placement",
                -30.0,
                -35.0,
                -25.0,
                True,
            ),
        ],
        columns=[*columns[:-2], "ci_low", "ci_high", "significant"],
    ).assign(dx=NAN, dy=NAN, n=3)
    models = pd.DataFrame(
        {
            "dataset": "digits",
            "condition": ["gap", "placed"],
            "operator": "max",
            "placement_canvas": [NAN, 48],
            "placement_region": [NAN, "left"],
        }
    )
    return summary, paired, models


def test_placement_text_ranks_untrained_positions_and_compares_with_no_pooling():
    from poolstudy.paper import placement_tex

    summary, paired, models = placement_inputs()
    text = placement_tex(summary, paired, models, "digits", "95")
    assert r"\emph{Condition placed.}" in text and "48-pixel black canvas" in text
    assert "left half of the canvas" in text
    assert (
        r"training never used, highest first: \texttt{max} 70.0 $\pm$ 2.0, \texttt{none} 40.0"
        in text
    )
    assert r"The drop from trained to untrained positions (points), highest first:" in text
    assert r"\texttt{max} lowers the drop at untrained positions by 30.0 points" in text
    assert r"\texttt{max} raises accuracy at untrained positions by 30.0 points" in text
    assert r"\psgraphic{placement}" in text


def test_no_placement_condition_is_said_plainly():
    from poolstudy.paper import placement_tex

    summary, paired, models = placement_inputs()
    gap_only = models[models["condition"] == "gap"]
    assert (
        placement_tex(summary, paired, gap_only, "digits", "95")
        == "No placement condition was run.\n"
    )


def test_numbers_follow_each_condition_s_own_protocols():
    from poolstudy.paper import number_entries

    summary = pd.concat(
        [
            summary_frame(["none", "max"], protocols=("circular", "zero")),
            summary_frame(["none", "max"], protocols=("placement",), condition="placed"),
        ],
        ignore_index=True,
    )
    summary["n"] = 2
    val = summary[summary["metric"] == "accuracy_test"].assign(metric="accuracy_val")
    summary = pd.concat([summary, val], ignore_index=True)
    models = models_frame(["none", "max"], conditions=("gap", "placed"))
    models = models.assign(wall_seconds=1.0, device="cpu")
    entries = number_entries({"summary": summary, "models": models}, {})
    assert entries["digits.gap.max.consistency_zero"] == "70.0"
    assert entries["digits.placed.max.consistency_placement"] == "70.0"
    assert "digits.placed.max.consistency_zero" not in entries
    assert "digits.gap.max.consistency_placement" not in entries


def two_operators(seeds: int, half_width: float) -> dict[str, pd.DataFrame]:
    """Summary and models tables of max (90 %) and none (80 %) under digits/gap, each
    accuracy with an interval of ``half_width`` (NaN: none)."""
    summary = pd.DataFrame(
        [
            (op, metric, "", mean, mean - half_width, mean + half_width)
            for op, mean in (("max", 90.0), ("none", 80.0))
            for metric in ("accuracy_train", "accuracy_val", "accuracy_test")
        ],
        columns=["operator", "metric", "protocol", "mean", "ci_low", "ci_high"],
    ).assign(dataset="digits", condition="gap", n=seeds, dx=NAN, dy=NAN)
    models = pd.DataFrame(
        [("digits", "gap", op, 0, 10, 1e6, 7, 1.0, "cpu") for op in ("max", "none")],
        columns=["dataset", "condition", "operator", "seed", "parameters", "flops"]
        + ["receptive_field", "wall_seconds", "device"],
    )
    return {"summary": summary, "models": models}


@pytest.mark.parametrize("seeds, words", [(1, "1 seed"), (2, "2 seeds")])
def test_the_abstracts_interval_says_when_too_few_seeds_give_none(seeds, words):
    from poolstudy.paper import number_entries

    entries = number_entries(two_operators(seeds, half_width=NAN), {})
    assert entries["primary.best_accuracy.interval"] == f"{words}, too few for an interval"


def test_every_number_quotes_its_row_of_the_tables():
    from poolstudy.paper import number_entries

    # (train, val, test) means and the half-width of every interval; none is listed first but
    # max has the best test accuracy and stride the worst; stride's train accuracy is below
    # its test accuracy, so its gap is negative
    means = {"none": (99.1, 90.0, 88.2), "max": (97.5, 93.0, 94.0), "stride": (77.0, 80.0, 78.5)}
    half = {"accuracy_train": 0.4, "accuracy_val": 1.2, "accuracy_test": 2.6}
    consistency = {"none": 71.3, "max": 65.0, "stride": 80.4}
    rows = []
    for operator, values in means.items():
        for metric, mean in zip(half, values, strict=True):
            rows.append((operator, metric, "", mean, mean - half[metric], mean + half[metric]))
        rows.append((operator, "consistency", "circular", consistency[operator], 0.0, 100.0))
        rows.append((operator, "accuracy_shifted", "circular", 50.0, 49.0, 51.0))
    summary = pd.DataFrame(
        rows, columns=["operator", "metric", "protocol", "mean", "ci_low", "ci_high"]
    ).assign(dataset="digits", condition="gap", n=3, dx=NAN, dy=NAN)
    summary.loc[summary["metric"] == "accuracy_shifted", ["dx", "dy"]] = 1.0
    params = {"none": 1234, "max": 1234, "stride": 5678}
    flops = {"none": 2.5e6, "max": 1.35e6, "stride": 2.5e6}  # 1.35 rounds up to 1.4
    models = pd.DataFrame(
        [
            ("digits", "gap", op, seed, params[op], flops[op], 7 + 3 * i, 30.0, f"cuda:{seed}")
            for i, op in enumerate(means)
            for seed in (0, 1, 2)
        ],
        columns=[
            "dataset",
            "condition",
            "operator",
            "seed",
            "parameters",
            "flops",
            "receptive_field",
            "wall_seconds",
            "device",
        ],
    )
    # structures for the prose are no numbers, and do not stop the numbers after them
    settings = {"experiment": "tiny_run", "answer": ["max - none"], "lr": 0.05}
    settings["confidence_text"] = "90"
    entries = number_entries({"summary": summary, "models": models}, settings)
    expected = {
        "config.experiment": r"tiny\_run",
        "config.lr": "0.05",
        "config.confidence_text": "90",
        "config.n_datasets": "1",
        "config.n_operators": "3",
        "run.train_minutes": "4.5",
        "run.n_models": "9",
        "run.device": "cuda:0, cuda:1, cuda:2",
        "primary.dataset": "digits",
        "primary.condition": "gap",
        "primary.best_operator": r"\texttt{max}",
        "primary.best_accuracy": "94.0",
        "primary.best_accuracy.ci": "2.6",
        "primary.best_accuracy.interval": r"$\pm$2.6, 90\,\% interval over seeds",
        "primary.worst_operator": r"\texttt{stride}",
        "primary.worst_accuracy": "78.5",
    }
    gaps = {"none": "10.9", "max": "3.5", "stride": "-1.5"}
    for i, (operator, values) in enumerate(means.items()):
        prefix = f"digits.gap.{operator}"
        for metric, mean in zip(half, values, strict=True):
            expected[f"{prefix}.{metric}"] = f"{mean:.1f}"
            expected[f"{prefix}.{metric}.ci"] = f"{half[metric]:.1f}"
        expected.update(
            {
                f"{prefix}.n_seeds": "3",
                f"{prefix}.gap": gaps[operator],
                f"{prefix}.consistency_circular": f"{consistency[operator]:.1f}",
                f"{prefix}.parameters": f"{params[operator]:,}",
                f"{prefix}.mflops": "1.4" if operator == "max" else "2.5",
                f"{prefix}.receptive_field": str(7 + 3 * i),
            }
        )
    assert entries == expected


def test_the_sweep_thresholds_are_strict_for_the_gap_and_inclusive_for_the_fit():
    from poolstudy.paper.claims import sizes_without_overfitting, underfitting_operators

    # at 1,000 images the worst gap is exactly the threshold: not free of overfitting
    cells, _ = sweep_frames({1000: {"none": 1.0, "max": 0.5}, 4000: 0.5})
    assert sizes_without_overfitting(cells, [1000, 4000], 1.0, 95.0) == [4000]
    # a train accuracy exactly at the floor fits; only none misses it, and only at 1,000
    cells, _ = sweep_frames({1000: 0.5, 4000: 0.5}, test_by_size={1000: 94.0})
    fit = cells[cells["metric"] == "accuracy_train"].set_index(["n_train", "operator"])["mean"]
    floor = fit[(4000, "none")]
    assert sizes_without_overfitting(cells, [1000, 4000], 1.0, floor) == [1000, 4000]
    assert underfitting_operators(cells, 4000, floor).empty
    assert list(underfitting_operators(cells, 1000, floor)["operator"]) == ["none"]


# The whole generated text for fixed inputs, every number checked by hand against them: a
# changed word or number in a sentence fails here.
CONTROLS_TEXT = (
    "\\paragraph{Parameters and the head.}\n"
    "Under \\texttt{gap} the network has 1,000 parameters without pooling and 1,000 "
    "with max pooling; strided convolutions bring 1,500.\n"
    "Under \\texttt{flatten} the network has 9,000 parameters without pooling and "
    "1,000 with max pooling; strided convolutions bring 1,500.\n"
    "\\texttt{max} (flatten) $-$ \\texttt{max} (gap): -2.0 points (95\\,\\% CI "
    "[-2.0, -2.0]); the first is lower (Holm-adjusted $p < 0.001$).\n"
    "\n"
    "\\paragraph{Receptive field.}\n"
    "Without pooling, a unit of the last stage sees 7 pixels; with max pooling, 22; "
    "the dilated network without pooling, 23. Growing the receptive field by "
    "dilation instead of pooling raises clean test accuracy by 8.0 points (95\\,\\% "
    "CI [+8.0, +8.0]). \\texttt{max} $-$ \\texttt{none\\_rf}: +2.0 points (95\\,\\% "
    "CI [+2.0, +2.0]); the first is higher (Holm-adjusted $p < 0.001$).\n"
    "\n"
    "\\paragraph{What pooling computes, apart from shrinking.}\n"
    "Taking the 2$\\times$2 maximum without downsampling (\\texttt{maxbroadcast}) "
    "raises clean test accuracy by 5.0 points (95\\,\\% CI [+5.0, +5.0]). "
    "\\texttt{max} $-$ \\texttt{maxbroadcast}: +5.0 points (95\\,\\% CI [+5.0, "
    "+5.0]); the first is higher (Holm-adjusted $p < 0.001$).\n"
)
PLACEMENT_TEXT = (
    "\\emph{Condition placed.} Each image was centred on a 48-pixel black canvas; "
    "training placed it with its centre in the left half of the canvas, and testing "
    "placed every test image at every position of a grid over the whole canvas "
    "(Figure~\\ref{fig:placement}). Accuracy at positions training never used, "
    "highest first: \\texttt{max} 70.0 $\\pm$ 2.0, \\texttt{none} 40.0 $\\pm$ 2.0. At "
    "the trained positions, highest first: \\texttt{none} 98.0 $\\pm$ 2.0, "
    "\\texttt{max} 98.0 $\\pm$ 2.0. The drop from trained to untrained positions "
    "(points), highest first: \\texttt{none} 58.0 $\\pm$ 2.0, \\texttt{max} 28.0 $\\pm$ "
    "2.0. \\texttt{max} raises accuracy at untrained positions by 30.0 points "
    "relative to no pooling (95\\,\\% CI [+25.0, +35.0]). \\texttt{max} lowers the drop "
    "at untrained positions by 30.0 points relative to no pooling (95\\,\\% CI [-35.0, "
    "-25.0]).\n"
    "\n"
    "\\begin{figure}[tbp]\n"
    "\\centering\n"
    "\\psgraphic{placement}\n"
    "\\caption{Placement: test accuracy against the horizontal offset of the object "
    "from the canvas centre (mean over vertical offsets); shaded: the offsets "
    "training drew from; bands: 95\\,\\% intervals over seeds. Where the lines fall "
    "outside the shaded offsets, the networks fail to recognise the object where training "
    "never put it. \\psdrawn{placement}}\n"
    "\\label{fig:placement}\n"
    "\\end{figure}\n"
)


def test_the_controls_text_in_full():
    from poolstudy.paper import controls_tex

    assert controls_tex(*controls_inputs(), "digits", "95") == CONTROLS_TEXT


def test_the_placement_text_in_full():
    from poolstudy.paper import placement_tex

    assert placement_tex(*placement_inputs(), "digits", "95") == PLACEMENT_TEXT


SWEEP_CLOSES_TEXT = (
    "On \\texttt{glyphs}, \\texttt{none}, \\texttt{max} were trained on 500, 2,000, "
    "8,000 images (3 seeds each) for the same 600 optimiser steps at every size. A "
    "size counts as free of overfitting when, there and at every larger size, every "
    "operator's train--test gap is below 1.0 points and at least one operator fits "
    "its training set to 95.0\\,\\% (clean train accuracy), so that a small gap where "
    "no network could fit the data in the budget does not count (Figure~\\ref{fig:sweep}).\n"
    "Without augmentation, every operator's gap is below 1.0 points from 2,000 "
    "training images on.\n"
    "Ranked by test accuracy at 2,000 images: \\texttt{max} (98.1 $\\pm$ 0.2), "
    "\\texttt{none} (96.1 $\\pm$ 0.2).\n"
    "\n"
    "\\begin{figure}[tbp]\n"
    "\\centering\n"
    "\\psgraphic{sweep_accuracy}\n"
    "\n"
    "\\psgraphic{sweep_gap}\n"
    "\\caption{Data-size sweep on \\texttt{glyphs}: test accuracy (top) and "
    "train$-$test gap (bottom; dashed: the 1.0-point threshold) against the number of "
    "training images; bands: 95\\,\\% intervals over seeds. Where every gap line stays "
    "below the dashed line, no operator overfits. \\psdrawn{sweep_accuracy}}\n"
    "\\label{fig:sweep}\n"
    "\\end{figure}\n"
)
SWEEP_NEVER_CLOSES_TEXT = (
    "On \\texttt{glyphs}, \\texttt{none}, \\texttt{max} were trained on 500, 2,000 "
    "images (3 seeds each) for the same number of epochs at every size (smaller sets "
    "get fewer steps). A size counts as free of overfitting when, there and at every "
    "larger size, every operator's train--test gap is below 1.0 points and at least "
    "one operator fits its training set to 97.0\\,\\% (clean train accuracy), so that "
    "a small gap where no network could fit the data in the budget does not count "
    "(Figure~\\ref{fig:sweep}).\n"
    "Without augmentation, no size up to the largest (2,000 images) is free of "
    "overfitting by this rule: there the largest gap is \\texttt{max}'s (3.0 points) "
    "and the highest train accuracy \\texttt{max}'s (101.1\\,\\%).\n"
    "Ranked by test accuracy at 2,000 images: \\texttt{max} (98.1 $\\pm$ 0.2), "
    "\\texttt{none} (96.1 $\\pm$ 0.2).\n"
    "\n"
    "\\begin{figure}[tbp]\n"
    "\\centering\n"
    "\\psgraphic{sweep_accuracy}\n"
    "\n"
    "\\psgraphic{sweep_gap}\n"
    "\\caption{Data-size sweep on \\texttt{glyphs}: test accuracy (top) and "
    "train$-$test gap (bottom; dashed: the 1.0-point threshold) against the number of "
    "training images; bands: 95\\,\\% intervals over seeds. Where every gap line stays "
    "below the dashed line, no operator overfits. \\psdrawn{sweep_accuracy}}\n"
    "\\label{fig:sweep}\n"
    "\\end{figure}\n"
)


def test_the_sweep_text_in_full():
    from poolstudy.paper import sweep_tex

    cells, observations = sweep_frames({500: 5.0, 2000: 0.5, 8000: 0.2})
    assert sweep_tex(cells, "95", steps=600, gap_threshold=1.0, fit_floor=95.0) == SWEEP_CLOSES_TEXT
    cells, observations = sweep_frames({500: 5.0, 2000: {"none": 1.5, "max": 3.0}})
    assert sweep_tex(cells, "95", fit_floor=97.0, gap_threshold=1.0) == SWEEP_NEVER_CLOSES_TEXT
    # cells with fewer seeds than others: the range, not the most
    fewer = cells.assign(n=[2] + [3] * (len(cells) - 1))
    assert "images (2--3 seeds each) for" in sweep_tex(
        fewer, "95", gap_threshold=1.0, fit_floor=95.0
    )
    assert "images (1 seed each) for" in sweep_tex(
        cells.assign(n=1), "95", gap_threshold=1.0, fit_floor=95.0
    )


# Single sentences and tables for edge cases, every expected string written out by hand.
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            paired_row(),
            r"\texttt{max} raises clean test accuracy by 2.0 points relative to no pooling "
            r"(95\,\% CI [+1.0, +3.0]).",
        ),
        # a significant rise below one point is still a rise
        (
            paired_row(mean=0.5, low=0.2, high=0.8),
            r"\texttt{max} raises clean test accuracy by 0.5 points relative to no pooling "
            r"(95\,\% CI [+0.2, +0.8]).",
        ),
        (
            paired_row(operator="stride", mean=-2.5, low=-4.0, high=-1.0),
            r"\texttt{stride} lowers clean test accuracy by 2.5 points relative to no pooling "
            r"(95\,\% CI [-4.0, -1.0]).",
        ),
        # an end close to zero prints on its side of zero, as many places as that takes
        (
            paired_row(mean=0.4, low=0.04, high=0.76),
            r"\texttt{max} raises clean test accuracy by 0.4 points relative to no pooling "
            r"(95\,\% CI [+0.04, +0.8]).",
        ),
        (
            paired_row(mean=-0.3, low=-0.6, high=-0.003),
            r"\texttt{max} lowers clean test accuracy by 0.3 points relative to no pooling "
            r"(95\,\% CI [-0.6, -0.003]).",
        ),
        (
            paired_row(mean=3.0, low=-5.0, high=5.0, significant=False),
            r"\texttt{max} shows no significant difference in clean test accuracy from no "
            r"pooling (+3.0 points, 95\,\% CI [-5.0, +5.0]).",
        ),
        (
            paired_row(mean=4.0, low=NAN, high=NAN, significant=False, n=1),
            r"\texttt{max} differs from no pooling in clean test accuracy by +4.0 points "
            r"(1 seed: no interval, no claim).",
        ),
        (
            paired_row(mean=4.0, low=NAN, high=NAN, significant=False, n=2),
            r"\texttt{max} differs from no pooling in clean test accuracy by +4.0 points "
            r"(2 seeds: no interval, no claim).",
        ),
    ],
)
def test_comparison_sentences_in_full(row, expected):
    assert comparison_sentence(row, "clean test accuracy", "95") == expected


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (None, ""),
        (
            paired_row(mean=0.5, low=0.2, high=0.8),
            r"Dilating raises clean test accuracy by 0.5 points (90\,\% CI [+0.2, +0.8]).",
        ),
        (
            paired_row(mean=-2.5, low=-4.0, high=-1.0),
            r"Dilating lowers clean test accuracy by 2.5 points (90\,\% CI [-4.0, -1.0]).",
        ),
        (
            paired_row(mean=-3.0, low=-5.0, high=5.0, significant=False),
            r"Dilating makes no significant difference to clean test accuracy (-3.0 points, "
            r"90\,\% CI [-5.0, +5.0]).",
        ),
        (
            paired_row(mean=4.0, low=NAN, high=NAN, significant=False, n=1),
            "Dilating: +4.0 points in clean test accuracy (1 seed: no claim).",
        ),
        (
            paired_row(mean=4.0, low=NAN, high=NAN, significant=False, n=2),
            "Dilating: +4.0 points in clean test accuracy (2 seeds: no claim).",
        ),
    ],
)
def test_difference_sentences_in_full(row, expected):
    from poolstudy.paper.claims import difference_sentence

    assert difference_sentence(row, "Dilating", "clean test accuracy", "90") == expected


def test_the_paired_table_in_full():
    # as paired.csv is read: no protocol (NaN) for accuracy; the placement protocol and
    # shifted accuracy get no column; stride has too few seeds for an interval (two under
    # gap, one under flatten) and no consistency row
    rows = [
        ("gap", "max", "accuracy_test", NAN, NAN, 2.0, 1.0, 3.0, True, 5),
        ("gap", "max", "consistency", "zero", NAN, 0.5, -1.0, 2.0, False, 5),
        ("gap", "max", "consistency", "placement", NAN, 9.0, 8.0, 10.0, True, 5),
        ("gap", "max", "accuracy_shifted", "zero", 1.0, 9.0, 8.0, 10.0, True, 5),
        ("gap", "stride", "accuracy_test", NAN, NAN, -3.0, NAN, NAN, False, 2),
        ("flatten", "max", "accuracy_test", NAN, NAN, 1.0, -0.5, 2.5, False, 5),
        ("flatten", "max", "consistency", "zero", NAN, 0.2, 0.1, 0.3, True, 5),
        ("flatten", "stride", "accuracy_test", NAN, NAN, 4.0, NAN, NAN, False, 1),
    ]
    columns = ["condition", "operator", "metric", "protocol", "dx"]
    columns += ["mean", "ci_low", "ci_high", "significant", "n"]
    paired = pd.DataFrame(rows, columns=columns).assign(dataset="my_digits")
    header = r"operator & test accuracy & cons.\ zero \\"
    assert paired_table(paired, "my_digits", "95") == "\n".join(
        [
            r"Table~\ref{tab:paired} compares every operator with no pooling, condition by "
            "condition.\n",
            r"\begin{longtable}{lrr}",
            r"\caption{Every operator minus no pooling (\texttt{none}) on my\_digits, paired "
            r"by seed: mean difference in points and its 95\,\% interval; $^{*}$: the interval "
            r"excludes zero. Not adjusted for multiple comparisons; the primary contrasts "
            r"(Table~\ref{tab:contrasts}) are.}\label{tab:paired}\\",
            r"\toprule",
            header,
            r"\midrule",
            r"\endfirsthead",
            r"\toprule",
            header,
            r"\midrule",
            r"\endhead",
            r"\bottomrule",
            r"\endfoot",
            r"\multicolumn{3}{l}{\emph{condition gap}} \\",
            r"\texttt{max} & +2.0 [+1.0, +3.0]$^{*}$ & +0.5 [-1.0, +2.0] \\",
            r"\texttt{stride} & -3.0 (2 seeds) & -- \\",
            r"\midrule",
            r"\multicolumn{3}{l}{\emph{condition flatten}} \\",
            r"\texttt{max} & +1.0 [-0.5, +2.5] & +0.2 [+0.1, +0.3]$^{*}$ \\",
            r"\texttt{stride} & +4.0 (1 seed) & -- \\",
            r"\end{longtable}",
            "",
        ]
    )
    assert paired_table(paired, "fashion_mnist", "95") == (
        r"No condition on fashion\_mnist trained the no-pooling baseline \texttt{none}, so "
        "there is no paired comparison with it.\n"
    )
    assert paired_table(pd.DataFrame(), "my_digits", "95") == (
        r"The no-pooling baseline \texttt{none} was not run, so there is no paired "
        "comparison with it.\n"
    )


def test_the_identical_protocols_remark_in_full():
    from poolstudy.paper import identical_protocols_tex

    # three protocols, in the order the configuration gives them, identical on digits; on
    # mnist they differ, and the clean rows (protocol "") are no protocol
    rows = []
    for dataset, spread in (("digits", 0.0), ("mnist", 1.0)):
        rows.append((dataset, "gap", "max", "accuracy_test", "", NAN, NAN, 95.0))
        for index, protocol in enumerate(("zero", "circular", "reflect")):
            for dx in (0, 1):
                mean = 90.0 - dx - spread * index
                rows.append((dataset, "gap", "max", "accuracy_shifted", protocol, dx, 0, mean))
    columns = ["dataset", "condition", "operator", "metric", "protocol", "dx", "dy", "mean"]
    summary = pd.DataFrame(rows, columns=columns)
    remark = (
        "\nThe {} and {} protocols gave identical results for every model and shift: within "
        "these shifts no part of the object crosses the image border, so what enters the image "
        "is background under both.\n"
    )
    assert identical_protocols_tex(summary, "digits") == (
        remark.format("zero", "circular")
        + remark.format("zero", "reflect")
        + remark.format("circular", "reflect")
    )
    assert identical_protocols_tex(summary, "mnist") == ""


def controls_tables():
    """Hand-written models.csv, paired.csv and contrasts.csv for the controls, one seed per
    network. Under gap (the primary condition) every control was trained; under small only
    no pooling; under flatten no pooling and max pooling; placed has a canvas. Declared
    contrasts: none and max under flatten against gap; none_rf and maxbroadcast are only
    compared with no pooling (paired.csv). Another dataset's rows come first in both tables."""
    from poolstudy.stats import CONTRAST_COLUMNS

    runs = [
        ("gap", "none", 1000, 7, NAN),
        ("gap", "max", 1000, 22, NAN),
        ("gap", "stride", 1500, 15, NAN),
        ("gap", "none_rf", 1000, 23, NAN),
        ("gap", "maxbroadcast", 1000, 15, NAN),
        ("small", "none", 800, 7, NAN),
        ("flatten", "none", 9000, 7, NAN),
        ("flatten", "max", 1000, 22, NAN),
        ("flatten", "none_rf", 9000, 23, NAN),
        ("placed", "none", 1000, 7, 48.0),
        ("placed", "max", 1000, 22, 48.0),
    ]
    models = pd.DataFrame(
        runs,
        columns=["condition", "operator", "parameters", "receptive_field", "placement_canvas"],
    ).assign(dataset="digits", seed=0)
    paired = pd.DataFrame(
        [
            ("mnist", "gap", "none_rf", "accuracy_test", NAN, 9.9, 9.0, 10.8, True),
            ("digits", "flatten", "none_rf", "accuracy_test", NAN, 4.4, 4.0, 4.8, True),
            ("digits", "gap", "none_rf", "accuracy_shifted", 1.0, -50.0, -51.0, -49.0, True),
            ("digits", "gap", "none_rf", "accuracy_test", NAN, 8.0, 7.0, 9.0, True),
            ("digits", "gap", "maxbroadcast", "accuracy_test", NAN, 0.3, -0.5, 1.1, False),
            ("digits", "gap", "max", "accuracy_test", NAN, 10.0, 9.0, 11.0, True),
        ],
        columns=["dataset", "condition", "operator", "metric", "dx"]
        + ["mean", "ci_low", "ci_high", "significant"],
    ).assign(protocol="")
    common = {"metric": "accuracy_test", "protocol": "", "second_condition": "gap", "n": 5}
    common |= {"margin": 1.0, "p_difference": 0.001, "p_equivalence": 0.9}
    contrasts = pd.DataFrame(
        [
            {
                **common,
                "name": "flatten:max - max",
                "dataset": "mnist",
                "first_condition": "flatten",
                "first_operator": "max",
                "second_operator": "max",
                "mean": 7.0,
                "ci_low": 6.0,
                "ci_high": 8.0,
                "p_difference_holm": 0.002,
                "p_equivalence_holm": 0.9,
                "verdict": "difference",
                "within_margin": False,
            },
            {
                **common,
                "name": "flatten:none - none",
                "dataset": "digits",
                "first_condition": "flatten",
                "first_operator": "none",
                "second_operator": "none",
                "mean": -1.5,
                "ci_low": -2.0,
                "ci_high": -1.0,
                "p_difference_holm": 0.004,
                "p_equivalence_holm": 0.9,
                "verdict": "difference",
                "within_margin": False,
            },
            {
                **common,
                "name": "flatten:max - max",
                "dataset": "digits",
                "first_condition": "flatten",
                "first_operator": "max",
                "second_operator": "max",
                "mean": 0.2,
                "ci_low": -0.3,
                "ci_high": 0.7,
                "p_difference_holm": 0.5,
                "p_equivalence_holm": 0.01,
                "verdict": "equivalent",
                "within_margin": True,
            },
        ],
        columns=CONTRAST_COLUMNS,
    )
    return contrasts, paired, models


CONTROLS_HEADS = (
    "\\paragraph{Parameters and the head.}\n"
    "Under \\texttt{gap} the network has 1,000 parameters without pooling and 1,000 with max "
    "pooling; strided convolutions bring 1,500.\n"
    "Under \\texttt{flatten} the network has 9,000 parameters without pooling and 1,000 with "
    "max pooling."
)
CONTROLS_FIELDS = (
    "\\paragraph{Receptive field.}\n"
    "Without pooling, a unit of the last stage sees 7 pixels; with max pooling, 22; the "
    "dilated network without pooling, 23."
)


def test_the_controls_follow_the_declared_contrasts_and_the_paired_table():
    from poolstudy.paper import controls_tex

    contrasts, paired, models = controls_tables()
    assert controls_tex(contrasts, paired, models, "digits", "95") == (
        CONTROLS_HEADS + "\n"
        "\\texttt{none} (flatten) $-$ \\texttt{none} (gap): -1.5 points (95\\,\\% CI "
        "[-2.0, -1.0]); the first is lower (Holm-adjusted $p = 0.004$).\n"
        "\\texttt{max} (flatten) $-$ \\texttt{max} (gap): +0.2 points (90\\,\\% CI [-0.2, "
        "+0.6]); equivalent within $\\pm$1.0 points (two one-sided tests, Holm-adjusted "
        "$p = 0.010$).\n\n" + CONTROLS_FIELDS + " Growing the receptive field by dilation "
        "instead of pooling raises clean test accuracy by 8.0 points (95\\,\\% CI [+7.0, "
        "+9.0]).\n\n"
        "\\paragraph{What pooling computes, apart from shrinking.}\n"
        "Taking the 2$\\times$2 maximum without downsampling (\\texttt{maxbroadcast}) makes "
        "no significant difference to clean test accuracy (+0.3 points, 95\\,\\% CI [-0.5, "
        "+1.1]).\n"
    )
    # without either table only the counts are left
    empty = pd.DataFrame()
    assert controls_tex(empty, empty, models, "digits", "95") == (
        CONTROLS_HEADS + "\n\n" + CONTROLS_FIELDS + "\n"
    )
    assert controls_tex(contrasts, paired, models, "cifar", "95") == (
        "The operators needed for the controls were not run.\n"
    )
    pooled_only = models[models["operator"] == "stride"].assign(dataset="fashion_mnist")
    assert controls_tex(contrasts, paired, pooled_only, "fashion_mnist", "95") == (
        "The controls of the primary contrasts are in Section~\\ref{sec:answer}; this run "
        "trained no further control on fashion\\_mnist.\n"
    )


def test_the_placement_text_of_two_conditions_in_full():
    from poolstudy.paper import placement_tex

    summary, paired, models = placement_inputs()
    summary = pd.concat(
        [
            summary,
            pd.DataFrame(
                [("digits", "middle", "max", "accuracy_placed_outside", "placement", 60.0)],
                columns=["dataset", "condition", "operator", "metric", "protocol", "mean"],
            ).assign(ci_low=59.0, ci_high=61.0, dx=NAN, dy=NAN, n=3),
        ],
        ignore_index=True,
    )
    middle = paired.iloc[[0]].assign(condition="middle", mean=5.0, ci_low=-1.0, ci_high=11.0)
    paired = pd.concat([paired, middle.assign(significant=False)], ignore_index=True)
    models = pd.concat(
        [
            models,
            pd.DataFrame(
                {
                    "dataset": ["digits"],
                    "condition": ["middle"],
                    "operator": ["max"],
                    "placement_canvas": [64],
                    "placement_region": ["centre"],
                }
            ),
        ],
        ignore_index=True,
    )
    placed, figure = PLACEMENT_TEXT.split("\n\n")
    middle_text = (
        "\\emph{Condition middle.} Each image was centred on a 64-pixel black canvas; training "
        "placed it at the centre of the canvas only, and testing placed every test image at "
        "every position of a grid over the whole canvas (Figure~\\ref{fig:placement}). "
        "Accuracy at positions training never used, highest first: \\texttt{max} 60.0 $\\pm$ "
        "1.0. \\texttt{max} shows no significant difference in accuracy at untrained "
        "positions from no pooling (+5.0 points, 90\\,\\% CI [-1.0, +11.0])."
    )
    at_90 = [text.replace("95\\,\\%", "90\\,\\%") for text in (placed, figure)]
    assert placement_tex(summary, paired, models, "digits", "90") == "\n\n".join(
        [at_90[0], middle_text, at_90[1]]
    )


SWEEP_RULE = (
    "A size counts as free of overfitting when, there and at every larger size, every "
    "operator's train--test gap is below 1.0 points and at least one operator fits its "
    "training set to 97.0\\,\\% (clean train accuracy), so that a small gap where no network "
    "could fit the data in the budget does not count (Figure~\\ref{fig:sweep})."
)


def three_operator_sweep(gaps_by_size):
    """sweep_frames for none, max and avg with random translations of up to 4 pixels; avg
    is one point below none in test and in train accuracy (96.1 and 95.1 + gap on average)."""
    cells, _ = sweep_frames(gaps_by_size, operators=("none", "max", "avg"))
    avg = (cells["operator"] == "avg") & cells["metric"].isin(["accuracy_test", "accuracy_train"])
    cells.loc[avg, ["mean", "ci_low", "ci_high"]] -= 1.0
    return cells.assign(augment_shift=4)


def test_the_sweep_names_the_worst_operators_of_three():
    from poolstudy.paper import sweep_tex

    # no size closes the gap: the largest gap and the best fit at the largest size, 2,000
    cells = three_operator_sweep({500: 5.0, 1000: 4.0, 2000: {"none": 1.5, "max": 3.0, "avg": 2.0}})
    text = sweep_tex(cells, "95", fit_floor=97.0, gap_threshold=1.0).split("\n\n")[0]
    assert text.splitlines()[1:] == [
        "With random translations of up to 4 pixels, no size up to the largest (2,000 images) "
        "is free of overfitting by this rule: there the largest gap is \\texttt{max}'s (3.0 "
        "points) and the highest train accuracy \\texttt{max}'s (101.1\\,\\%).",
        "Ranked by test accuracy at 2,000 images: \\texttt{max} (98.1 $\\pm$ 0.2), "
        "\\texttt{none} (96.1 $\\pm$ 0.2), \\texttt{avg} (95.1 $\\pm$ 0.2).",
    ]
    # closed from 500 on, where avg (95.3) and none (96.3) stay below the floor of 97
    cells = three_operator_sweep({500: 0.2, 2000: 0.2})
    lines = sweep_tex(cells, "95", fit_floor=97.0, gap_threshold=1.0).split("\n\n")[0].splitlines()
    assert lines[0].endswith(SWEEP_RULE)
    assert lines[1:3] == [
        "With random translations of up to 4 pixels, every operator's gap is below 1.0 points "
        "from 500 training images on.",
        "There, \\texttt{avg} (95.3\\,\\%), \\texttt{none} (96.3\\,\\%) did not fit their "
        "training set to 97.0\\,\\% in the budget: a shortfall in test accuracy there is "
        "underfitting, not overfitting.",
    ]


@pytest.mark.parametrize("steps", [None, "none", ""])
def test_a_sweep_without_a_step_budget_says_epochs(steps):
    from poolstudy.paper import sweep_tex

    cells, _ = sweep_frames({500: 0.2, 2000: 0.2})
    assert (
        " (3 seeds each) for the same number of epochs at every size (smaller sets get fewer "
        "steps). A size counts"
    ) in sweep_tex(cells, "95", steps=steps, gap_threshold=1.0, fit_floor=95.0)


def condition_entry(name: str, **changes) -> dict:
    """One condition as ``plan.conditions_summary`` gives it."""
    return {
        "name": name,
        "datasets": ["glyphs"],
        "operators": ["max", "none_rf"],
        "head": "gap",
        "widths": [8, 16, 32],
        "placement_canvas": None,
        "steps": None,
        "epochs": 1,
        "batch_size": 64,
        "lr": 0.5,
        "augment_shift": 0,
        "protocols": ["circular"],
        "max_shift": 1,
        "consistency_shift": 2,
        "shift_images": 5000,
        **changes,
    }


def test_the_conditions_table_states_each_conditions_budget_and_evaluation():
    from poolstudy.paper import conditions_table

    models = pd.DataFrame(
        {
            "condition": ["full", "full", "half", "long", "one", "one", "two", "two"],
            # "one" and "two": two datasets of different sizes
            "n_train": [256000, 256000, 256000, 256000, 1000, 3000, 1000, 3000],
            # the steps each run recorded (one pass over 1,000 or 3,000 images at 64: 16, 47)
            "steps": [4000, 4000, 2000, 40000, 16, 47, 94, 282],
        }
    )
    table = conditions_table(
        [
            condition_entry("full"),
            condition_entry("half", steps=2000, protocols=[], shift_images=None),
            condition_entry("long", epochs=10, placement_canvas=48, protocols=["placement"]),
            condition_entry("one", datasets=["digits", "svhn"]),
            condition_entry(
                "two",
                datasets=["digits", "svhn"],
                head="flatten",
                widths=[4, 8],
                epochs=3,
                batch_size=32,
                lr=0.05,
                augment_shift=2,
                protocols=["zero", "crop"],
                max_shift=3,
                shift_images=None,
            ),
        ],
        models,
    )
    assert table.splitlines()[:4] == [
        r"\setlength{\tabcolsep}{4pt}",
        r"\begin{tabular}{l"
        + "".join(
            f">{{\\raggedright\\arraybackslash}}p{{{width}}}"
            for width in ("1.3cm", "2.6cm", "1.4cm", "3.3cm", "3.3cm")
        )
        + "}",
        r"\toprule",
        r"condition & datasets & operators & network & training & evaluation \\",
    ]
    assert table.endswith("\\bottomrule\n\\end{tabular}\n")
    full, half, long, one, two = body_rows(table)
    # the steps the runs recorded, beside the pass over the images they make
    assert full == (
        r"\texttt{full} & glyphs & \texttt{max}, \texttt{none\_rf} & gap, 8-16-32 & 4,000 "
        r"steps of 64 (1 pass over 256,000 images), peak rate 0.5 & circular; shifts up to "
        r"1\,px, views up to 2\,px; at most 5,000 test images \\"
    )
    assert "& 2,000 steps of 64 (of 256,000 images), peak rate 0.5 & clean images only \\\\" in half
    assert "& gap, 8-16-32, 48\\,px canvas & 40,000 steps of 64 (10 passes over 256,000" in long
    # runs of different sizes: the passes alone; random translations named
    assert "& 1 pass in batches of 64, peak rate 0.5 &" in one
    assert (
        r"& digits, svhn & \texttt{max}, \texttt{none\_rf} & flatten, 4-8 & 3 passes in batches "
        r"of 32, peak rate 0.05, shifted up to 2\,px & zero, crop; shifts up to 3\,px, views up "
        r"to 2\,px \\"
    ) in two


def test_the_glyphs_are_described_as_their_options_make_them():
    from poolstudy.paper import datasets_table

    options = {"glyphs": {"classes": "letters", "n_train": 1000, "n_test": 200, "canvas": 16}}
    table = datasets_table(["glyphs", "digits"], options)
    glyphs, digits = body_rows(table)
    assert glyphs.startswith("glyphs & 26 procedural letters from ")
    assert "on a 16-pixel canvas" in glyphs and "1,000 training and 200 test images" in glyphs
    assert digits.startswith("digits & scikit-learn")
    default = body_rows(datasets_table(["glyphs"]))[0]
    assert default.startswith("glyphs & 10 procedural digits from ")


def git_checkout(folder):
    """``folder`` made a git checkout with one commit of ``a.txt``; returns a runner."""
    import subprocess

    def run(*args: str) -> str:
        command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
        result = subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True)
        return result.stdout.strip()

    run("init", "-q")
    (folder / "a.txt").write_text("a\n")
    run("add", "a.txt")
    run("commit", "-q", "-m", "first")
    return run


def test_the_commit_and_whether_the_tree_differs_from_it(tmp_path):
    from poolstudy.paper.provenance import commit_of, git

    assert commit_of(tmp_path) == (None, False)  # not a checkout
    assert git("no-such-command", cwd=tmp_path) is None
    head = git_checkout(tmp_path)("rev-parse", "HEAD")
    assert commit_of(tmp_path) == (head, False)
    (tmp_path / "b.txt").write_text("untracked\n")
    assert commit_of(tmp_path) == (head, True)
    (tmp_path / "b.txt").unlink()
    (tmp_path / "a.txt").write_text("changed\n")
    assert commit_of(tmp_path) == (head, True)


@pytest.fixture
def restored_time_zone():
    yield
    time.tzset()  # after monkeypatch has restored TZ


def test_the_build_date_is_todays_or_that_of_source_date_epoch(monkeypatch, restored_time_zone):
    import datetime

    from poolstudy.paper.provenance import build_date

    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(365 * 86400 + 86399))  # 1971-01-01 23:59:59
    assert build_date() == "1971-01-01"
    # in time zones 26 hours apart, at least one local date is not the UTC date
    for zone in ("EAST-14", "WEST+12"):  # POSIX zones: UTC+14 and UTC-12
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        assert build_date() == "1971-01-01"
        monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        before = datetime.datetime.now(tz=datetime.UTC).date().isoformat()
        built = build_date()
        assert built in {before, datetime.datetime.now(tz=datetime.UTC).date().isoformat()}
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(365 * 86400 + 86399))


def test_provenance_records_what_built_the_paper(tmp_path, monkeypatch):
    import platform
    from importlib import metadata

    from poolstudy.paper.provenance import library_versions, provenance

    for names in (("pytest", "no-such-package"), ("no-such-package", "pytest")):
        assert library_versions(names) == {
            "python": platform.python_version(),
            "pytest": metadata.version("pytest"),
        }
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")
    models = pd.DataFrame({"device": ["cpu", "cuda", "cpu"]})
    settings = {"provenance": {"config_sha256": "ab" * 32}}
    head = git_checkout(tmp_path)("rev-parse", "HEAD")
    info = provenance(settings, models, cwd=tmp_path)
    assert info == {
        "commit": head,
        "dirty": False,
        "config_sha256": "ab" * 32,
        "date": "1970-01-01",
        "devices": ["cpu", "cuda"],
        "versions": library_versions(),
    }
    named = models.assign(device_name=["H100", "H100", "EPYC"])
    assert provenance({}, named, cwd=tmp_path)["devices"] == ["EPYC", "H100"]
    unknown = provenance({"provenance": None}, models.iloc[:0], cwd=tmp_path)
    assert (unknown["devices"], unknown["config_sha256"]) == ([], None)
    assert provenance({}, pd.DataFrame(), cwd=tmp_path)["devices"] == []  # no models.csv rows


def test_the_provenance_footer_in_full():
    from poolstudy.paper.provenance import provenance_tex

    info = {
        "commit": "0123456789abcdef",
        "dirty": False,
        "config_sha256": "fedcba9876543210",
        "date": "2026-01-02",
        "devices": ["cpu", "NVIDIA H100_x"],
        "versions": {"python": "3.11.1", "torch": "2.5.1+cpu_x"},
    }
    header = (
        "% Generated by `python -m poolstudy paper`: do not edit.\n\\newcommand{\\psprovenance}{"
    )
    assert provenance_tex(info) == (
        f"{header}Built on 2026-01-02 from commit \\texttt{{0123456789ab}} (clean tree); config "
        "SHA-256 \\texttt{fedcba987654}; networks trained on cpu, NVIDIA H100\\_x; python "
        "3.11.1, torch 2.5.1+cpu\\_x.}\n"
    )
    unknown = info | {"commit": None, "config_sha256": None, "devices": [], "versions": {}}
    assert provenance_tex(unknown) == (
        f"{header}Built on 2026-01-02 from code outside a git checkout (no commit recorded); "
        "config hash not recorded; networks trained on unknown; .}\n"
    )
    dirty = provenance_tex(info | {"dirty": True})
    assert "commit \\texttt{0123456789ab} with uncommitted changes; config" in dirty


def test_each_figures_caption_names_the_rule_and_function_that_drew_it():
    from poolstudy.paper.provenance import drawn_tex

    figures = {"gap": "poolstudy.figures.draw_gap", "sweep_x": "poolstudy.figures.sweep"}
    assert drawn_tex(figures, rule="figures_x") == (
        "% Generated by `python -m poolstudy paper`: do not edit.\n"
        "\\psset{drawn.gap}{Drawn by rule \\texttt{figures\\_x} with "
        "\\texttt{poolstudy.\\allowbreak{}figures.\\allowbreak{}draw\\_gap}.}\n"
        "\\psset{drawn.sweep_x}{Drawn by rule \\texttt{figures\\_x} with "
        "\\texttt{poolstudy.\\allowbreak{}figures.\\allowbreak{}sweep}.}\n"
        "\\newcommand{\\psdrawn}[1]{{\\footnotesize\\psvalue{drawn.#1}}}\n"
    )
    assert "by rule \\texttt{figures} with" in drawn_tex(figures)


@pytest.mark.parametrize(
    ("steps", "text"),
    [
        (None, "300 steps of 64, peak rate 0.5"),  # the configured steps, none recorded
        (280, "280 steps of 64, peak rate 0.5"),  # what the runs recorded
    ],
)
def test_a_conditions_training_budget_is_its_steps_where_it_sets_them(steps, text):
    from poolstudy.paper.conditions import training_text

    entry = {"batch_size": 64, "epochs": 2, "steps": 300, "lr": 0.5}
    assert training_text(entry, images=None, steps=steps) == text
    assert training_text({**entry, "steps": None}, None, None) == (
        "2 passes in batches of 64, peak rate 0.5"
    )


def test_the_abstracts_interval_is_at_the_schemas_confidence_unless_the_settings_say(
    monkeypatch,
):
    import poolstudy.config
    from poolstudy.paper import number_entries

    tables = two_operators(seeds=3, half_width=1.5)
    entries = number_entries(tables, {})
    assert entries["primary.best_accuracy.interval"] == r"$\pm$1.5, 95\,\% interval over seeds"
    # the schema is the one home of the default: change it there and the text follows
    monkeypatch.setattr(poolstudy.config, "section_defaults", lambda section: {"confidence": 0.975})
    entries = number_entries(tables, {})
    assert entries["primary.best_accuracy.interval"] == r"$\pm$1.5, 97.5\,\% interval over seeds"
    entries = number_entries(tables, {"confidence_text": "90"})
    assert entries["primary.best_accuracy.interval"] == r"$\pm$1.5, 90\,\% interval over seeds"


def analysed_study(folder) -> Path:
    """The tables ``analyze`` writes for the wired study of ``test_analyze`` (a primary
    condition and its half budget, a placement condition, one sweep point), in ``folder``."""
    from test_analyze import WIRED_CONTRASTS, wired_study

    from poolstudy.analyze import analyze

    evals, metas, records, histories = wired_study(folder)
    from poolstudy.paper.tables import STABILITY_COLUMNS

    for path in evals:  # and the validation accuracy and stability measures the paper quotes
        rows = pd.read_csv(path, keep_default_na=False, na_values=[""])
        test = rows[rows["metric"] == "accuracy_test"]
        added = [test.assign(metric="accuracy_val")]
        for index, measure in enumerate(STABILITY_COLUMNS):
            value = test["value"] / (index + 1)  # differs between networks and conditions
            added.append(test.assign(metric=measure, protocol="circular", value=value))
        rows = pd.concat([rows, *added])
        # a second protocol with the same numbers, which the paper remarks on
        zero = rows[rows["protocol"] == "circular"].assign(protocol="zero")
        pd.concat([rows, zero]).to_csv(path, index=False)
    out = folder / "tables"
    analyze(
        evals,
        metas,
        "e",
        out,
        folder / "metrics.json",
        confidence=0.9,
        sweep_points={"sweep-n50-aug0": {"n_train": 50, "augment_shift": 0}},
        correct_paths=records,
        bootstrap_samples=200,
        contrasts=WIRED_CONTRASTS,
        history_paths=histories,
        regime={
            "dataset": "glyphs",
            "conditions": ["primary"],
            "gap_threshold": 1.25,
            "plateau_points": 0.6,
            "half_budget": {"primary": "primary_half"},
        },
    )
    return out


def test_the_paper_inputs_take_the_configured_primary_condition(tmp_path):
    """Where the config's primary condition is not the summary's first, the numbers, the
    stability tables and the controls are those of the configured one (the workflow passes
    it in the figures' settings)."""
    from poolstudy import paper
    from poolstudy.paper import write_paper_inputs
    from poolstudy.paper.format import latex_escape

    tables = analysed_study(tmp_path)
    t = read_back(tables)
    summary = t["summary"]
    conditions = list(dict.fromkeys(summary.loc[summary["dataset"] == "glyphs", "condition"]))
    other = next(c for c in conditions[1:] if paper.stability_table(summary, "glyphs", c) != (
        paper.stability_table(summary, "glyphs", conditions[0])))  # fmt: skip
    settings = {"figures": {"dataset": "glyphs", "condition": other}}
    out = tmp_path / "generated"
    write_paper_inputs(tables, out, settings, "../results/figures/")
    stability = (out / "stability_table.tex").read_text()
    assert stability.startswith(
        paper.typeset_minus(paper.stability_table(summary, "glyphs", other))
    )
    appendix = paper.stability_appendix(summary, "glyphs", other, "95")
    assert (out / "stability_appendix.tex").read_text() == paper.typeset_minus(appendix)
    controls = paper.controls_tex(t["contrasts"], t["paired"], t["models"], "glyphs", "95", other)
    assert (out / "controls.tex").read_text() == paper.typeset_minus(controls)
    numbers = (out / "numbers.tex").read_text()
    assert f"\\psset{{primary.condition}}{{{latex_escape(other)}}}" in numbers
    operators = (out / "operators_table.tex").read_text()
    assert operators == paper.typeset_minus(paper.operators_table(t["models"][
        t["models"]["dataset"] == "glyphs"], other))  # fmt: skip
    assert operators != paper.typeset_minus(paper.operators_table(t["models"][
        t["models"]["dataset"] == "glyphs"], conditions[0]))  # fmt: skip


def read_back(tables: Path) -> dict[str, pd.DataFrame]:
    """The tables the paper reads, as ``write_csv`` wrote them."""
    from poolstudy.atomic import read_csv

    names = ("summary", "paired", "models", "sweep", "bootstrap", "contrasts", "regime")
    return {name: read_csv(tables / f"{name}.csv") for name in names}


def test_every_paper_input_is_written_from_the_tables_with_the_settings(tmp_path, monkeypatch):
    """``write_paper_inputs`` writes every generated file, each from the run's tables, for the
    first dataset and condition, with the settings the config gives: the confidence level, the
    sweep's criterion and step budget, the declared answer and mechanisms, the datasets'
    options, the conditions' table, the recorded runs; and, where the settings leave the level
    or the criterion out, the schema's defaults."""
    from conftest import REPO

    from poolstudy import paper
    from poolstudy.config import load_config, schema_default, section_defaults
    from poolstudy.paper import GENERATED, write_paper_inputs
    from poolstudy.plan import confidence_percent, paper_settings
    from poolstudy.record import read_record

    tables = analysed_study(tmp_path)
    monkeypatch.chdir(REPO)  # the shipped record's config is named from the project's root
    record = REPO / "paper" / "recorded" / "convergence"
    settings = {
        "experiment": "e",
        "confidence_text": "90",
        "sweep_gap_threshold": 25.0,  # the sweep point's gap is 20: under it, not over
        "sweep_fit_floor": 60.0,
        "sweep_steps": 300,
        "answer": ["max - none_rf"],
        "mechanisms": [["receptive field", "none_rf - none"]],
        "data_options": {"glyphs": {"n_train": 256000}},
        "conditions_table": paper_settings(load_config(REPO / "config" / "config.yaml"))[
            "conditions_table"
        ],
        "figures": {"compute": ["primary", "placed"]},
    }
    out = tmp_path / "generated"
    written = write_paper_inputs(tables, out, settings, "../results/figures/", [record])
    assert written == [str(out / f"{name}.tex") for name in GENERATED]

    t = read_back(tables)
    summary, paired, models, contrasts, regime = (
        t[name] for name in ("summary", "paired", "models", "contrasts", "regime")
    )
    primary = models[models["dataset"] == "glyphs"]
    level = "90"
    expected = {
        "numbers": paper.numbers_tex(paper.number_entries(t, settings)),
        "operators_table": paper.operators_table(primary, "primary"),
        "parameters_table": paper.parameters_table(primary),
        "datasets_table": paper.datasets_table(["glyphs"], settings["data_options"]),
        "conditions_table": paper.conditions_table(settings["conditions_table"], models),
        "results_table": paper.results_table(summary, "glyphs", t["bootstrap"]),
        "consistency_table": paper.consistency_table(summary, "glyphs"),
        "stability_table": paper.stability_table(summary, "glyphs", "primary")
        + "\\def\\psstabilityprotocol{circular}\n",
        "stability_appendix": paper.stability_appendix(summary, "glyphs", "primary", level),
        "paired_appendix": paper.paired_table(paired, "glyphs", level),
        "protocols": paper.identical_protocols_tex(summary, "glyphs"),
        "placement": paper.placement_tex(summary, paired, models, "glyphs", level),
        "controls": paper.controls_tex(contrasts, paired, models, "glyphs", level),
        "sweep": paper.sweep_tex(t["sweep"], level, 25.0, 60.0, steps=300),
        "contrasts": paper.contrasts_tex(contrasts, level, regime),
        "contrasts_appendix": paper.contrasts_appendix(contrasts, level),
        "answer": paper.answer_tex(
            contrasts, regime, ["max - none_rf"], settings["mechanisms"], level
        ),
        "graphics": paper.figure_inputs("../results/figures/", settings),
        "provenance": paper.provenance_tex(paper.provenance(settings, models)),
        "recorded": paper.recorded_tex([read_record(record)], "e", level, regime),
    }
    from poolstudy.paper.format import typeset_minus

    for name in GENERATED:  # as the parts write them, with their numbers' minus signs typeset
        assert (out / f"{name}.tex").read_text() == typeset_minus(expected[name]), name
    assert "[$-$0.3, +1.8]" in (out / "controls.tex").read_text()
    # what the inputs were chosen to tell apart: a setting left out, another level or
    # criterion, a paired table read without its booleans, no record would each show
    assert expected["stability_table"] != paper.stability_table(summary, "glyphs", "primary_half")
    assert expected["sweep"] != paper.sweep_tex(
        t["sweep"], level, schema_default("sweep", "gap_threshold"), 60.0, steps=300
    )
    assert expected["answer"] != paper.answer_tex(contrasts, regime, ["max - none_rf"], [], level)
    assert "The circular and zero protocols gave identical results" in expected["protocols"]
    assert expected["paired_appendix"] != paper.paired_table(paired, "glyphs", "95 %")
    assert expected["recorded"] != paper.recorded_tex([], "e", level, regime)
    assert "{\\texttt{primary}, \\texttt{placed}}" in expected["graphics"]
    assert "256,000 training" in expected["datasets_table"]

    # without a level or criterion in the settings: the schema's
    bare = tmp_path / "bare"
    write_paper_inputs(tables, bare, {"experiment": "convergence"}, "build/TeX/", [record])
    default = confidence_percent(section_defaults("stats")["confidence"])
    assert default != level
    assert (bare / "contrasts.tex").read_text() == typeset_minus(
        paper.contrasts_tex(contrasts, default, regime)
    )
    assert (bare / "sweep.tex").read_text() == typeset_minus(
        paper.sweep_tex(
            t["sweep"],
            default,
            schema_default("sweep", "gap_threshold"),
            schema_default("sweep", "fit_floor"),
        )
    )
    assert (bare / "graphics.tex").read_text() == paper.figure_inputs("build/TeX/", {})
    assert (bare / "graphics.tex").read_text().startswith("\\graphicspath{{build/TeX/}}\n")
    assert "\\psset{figure.compute}{none}" in (bare / "graphics.tex").read_text()
    # a study's own record is not quoted as another's
    assert (bare / "recorded.tex").read_text() == typeset_minus(
        paper.recorded_tex([read_record(record)], "convergence", default, regime)
    )
    assert (bare / "recorded.tex").read_text() != typeset_minus(
        paper.recorded_tex([read_record(record)], "e", default, regime)
    )


def test_a_paired_difference_below_a_tenth_keeps_its_digits_and_its_sign():
    """``fmt_signed`` as ``fmt``: +0.03, not +0.0; -0.03, not -0.0, in the table's cell and in
    the sentences, which print the same row the same way."""
    from poolstudy.paper.claims import difference_sentence, paired_cell

    row = paired_row(mean=0.03, low=0.02, high=0.04)
    assert paired_cell(row) == "+0.03 [+0.02, +0.04]$^{*}$"
    assert comparison_sentence(row, "clean test accuracy", "95") == (
        r"\texttt{max} raises clean test accuracy by 0.03 points relative to no pooling "
        r"(95\,\% CI [+0.02, +0.04])."
    )
    row = paired_row(mean=-0.03, low=-0.07, high=0.01, significant=False)
    assert paired_cell(row) == "-0.03 [-0.1, +0.01]"
    assert comparison_sentence(row, "clean test accuracy", "95") == (
        r"\texttt{max} shows no significant difference in clean test accuracy from no pooling "
        r"(-0.03 points, 95\,\% CI [-0.1, +0.01])."
    )
    assert difference_sentence(row, "Dilation", "clean test accuracy", "95") == (
        r"Dilation makes no significant difference to clean test accuracy "
        r"(-0.03 points, 95\,\% CI [-0.1, +0.01])."
    )
    row = paired_row(mean=-0.03, low=NAN, high=NAN, n=1)
    assert paired_cell(row) == "-0.03 (1 seed)"


def test_a_protocol_with_a_missing_mean_is_not_identical_to_one_with_a_mean():
    from poolstudy.paper import identical_protocols_tex

    rows = [
        ("digits", "gap", "max", "accuracy_shifted", protocol, dx, 0, mean)
        for protocol, means in (("zero", (90.0, 89.0)), ("crop", (NAN, 89.0)))
        for dx, mean in zip((0, 1), means, strict=True)
    ]
    columns = ["dataset", "condition", "operator", "metric", "protocol", "dx", "dy", "mean"]
    summary = pd.DataFrame(rows, columns=columns)
    assert identical_protocols_tex(summary, "digits") == ""
    summary.loc[summary["protocol"] == "zero", "mean"] = [NAN, 89.0]  # both missing: unchecked
    assert identical_protocols_tex(summary, "digits") == ""
    summary.loc[summary["protocol"] == "zero", "mean"] = [90.0, 89.0]
    summary.loc[summary["protocol"] == "crop", "mean"] = [90.0, 89.0]
    assert "zero and crop protocols gave identical" in identical_protocols_tex(summary, "digits")


def test_the_abstracts_primary_numbers_are_the_configured_primary_condition_s():
    """The primary dataset and condition of ``numbers.tex`` are the config's (which the
    contrasts use; the workflow passes them in the figures' settings), not the summary
    table's first; without them, the first."""
    from poolstudy.paper import number_entries

    tables = two_operators(5, half_width=1.0)  # under gap: max 90 %, none 80 %
    summary = tables["summary"]
    primary = summary.assign(condition="primary")
    primary.loc[primary["operator"] == "none", "mean"] += 20.0  # none 100 %, max 90 %
    tables["summary"] = pd.concat([summary, primary], ignore_index=True)
    tables["models"] = pd.concat(
        [tables["models"], tables["models"].assign(condition="primary")], ignore_index=True
    )
    settings = {"figures": {"dataset": "digits", "condition": "primary"}}
    entries = number_entries(tables, settings)
    assert entries["primary.condition"] == "primary"
    assert entries["primary.best_operator"] == r"\texttt{none}"
    assert entries["primary.best_accuracy"] == "100.0"
    assert entries["primary.worst_operator"] == r"\texttt{max}"
    first = number_entries(tables, {})
    assert first["primary.condition"] == "gap"
    assert first["primary.best_operator"] == r"\texttt{max}"


def test_the_hand_written_sections_leave_what_the_checks_find_to_the_generated_text():
    """Whether the primary regime's networks overfit, whether its images are fresh and
    whether doubling the budget moved the answer are what ``regime.csv`` and the contrasts
    decide (and ``config`` sets): the templates state the design's intent, not an outcome."""
    from conftest import REPO

    sections = {path.name: path.read_text() for path in (REPO / "paper" / "sections").glob("*")}
    text = " ".join(" ".join(sections.values()).split())
    for claim in (
        "trains every compared network where none of them overfits",
        "removes that confound",
        "fresh procedural",
        "was shown not to move the answer's contrast",
        "which is what this study does",
    ):
        assert claim not in text, claim
    assert "is designed so that none of the compared networks overfits" in text


def test_the_controls_compare_within_the_primary_condition_they_are_given():
    """``controls_tex``'s primary condition: the one given (the config's
    ``primary.condition``), else the first; the comparisons within it and against it follow."""
    from poolstudy.paper import controls_tex

    inputs = controls_inputs()
    first = controls_tex(*inputs, "digits", "95")
    assert controls_tex(*inputs, "digits", "95", condition="gap") == first
    assert "\\texttt{max} (flatten) $-$ \\texttt{max} (gap)" in first
    flatten = controls_tex(*inputs, "digits", "95", condition="flatten")
    # flatten - gap is declared, gap - flatten is not; within flatten, the paired table's
    assert "\\texttt{max} (flatten) $-$ \\texttt{max} (gap)" not in flatten
    assert "the dilated network without pooling, 23" in flatten


def test_a_significant_difference_too_small_for_six_places_prints_inside_its_interval():
    """``fmt`` prints a value below its sixth place as zero (float noise), but a mean whose
    interval excludes zero is quoted to the places its printed ends needed (``mean_places``),
    in the table's cell and in both sentences: +0.0000002, not 0.0, beside [+0.0000001,
    +0.0000003]."""
    from poolstudy.paper.claims import difference_sentence, paired_cell

    row = paired_row(mean=2e-7, low=1e-7, high=3e-7)
    assert paired_cell(row) == "+0.0000002 [+0.0000001, +0.0000003]$^{*}$"
    assert comparison_sentence(row, "clean test accuracy", "95") == (
        r"\texttt{max} raises clean test accuracy by 0.0000002 points relative to no pooling "
        r"(95\,\% CI [+0.0000001, +0.0000003])."
    )
    assert difference_sentence(row, "Dilating", "clean test accuracy", "95") == (
        r"Dilating raises clean test accuracy by 0.0000002 points "
        r"(95\,\% CI [+0.0000001, +0.0000003])."
    )
    row = paired_row(mean=-2e-7, low=-3e-7, high=-1e-7)
    assert paired_cell(row) == "-0.0000002 [-0.0000003, -0.0000001]$^{*}$"


def test_a_contrasts_mean_prints_inside_each_interval_its_sentence_quotes():
    """The mean of a contrast takes the places that the 90 % interval quoted with it needs
    (an equivalence; a difference within the margin; Holm's adjustment can leave a difference
    whose 95 % interval excludes zero unshown), but not those of an interval the sentence
    does not quote (a difference beyond the margin); each end keeps its side of both of the
    margin's ends, the lower one too."""
    from test_contrasts import LABEL, contrast_row

    from poolstudy.paper.contrasts import contrast_sentence

    near = {"mean": 0.97, "ci_low": 0.935, "ci_high": 1.005, "p_equivalence_holm": 0.01}
    equivalent = contrast_row(**near, verdict="equivalent", p_difference_holm=0.08)
    assert contrast_sentence(equivalent, "95") == (
        LABEL + r": +0.97 points (90\,\% CI [+0.9, +0.997]); equivalent within $\pm$1.0 points "
        r"(two one-sided tests, Holm-adjusted $p = 0.010$)."
    )
    within = contrast_row(**near, p_difference_holm=0.0004, within_margin=True)
    assert contrast_sentence(within, "95") == (
        LABEL + r": +0.97 points (95\,\% CI [+0.9, +1.005]); the first is higher "
        r"(Holm-adjusted $p < 0.001$), a difference smaller than the 1.0-point margin "
        r"(90\,\% CI [+0.9, +0.997])."
    )
    beyond = contrast_row(
        mean=1.03, ci_low=0.995, ci_high=1.065, p_difference_holm=0.0004, p_equivalence_holm=0.9
    )
    assert contrast_sentence(beyond, "95") == (
        LABEL + r": +1.0 points (95\,\% CI [+0.99, +1.1]); the first is higher "
        r"(Holm-adjusted $p < 0.001$)."
    )
    below = contrast_row(
        mean=-0.97,
        ci_low=-0.979,
        ci_high=-0.961,
        p_difference_holm=0.0004,
        p_equivalence_holm=0.01,
        within_margin=True,
    )
    assert contrast_sentence(below, "95") == (
        LABEL + r": -0.97 points (95\,\% CI [-0.98, -0.96]); the first is lower "
        r"(Holm-adjusted $p < 0.001$), a difference smaller than the 1.0-point margin "
        r"(90\,\% CI [-0.98, -0.96])."
    )


def test_the_budget_paragraph_prints_each_change_and_half_budget_contrast_as_recorded():
    """A change beyond the margin prints each end on its side of the margin and its mean
    inside them; a check without the half-budget contrast says nothing of it; one from two
    seeds names them for both intervals; a half-budget mean prints inside its interval."""
    from test_contrasts import LABEL, contrast_row

    from poolstudy.paper.contrasts import budget_tex, half_budget_text

    beyond = contrast_row(
        budget_n=5,
        budget_change=1.03,
        budget_change_ci_low=1.021,
        budget_change_ci_high=1.039,
        budget_change_p_equivalence=0.9,
        budget_change_within_margin=False,
        stable_under_budget=False,
    )
    assert budget_tex([beyond], "95") == (
        f"Doubling the training budget moved {LABEL} by +1.03 points (95\\,\\% CI [+1.02, "
        "+1.04]), not shown to lie within $\\pm$1.0 points (two one-sided tests, "
        "$p = 0.900$).\n\n"
    )
    two_seeds = contrast_row(
        budget_n=2,
        budget_change=0.3,
        budget_change_ci_low=NAN,
        budget_change_ci_high=NAN,
        half_budget_mean=0.5,
        half_budget_ci_low=NAN,
        half_budget_ci_high=NAN,
    )
    assert budget_tex([two_seeds], "95") == (
        f"Doubling the training budget moved {LABEL} by +0.3 points (2 seeds, too few for an "
        "interval), not shown to lie within $\\pm$1.0 points (two one-sided tests, $p$ n/a), "
        "and at half the budget it was +0.5 points (2 seeds, too few for an interval).\n\n"
    )
    tiny = contrast_row(
        budget_n=5, half_budget_mean=2e-7, half_budget_ci_low=1e-7, half_budget_ci_high=3e-7
    )
    assert half_budget_text(tiny, "95") == (
        r"+0.0000002 points (95\,\% CI [+0.0000001, +0.0000003])"
    )


def test_the_primary_numbers_follow_a_configured_dataset_that_is_not_the_first():
    """``primary.dataset`` of the figures' settings picks the dataset, not only the
    condition; a configured cell the summary lacks is named in the error."""
    from poolstudy.paper import number_entries

    tables = two_operators(5, half_width=1.0)  # digits: max 90 %, none 80 %
    glyphs = tables["summary"].assign(dataset="glyphs")
    glyphs.loc[glyphs["operator"] == "none", "mean"] += 20.0  # glyphs: none 100 %, max 90 %
    tables["summary"] = pd.concat([tables["summary"], glyphs], ignore_index=True)
    tables["models"] = pd.concat(
        [tables["models"], tables["models"].assign(dataset="glyphs")], ignore_index=True
    )
    entries = number_entries(tables, {"figures": {"dataset": "glyphs", "condition": "gap"}})
    assert entries["primary.dataset"] == "glyphs"
    assert entries["primary.best_operator"] == r"\texttt{none}"
    assert entries["primary.best_accuracy"] == "100.0"
    with pytest.raises(KeyError, match="the summary table has no test accuracy of glyphs/absent"):
        number_entries(tables, {"figures": {"dataset": "glyphs", "condition": "absent"}})
