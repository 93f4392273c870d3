"""The primary contrasts' statistics on hand-computed cases: Holm's adjustment, the paired
t-test and the two one-sided tests of equivalence, the verdicts and the contrast table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from poolstudy.stats import contrast_table, holm, paired_contrast, verdict


def t_cdf_4(t: float) -> float:
    """Student's t CDF with 4 degrees of freedom in closed form (the oracle, not scipy)."""
    u = t / math.sqrt(4 + t * t)
    return 0.5 + 0.75 * u * (1 - u * u / 3)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        ([0.01, math.nan, 0.04], [0.02, math.nan, 0.04]),
        ([0.6, 0.7], [1.0, 1.0]),
        ([0.02], [0.02]),
    ],
)
def test_holm_by_hand(p, expected):
    np.testing.assert_allclose(holm(p), expected, equal_nan=True)


def test_paired_contrast_by_hand():
    # mean 0.1, sd sqrt(0.025), se sqrt(0.025 / 5) = 0.0707...
    d = [0.2, -0.1, 0.3, 0.0, 0.1]
    se = math.sqrt(0.025 / 5)
    result = paired_contrast(d, margin=1.0, confidence=0.95)
    assert result["n"] == 5 and result["mean"] == pytest.approx(0.1)
    assert result["p_difference"] == pytest.approx(2 * (1 - t_cdf_4(0.1 / se)))
    # TOST: the larger one-sided p is the one against the nearer bound (+1)
    assert result["p_equivalence"] == pytest.approx(t_cdf_4((0.1 - 1.0) / se))
    assert result["p_equivalence"] < 0.001


def test_a_margin_smaller_than_the_noise_is_not_equivalence():
    result = paired_contrast([0.2, -0.1, 0.3, 0.0, 0.1], margin=0.05)
    assert result["p_equivalence"] > 0.5


def test_constant_differences_and_single_seeds():
    assert paired_contrast([2.0, 2.0, 2.0], margin=1.0)["p_difference"] == 0.0
    assert paired_contrast([0.5, 0.5, 0.5], margin=1.0)["p_equivalence"] == 0.0
    single = paired_contrast([3.0], margin=1.0)
    assert single["n"] == 1 and math.isnan(single["p_difference"])


@pytest.mark.parametrize(
    ("p_difference", "p_equivalence", "expected"),
    [(0.01, 0.9, "difference"), (0.5, 0.01, "equivalent"), (0.2, 0.2, "inconclusive")],
)
def test_verdict(p_difference, p_equivalence, expected):
    assert verdict(p_difference, p_equivalence, alpha=0.05) == expected


def observations_for(differences: dict[str, list[float]]) -> pd.DataFrame:
    """Accuracy rows in which operator ``name`` beats ``base`` by the given per-seed amount."""
    rows = []
    for name, values in differences.items():
        for seed, value in enumerate(values):
            for operator, accuracy in ((name, 80.0 + value), ("base", 80.0)):
                rows.append(
                    {
                        "dataset": "glyphs",
                        "condition": "gap",
                        "operator": operator,
                        "seed": seed,
                        "metric": "accuracy_test",
                        "protocol": "",
                        "value": accuracy,
                    }
                )
    return pd.DataFrame(rows).drop_duplicates(["operator", "seed"])


def contrasts_against_base(names) -> list[dict]:
    return [
        {
            "name": name,
            "dataset": "glyphs",
            "metric": "accuracy_test",
            "first": {"condition": "gap", "operator": name},
            "second": {"condition": "gap", "operator": "base"},
        }
        for name in names
    ]


def test_contrast_table_adjusts_across_the_family_and_words_each_verdict():
    differences = {
        "big": [5.0, 6.0, 5.5, 6.5, 5.2],
        "tiny": [0.1, -0.1, 0.05, 0.0, -0.05],
        "noisy": [3.0, -4.0, 2.0, -1.0, 5.0],
    }
    observations = observations_for(differences)
    contrasts = contrasts_against_base([*differences, "absent"])
    table = contrast_table(observations, contrasts, margin=1.0).set_index("name")
    assert table.loc["big", "mean"] == pytest.approx(np.mean(differences["big"]))
    assert list(table["verdict"]) == ["difference", "equivalent", "inconclusive", "not trained"]
    raw = table.loc[["big", "tiny", "noisy"], "p_difference"].to_numpy()
    np.testing.assert_allclose(table.loc[["big", "tiny", "noisy"], "p_difference_holm"], holm(raw))
    assert table.loc["tiny", "p_difference_holm"] >= table.loc["tiny", "p_difference"]
    assert table.loc["absent", "n"] == 0


def study(**changes) -> dict:
    config = {
        "datasets": ["glyphs", "digits"],
        "operators": ["max", "none_rf", "stride"],
        "seeds": [0, 1, 2],
        "conditions": {
            "primary": {"datasets": ["glyphs"], "operators": ["max", "none_rf", "convpool"]},
            "flatten": {"datasets": ["glyphs"], "model": {"head": "flatten"}},
            "gap": {},
            "placement": {"placement": {"canvas": 48}},
        },
        "sweep": None,
        "model": {},
        "train": {},
        "evaluate": {},
        "placement": {"canvas": None},
        "primary": {
            "dataset": None,
            "condition": None,
            "metric": "accuracy_test",
            "protocol": "",
            "margin": 1.0,
            "gap_threshold": 1.0,
            "plateau_points": 1.0,
            "half_budget": None,
            "answer": [],
            "compute": [],
            "mechanisms": {},
            "contrasts": ["max - none_rf", "flatten:max - max"],
        },
    }
    config.update(changes)
    return config


def test_conditions_train_only_their_datasets():
    from poolstudy.plan import condition_datasets, planned_runs

    config = study()
    assert condition_datasets(config, "primary") == ["glyphs"]
    assert condition_datasets(config, "gap") == ["glyphs", "digits"]
    runs = planned_runs(config)
    assert {r.dataset for r in runs if r.condition == "primary"} == {"glyphs"}
    assert len([r for r in runs if r.condition == "gap"]) == 2 * 3 * 3


def test_primary_contrasts_resolve_their_sides():
    from poolstudy.plan import primary_contrasts, primary_problems

    config = study()
    first, second = primary_contrasts(config)
    assert first["dataset"] == "glyphs" and first["metric"] == "accuracy_test"
    assert first["first"] == {"condition": "primary", "operator": "max"}
    assert second["first"] == {"condition": "flatten", "operator": "max"}
    assert second["second"] == {"condition": "primary", "operator": "max"}
    assert primary_problems(config) == []


@pytest.mark.parametrize(
    ("contrast", "words"),
    [
        ("stride - max", "does not train 'stride'"),
        ("nowhere:max - max", "unknown condition 'nowhere'"),
        ("placement:max - gap:max", "different canvases"),
    ],
)
def test_primary_contrasts_that_cannot_be_computed_are_named(contrast, words):
    from poolstudy.plan import primary_problems

    config = study()
    config["primary"]["contrasts"] = [contrast]
    problems = primary_problems(config)
    assert len(problems) >= 1 and words in problems[0] and contrast in problems[0]


def test_a_contrast_on_a_dataset_its_condition_skips_is_named():
    from poolstudy.plan import primary_problems

    config = study()
    config["primary"]["dataset"] = "digits"
    config["primary"]["contrasts"] = ["max - none_rf"]
    assert "not trained on 'digits'" in primary_problems(config)[0]


def test_the_paper_words_each_contrast_by_its_verdict_and_quotes_its_row():
    from poolstudy.paper.contrasts import contrasts_tex

    differences = {
        "big": [5.0, 6.0, 5.5, 6.5, 5.2],
        "tiny": [0.1, -0.1, 0.05, 0.0, -0.05],
        "noisy": [3.0, -4.0, 2.0, -1.0, 5.0],
    }
    table = contrast_table(
        observations_for(differences), contrasts_against_base(differences), margin=1.0
    )
    from poolstudy.paper.contrasts import contrast_sentence, contrasts_appendix

    big, tiny, noisy = (contrast_sentence(row, "95") for row in table.itertuples())
    assert "the first is higher" in big and f"{table.loc[0, 'mean']:+.1f} points" in big
    assert "equivalent within $\\pm$1.0 points" in tiny
    assert "inconclusive" in noisy
    assert f"[{table.loc[2, 'ci_low']:+.1f}, {table.loc[2, 'ci_high']:+.1f}]" in noisy
    # the subsection draws the family (forest plot) and the appendix lists every row
    text = contrasts_tex(table, "95")
    assert "\\label{fig:forest}" in text and "Verdicts: 1 difference, 1 equivalent" in text
    appendix = contrasts_appendix(table, "95")
    assert "\\label{tab:contrasts}" in appendix
    rows = [line for line in appendix.splitlines() if line.startswith("\\texttt")]
    assert len(rows) == 3 and all(v in r for v, r in zip(table["verdict"], rows, strict=True))


def regime_of(operators: list[str], converged: list, free: list | None = None) -> pd.DataFrame:
    """A regime.csv of networks in condition "gap" (``converged``: True, False or None for
    not checked)."""
    count = len(operators)
    gains = [0.2 if c else 2.5 if c is False else float("nan") for c in converged]
    return pd.DataFrame(
        {
            "dataset": ["glyphs"] * count,
            "condition": ["gap"] * count,
            "operator": operators,
            "gap": [0.2] * count,
            "gap_sampling_se": [0.5] * count,
            "late_rise": [1.5] * count,
            "steps": [1000.0] * count,
            "half_budget_steps": [500.0 if c is not None else float("nan") for c in converged],
            "budget_gain": gains,
            "plateau_points": [1.0] * count,
            "free_of_overfitting": free or [True] * count,
            "converged": [pd.NA if c is None else c for c in converged],
        }
    )


def test_the_answer_follows_the_deciding_contrast_and_keeps_the_mechanisms_in_order():
    from poolstudy.paper.contrasts import answer_tex

    differences = {"big": [5.0, 6.0, 5.5, 6.5, 5.2], "tiny": [0.1, -0.1, 0.05, 0.0, -0.05]}
    table = contrast_table(
        observations_for(differences), contrasts_against_base(differences), margin=1.0
    )
    regime = regime_of(["big", "tiny", "base"], [True, True, True])
    mechanisms = [["second", "tiny"], ["first", "big"]]
    yes = answer_tex(table, regime, ["big"], mechanisms, "95")
    assert yes.startswith("\\newcommand{\\psanswer}{Yes: where no compared network overfits")
    assert yes.index("paragraph{Second.}") < yes.index("paragraph{First.}")
    no = answer_tex(table, regime, ["tiny"], mechanisms, "95")
    assert "\\psanswer}{Not by more than 1.0 points: " in no
    assert "less than $\\pm$1.0 points" in no


def test_the_answer_is_not_settled_where_the_regime_fails_its_own_checks():
    from poolstudy.paper.contrasts import answer_tex

    differences = {"big": [5.0, 6.0, 5.5, 6.5, 5.2], "other": [1.0, 2.0, 1.0, 2.0, 1.0]}
    table = contrast_table(
        observations_for(differences), contrasts_against_base(differences), margin=1.0
    )

    def verdict(regime: pd.DataFrame) -> str:
        return answer_tex(table, regime, ["big"], [], "95").split("psanswerbody")[0]

    # a network on a side of the answer ("base") still gaining from twice the budget
    unconverged = verdict(regime_of(["big", "base", "other"], [True, False, True]))
    assert "\\psanswer}{Not settled: at this run's budget, " in unconverged
    assert "Yes" not in unconverged
    assert "still raised the accuracy" in unconverged and "how fast they learn" in unconverged
    assert "+5.6 points" in unconverged  # the measured contrast is still quoted
    assert "may overfit" not in unconverged and "not checked" not in unconverged
    # not checked at all
    unchecked = verdict(regime_of(["big", "base", "other"], [None, None, None]))
    assert "Not settled" in unchecked and "was not checked" in unchecked
    # overfitting in a network the answer compares
    overfitting = verdict(regime_of(["big", "base", "other"], [True] * 3, [True, False, True]))
    assert "a compared network may overfit" in overfitting and "how fast" not in overfitting
    # overfitting only outside the answer's contrast (another contrast's network, or a
    # compute condition's): the answer stands
    elsewhere = verdict(regime_of(["big", "base", "other"], [True] * 3, [True, True, False]))
    assert elsewhere.startswith("\\newcommand{\\psanswer}{Yes: ")
    # a network outside the answer's contrast that did not converge or was not checked:
    # the answer stands, and the regime's paragraph names it
    settled = answer_tex(
        table, regime_of(["big", "base", "other"], [True, True, None]), ["big"], [], "95"
    )
    assert settled.startswith("\\newcommand{\\psanswer}{Yes: ")
    assert "Convergence was not checked for" in settled and "from 500 to 1,000" in settled
    mixed = answer_tex(
        table, regime_of(["big", "base", "other"], [True, True, False]), ["big"], [], "95"
    )
    assert mixed.startswith("\\newcommand{\\psanswer}{Yes: ") and "+2.5 points" in mixed


# The paper's wording of the contrasts, on rows of contrasts.csv and regime.csv written by
# hand: every expected sentence below is written out, not derived from the code.
NAN = math.nan


def contrast_rows(*changes: dict) -> pd.DataFrame:
    """Rows of contrasts.csv: max - none under "gap" on glyphs, +2.0 [+1.0, +3.0] over five
    seeds, a difference (Holm-adjusted p 0.020), each row updated by its ``changes``."""
    from poolstudy.stats import CONTRAST_COLUMNS

    base = {
        "name": "max - none",
        "dataset": "glyphs",
        "metric": "accuracy_test",
        "protocol": "",
        "first_condition": "gap",
        "first_operator": "max",
        "second_condition": "gap",
        "second_operator": "none",
        "n": 5,
        "mean": 2.0,
        "ci_low": 1.0,
        "ci_high": 3.0,
        "margin": 1.0,
        "p_difference": 0.01,
        "p_equivalence": 0.9,
        "p_difference_holm": 0.02,
        "p_equivalence_holm": 0.9,
        "verdict": "difference",
        "within_margin": False,
    }
    return pd.DataFrame([{**base, **change} for change in changes], columns=CONTRAST_COLUMNS)


def contrast_row(**change):
    return next(contrast_rows(change).itertuples())


LABEL = r"\texttt{max} $-$ \texttt{none}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {},
            LABEL + r": +2.0 points (95\,\% CI [+1.0, +3.0]); the first is higher "
            r"(Holm-adjusted $p = 0.020$).",
        ),
        # a positive difference below one point is still "higher"; p = 0.001 is not < 0.001
        (
            {"mean": 0.5, "ci_low": 0.2, "ci_high": 0.8, "p_difference_holm": 0.001},
            LABEL + r": +0.5 points (95\,\% CI [+0.2, +0.8]); the first is higher "
            r"(Holm-adjusted $p = 0.001$).",
        ),
        (
            {
                "mean": -0.5,
                "ci_low": -0.8,
                "ci_high": -0.2,
                "p_difference_holm": 0.0004,
                "within_margin": True,
            },
            LABEL + r": -0.5 points (95\,\% CI [-0.8, -0.2]); the first is lower "
            r"(Holm-adjusted $p < 0.001$), a difference smaller than the 1.0-point margin "
            r"(90\,\% CI [-0.7, -0.3]).",
        ),
        (
            {
                "mean": 0.1,
                "ci_low": -0.2,
                "ci_high": 0.4,
                "p_equivalence_holm": 0.004,
                "verdict": "equivalent",
            },
            LABEL + r": +0.1 points (90\,\% CI [-0.1, +0.3]); equivalent within $\pm$1.0 "
            r"points (two one-sided tests, Holm-adjusted $p = 0.004$).",
        ),
        (
            {
                "mean": 1.0,
                "ci_low": -2.0,
                "ci_high": 4.0,
                "margin": 2.5,
                "p_difference_holm": 0.3,
                "p_equivalence_holm": 0.45,
                "verdict": "inconclusive",
            },
            LABEL + r": +1.0 points (95\,\% CI [-2.0, +4.0]); inconclusive: neither a "
            r"difference nor equivalence within $\pm$2.5 points is shown ($p = 0.300$ and "
            r"$p = 0.450$, Holm-adjusted).",
        ),
        (
            {"n": 0, "mean": NAN, "ci_low": NAN, "ci_high": NAN, "verdict": "not trained"},
            LABEL + ": not trained in this run.",
        ),
        (
            {"n": 1, "mean": 3.0, "ci_low": NAN, "ci_high": NAN, "verdict": "inconclusive"},
            LABEL + ": +3.0 points from 1 seed; no claim.",
        ),
        (
            {"n": 2, "mean": -3.0, "ci_low": NAN, "ci_high": NAN, "verdict": "inconclusive"},
            LABEL + ": -3.0 points from 2 seeds; no claim.",
        ),
        (
            {"first_condition": "flatten"},
            r"\texttt{max} (flatten) $-$ \texttt{none} (gap): +2.0 points (95\,\% CI "
            r"[+1.0, +3.0]); the first is higher (Holm-adjusted $p = 0.020$).",
        ),
    ],
)
def test_each_contrast_sentence_in_full(change, expected):
    from poolstudy.paper.contrasts import contrast_sentence

    assert contrast_sentence(contrast_row(**change), "95") == expected


@pytest.mark.parametrize(
    ("value", "alpha", "table", "sentence"),
    [
        (NAN, 0.05, "n/a", "$p$ n/a"),
        (0.0004, 0.05, "$<$0.001", "$p < 0.001$"),
        (0.001, 0.05, "0.001", "$p = 0.001$"),
        (0.0456, 0.05, "0.046", "$p = 0.046$"),
        # rounded to three places these would print on the other side of alpha than the verdict
        (0.0496, 0.05, "0.0496", "$p = 0.0496$"),
        (0.04999, 0.05, "0.04999", "$p = 0.04999$"),
        (0.0504, 0.05, "0.0504", "$p = 0.0504$"),
        (0.05, 0.05, "0.050", "$p = 0.050$"),
        (0.0096, 0.01, "0.0096", "$p = 0.0096$"),
        # below 0.001 is only a verdict-free shorthand where alpha is not smaller
        (0.0004, 0.001, "$<$0.001", "$p < 0.001$"),
        (0.0008, 0.05, "$<$0.001", "$p < 0.001$"),
        (0.0004, 0.0005, "0.0004", "$p = 0.0004$"),
        (0.0006, 0.0005, "0.0006", "$p = 0.0006$"),
    ],
)
def test_p_values_in_the_table_and_in_sentences(value, alpha, table, sentence):
    from poolstudy.paper.contrasts import fmt_p, p_text

    assert fmt_p(value, alpha) == table
    assert p_text(value, alpha) == sentence


@pytest.mark.parametrize(("text", "alpha"), [("95", 0.05), ("99", 0.01), ("97.5", 0.025)])
def test_the_significance_level_is_the_one_the_tests_used(text, alpha):
    from poolstudy.paper.contrasts import significance

    assert significance(text) == alpha


def test_a_p_value_just_below_alpha_is_printed_below_it_in_the_sentence_and_table():
    from poolstudy.paper.contrasts import contrast_sentence, contrasts_table

    rows = contrast_rows({"p_difference_holm": 0.0496})
    row = next(rows.itertuples())
    assert "$p = 0.0496$" in contrast_sentence(row, "95")
    assert "& 0.0496 &" in contrasts_table(rows, "95")
    # at 99 % the same p is above alpha = 0.01, and three places keep it there
    assert "$p = 0.050$" in contrast_sentence(row, "99")


CONTRASTS_CAPTION = (
    "\\caption{The primary contrasts on glyphs (points of {words}): the first network minus "
    "the second, paired by seed. $p_{\\ne}$: Holm-adjusted $p$-value of the paired $t$-test "
    "of no difference; $p_{\\approx}$: Holm-adjusted $p$-value of the two one-sided tests of "
    "equivalence within $\\pm${margin} points, which before adjustment reject where the "
    "{inside}\\,\\% interval lies inside that band (the {shown}\\,\\% interval shown may "
    "cross it). The verdict is the one \\texttt{analyze} gave (Figure~\\ref{fig:forest} draws "
    "the same rows).}\n"
)


def caption(words: str, margin: str, shown: str = "90", inside: str = "80") -> str:
    """``CONTRASTS_CAPTION`` of a table of ``words`` with a ``margin``, its intervals at
    ``shown`` % and its equivalences' at ``inside`` %."""
    return (
        CONTRASTS_CAPTION.replace("{words}", words)
        .replace("{margin}", margin)
        .replace("{shown}", shown)
        .replace("{inside}", inside)
    )


def test_the_contrasts_appendix_in_full():
    from poolstudy.paper.contrasts import contrasts_appendix

    table = contrast_rows(
        {"p_difference_holm": 0.0004, "p_equivalence_holm": 0.001},
        {
            "name": "flatten:avg - avg",
            "first_condition": "flatten",
            "first_operator": "avg",
            "second_operator": "avg",
            "n": 0,
            "mean": NAN,
            "ci_low": NAN,
            "ci_high": NAN,
            "p_difference_holm": NAN,
            "p_equivalence_holm": NAN,
            "verdict": "not trained",
        },
    )
    assert contrasts_appendix(table, "90") == (
        "\\begin{table}[htbp]\n\\centering\n\\small\n"
        "\\begin{tabular}{lrrrrl}\n"
        "\\toprule\n"
        "Contrast & $n$ & Difference [90\\,\\% CI] & $p_{\\ne}$ & $p_{\\approx}$ & Verdict \\\\\n"
        "\\midrule\n"
        "\\texttt{max} $-$ \\texttt{none} & 5 & +2.0 [+1.0, +3.0] & $<$0.001 & 0.001 & "
        "difference \\\\\n"
        "\\texttt{avg} (flatten) $-$ \\texttt{avg} (gap) & 0 & n/a & n/a & n/a & "
        "not trained \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
        + caption("clean test accuracy", "1.0")
        + "\\label{tab:contrasts}\n\\end{table}\n"
    )
    # a difference from two seeds: its mean alone, and the caption says why
    for seeds in (1, 2):
        few = {"n": seeds, "ci_low": NAN, "ci_high": NAN, "verdict": "inconclusive"}
        appendix = contrasts_appendix(contrast_rows(few), "90")
        assert f"\\texttt{{max}} $-$ \\texttt{{none}} & {seeds} & +2.0 & " in appendix
        assert (
            caption("clean test accuracy", "1.0").replace(
                " may cross it). The verdict",
                " may cross it). A difference from fewer than 3 seeds has no interval. The verdict",
            )
            in appendix
        )
    # a family of one contrast, of a metric without words of its own, and a wider margin
    one = contrast_rows({"metric": "accuracy_shifted", "margin": 2.5})
    assert caption(r"accuracy\_shifted", "2.5", "95", "90") in contrasts_appendix(one, "95")


NO_CONTRASTS = "No primary contrasts were declared in this run's configuration.\n"
FOREST_FIGURE = (
    "\\begin{figure}[tbp]\n\\centering\n\\psgraphic{forest}\n"
    "\\caption{The primary contrasts: mean paired difference (first minus second, points of "
    "clean test accuracy) with its 90\\,\\% interval over seeds (thin line) and its 80\\,\\% "
    "interval (thick bar), the one an equivalence rests on: it lies inside the grey band (the "
    "equivalence margin of $\\pm$1.0 points) exactly where both one-sided tests reject before "
    "adjustment. The point's marker gives the verdict of the Holm-adjusted tests (filled "
    "circle: difference; open diamond: equivalent; open circle: inconclusive), also written "
    "on the right. The intervals are not adjusted for the family, so they can suggest a "
    "verdict that the adjusted tests do not give. \\psdrawn{forest}}\n"
    "\\label{fig:forest}\n\\end{figure}\n\n"
)
LEARNING_FIGURE = (
    "Figure~\\ref{fig:learning} shows how the networks of the primary regime trained.\n\n"
    "\\begin{figure}[tbp]\n\\centering\n\\psgraphic{learning_curves}\n"
    "\\caption{Learning curves of the primary regime (mean over seeds): training accuracy "
    "solid, validation dashed. Lines that meet: no overfitting. The ends rise as the cosine "
    "schedule anneals the learning rate, converged or not, so convergence is checked against "
    "runs at half the budget instead. \\psdrawn{learning_curves}}\n"
    "\\label{fig:learning}\n\\end{figure}\n\n"
)


def test_the_contrasts_subsection_in_full():
    from poolstudy.paper.contrasts import contrasts_appendix, contrasts_tex

    table = contrast_rows(
        {"name": "a", "first_operator": "max"},
        {"name": "b", "first_operator": "avg", "verdict": "inconclusive"},
        {"name": "c", "first_operator": "lp", "verdict": "equivalent"},
        {"name": "d", "first_operator": "stride", "verdict": "inconclusive"},
        {"name": "e", "first_operator": "blur", "n": 0, "verdict": "not trained"},
    )
    head = (
        "On glyphs, 4 contrasts of clean test accuracy form the family; 1 other, with fewer "
        "than 3 seeds, stays out of it (Figure~\\ref{fig:forest}; every number in "
        "Table~\\ref{tab:contrasts} of the appendix): each is paired by seed; $p$-values are "
        "adjusted across the family with Holm's method, and equivalence means that both "
        "one-sided tests reject a difference beyond $\\pm$1.0 points (so the 80\\,\\% "
        "interval, which the text quotes with each equivalence, lies inside that band). "
        "Verdicts: 1 difference, "
        "1 equivalent, 2 inconclusive, 1 not trained.\n\n"
    )
    assert contrasts_tex(table, "90") == head + FOREST_FIGURE
    assert contrasts_tex(table, "90", pd.DataFrame()) == head + FOREST_FIGURE
    regime = regime_rows(("gap", "max", 0.2, 0.1, True, True))
    assert contrasts_tex(table, "90", regime) == head + FOREST_FIGURE + LEARNING_FIGURE
    # a family of a single contrast, on another dataset, metric and margin
    one = contrast_rows(
        {"dataset": "my_digits", "metric": "consistency", "margin": 0.5, "verdict": "equivalent"}
    )
    assert contrasts_tex(one, "90").startswith(
        "On my\\_digits, 1 contrast of consistency forms the family (Figure~\\ref{fig:forest}; "
    )
    assert "beyond $\\pm$0.5 points (so the 80\\,\\% interval" in contrasts_tex(one, "90")
    assert "band). Verdicts: 1 equivalent.\n\n" in contrasts_tex(one, "90")
    assert "(the equivalence margin of $\\pm$0.5 points) exactly" in contrasts_tex(one, "90")
    # three seeds are enough for the family; two others are not
    mixed = contrast_rows({"n": 3}, {"name": "b", "n": 2}, {"name": "c", "n": 1})
    assert contrasts_tex(mixed, "90").startswith(
        "On glyphs, 1 contrast of clean test accuracy forms the family; 2 others, with fewer "
        "than 3 seeds, stay out of it (Figure"
    )
    # no contrast with the seeds a test takes: an empty family, said so
    few = contrast_rows({"n": 2, "verdict": "inconclusive"}, {"name": "b", "n": 1})
    assert contrasts_tex(few, "90").startswith(
        "On glyphs, none of the 2 declared contrasts of clean test accuracy has the 3 seeds a "
        "test takes, so the family is empty (Figure~\\ref{fig:forest}; "
    )
    assert contrasts_tex(few.iloc[:1], "90").startswith(
        "On glyphs, the one declared contrast of clean test accuracy has fewer than 3 seeds, the "
        "fewest a test takes, so the family is empty (Figure~\\ref{fig:forest}; "
    )
    empty = contrast_rows({}).iloc[0:0]
    assert contrasts_tex(empty, "90") == NO_CONTRASTS
    assert contrasts_appendix(empty, "90") == NO_CONTRASTS


def regime_rows(*networks: tuple) -> pd.DataFrame:
    """A regime.csv from (condition, operator, gap, budget gain, free of overfitting,
    converged: True, False or None for not checked), on glyphs; 1000 steps, 500 in the
    half-budget run where there was one."""
    rows = []
    for condition, operator, gap, gain, free, converged in networks:
        checked = converged is not None
        rows.append(
            {
                "dataset": "glyphs",
                "condition": condition,
                "operator": operator,
                "gap": gap,
                "gap_sampling_se": 0.5,
                "late_rise": 1.5,
                "steps": 1000.0,
                "half_budget_steps": 500.0 if checked else NAN,
                "budget_gain": gain if checked else NAN,
                "plateau_points": 1.0,
                "free_of_overfitting": free,
                "converged": converged if checked else pd.NA,
            }
        )
    return pd.DataFrame(rows)


REGIME_SETTLED = (
    "The primary regime trains 2 networks on glyphs (condition gap; "
    "Figure~\\ref{fig:learning}). Every one of them has a mean train$-$test gap below the "
    "threshold (largest: +0.4 points, \\texttt{none}, against a test-set sampling error of "
    "0.5 points), so by that criterion none of them overfits. Doubling "
    "the training budget (from 500 to 1,000 optimiser steps) raised the mean test accuracy of "
    "\\texttt{max}, \\texttt{none} by at most +0.3 points (\\texttt{none}), less than the "
    "threshold of 1.0 points: by that criterion their training had converged. \n\n"
)
REGIME_FAILING = (
    "The primary regime trains 3 networks on glyphs (conditions gap, flatten; "
    "Figure~\\ref{fig:learning}). Its gap is not below the threshold for \\texttt{max} "
    "(flatten): there it may be overfitting. Doubling the training budget (from 500 to 1,000 "
    "optimiser steps) still raised the mean test accuracy of \\texttt{max} (flatten) by +2.5 "
    "points, "
    "more than the threshold of 1.0 points: its training had not converged, and the comparisons "
    "involving it are provisional. That of \\texttt{max} (gap) rose by +0.1 points: "
    "by that criterion its training had converged. "
    "Convergence was not checked for \\texttt{none} (gap) "
    "(no runs at half the budget). \n\n"
)


def test_the_regime_paragraph_in_full():
    from poolstudy.paper.contrasts import regime_tex

    settled = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True), ("gap", "none", 0.4, 0.3, True, True)
    )
    assert regime_tex(settled) == REGIME_SETTLED
    failing = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True),
        ("flatten", "max", 2.0, 2.5, False, False),
        ("gap", "none", 0.4, None, True, None),
    )
    assert regime_tex(failing) == REGIME_FAILING
    assert regime_tex(settled.iloc[0:0]) == ""


def test_unconverged_networks_are_named_with_the_largest_gain_and_the_converged_ones_apart():
    from functools import partial

    from poolstudy.paper.contrasts import convergence_tex, network_names

    regime = regime_rows(
        ("gap", "max", 0.2, 1.4, True, False),
        ("gap", "none", 0.4, 2.5, True, False),
        ("gap", "avg", 0.1, 0.3, True, True),
        ("gap", "stride", 0.1, 0.6, True, True),
    )
    text = convergence_tex(regime, partial(network_names, regime=regime))
    assert text == (
        "Doubling the training budget (from 500 to 1,000 optimiser steps) still raised the mean "
        "test accuracy of \\texttt{max}, \\texttt{none} by more than the threshold of 1.0 "
        "points (up to +2.5 points, \\texttt{none}): their training had not converged, and the "
        "comparisons involving them are provisional. That of \\texttt{avg}, \\texttt{stride} "
        "rose by at most +0.6 points: by that criterion their training had converged. \n\n"
    )


def test_budget_gains_near_the_threshold_print_on_their_side_of_it():
    from functools import partial

    from poolstudy.paper.contrasts import convergence_tex, network_names

    regime = regime_rows(
        ("gap", "max", 0.2, 0.97, True, True), ("gap", "none", 0.2, 0.2, True, True)
    )
    regime["plateau_points"] = 1.0
    text = convergence_tex(regime, partial(network_names, regime=regime))
    assert "by at most +0.97 points (\\texttt{max}), less than the threshold of 1.0 points" in text
    regime["plateau_points"] = 0.25  # a threshold with two places keeps them
    regime["converged"] = [False, True]
    text = convergence_tex(regime, partial(network_names, regime=regime))
    assert "by +1.0 points, more than the threshold of 0.25" in text
    regime["budget_gain"] = [0.2504, 0.24996]  # one place puts them on their sides
    text = convergence_tex(regime, partial(network_names, regime=regime))
    assert "by +0.3 points, more than the threshold of 0.25" in text
    assert "rose by +0.2 points" in text
    regime["plateau_points"] = 0.3
    regime["budget_gain"] = [0.3004, 0.29996]
    text = convergence_tex(regime, partial(network_names, regime=regime))
    assert "by +0.3004 points, more than the threshold of 0.3" in text
    assert "rose by +0.29996 points" in text


@pytest.mark.parametrize(("value", "expected"), [(NAN, "n/a"), (1000.0, "1,000"), (64, "64")])
def test_step_counts_are_whole_numbers(value, expected):
    from poolstudy.paper.contrasts import whole

    assert whole(value) == expected


def quoted(*rows: tuple) -> str:
    """How the answer quotes deciding contrasts of max, avg, ... against none (90% CIs, or
    the level a row gives last: 80 for the interval an equivalence rests on)."""
    return "; ".join(
        f"\\texttt{{{op}}} $-$ \\texttt{{none}}: {mean} points "
        f"({level[0] if level else 90}\\,\\% CI [{low}, {high}])"
        for op, mean, low, high, *level in rows
    )


EQUIVALENT = {
    "mean": 0.3,
    "ci_low": -0.2,
    "ci_high": 0.8,
    "p_difference_holm": 0.6,
    "p_equivalence_holm": 0.004,
    "verdict": "equivalent",
}
SIDES_CONVERGED = regime_rows(
    ("gap", "max", 0.2, 0.1, True, True),
    ("gap", "avg", 0.2, 0.1, True, True),
    ("gap", "none", 0.2, 0.1, True, True),
)
NOT_SETTLED = "Not settled: at this run's budget, pooling against no pooling measured "
HOW_FAST = (
    ", so a difference may be one of how fast they learn rather than of the accuracy they reach"
)


@pytest.mark.parametrize(
    ("changes", "regime", "expected"),
    [
        ([], SIDES_CONVERGED, "This run declares no deciding contrast, so it gives no answer. "),
        (
            [{}, {"first_operator": "avg", "mean": 0.5, "ci_low": 0.2, "ci_high": 0.8}],
            SIDES_CONVERGED,
            "Yes: where no compared network overfits, pooling raised accuracy ("
            + quoted(("max", "+2.0", "+1.0", "+3.0"), ("avg", "+0.5", "+0.2", "+0.8"))
            + "). ",
        ),
        (
            [{"mean": -2.0, "ci_low": -3.0, "ci_high": -1.0}],
            SIDES_CONVERGED,
            "No: where no compared network overfits, pooling lowered accuracy ("
            + quoted(("max", "-2.0", "-3.0", "-1.0"))
            + "). ",
        ),
        (
            [{**EQUIVALENT, "margin": 1.5}],
            SIDES_CONVERGED,
            "Not by more than 1.5 points: where no compared network overfits, pooling changed "
            "accuracy by less than $\\pm$1.5 points ("
            + quoted(("max", "+0.3", "-0.1", "+0.7", 80))
            + "). ",
        ),
        # equivalent, with an interval above zero: bounded by the margin, not "no"
        (
            [{**EQUIVALENT, "ci_low": 0.1, "ci_high": 0.5}],
            SIDES_CONVERGED,
            "Not by more than 1.0 points: where no compared network overfits, pooling changed "
            "accuracy by less than $\\pm$1.0 points ("
            + quoted(("max", "+0.3", "+0.2", "+0.4", 80))
            + "). ",
        ),
        (
            [{**EQUIVALENT, "mean": -0.3, "ci_low": -0.8, "ci_high": 0.2}],
            SIDES_CONVERGED,
            "Not by more than 1.0 points: where no compared network overfits, pooling changed "
            "accuracy by less than $\\pm$1.0 points ("
            + quoted(("max", "-0.3", "-0.7", "+0.1", 80))
            + "). ",
        ),
        # one equivalent, one lowering: each equivalent or favouring no pooling, so not by
        # more than the margin
        (
            [
                {**EQUIVALENT, "mean": -0.3, "ci_low": -0.8, "ci_high": 0.2},
                {"first_operator": "avg", "mean": -2.0, "ci_low": -3.0, "ci_high": -1.0},
            ],
            SIDES_CONVERGED,
            "Not by more than 1.0 points: where no compared network overfits, pooling lowered "
            "accuracy or changed it by less than $\\pm$1.0 points ("
            + quoted(("max", "-0.3", "-0.7", "+0.1", 80), ("avg", "-2.0", "-3.0", "-1.0"))
            + "). ",
        ),
        # one equivalent, one raising: not each the same answer
        (
            [EQUIVALENT, {"first_operator": "avg"}],
            SIDES_CONVERGED,
            "This run cannot tell: "
            + quoted(("max", "+0.3", "-0.1", "+0.7", 80), ("avg", "+2.0", "+1.0", "+3.0"))
            + "; see Section~\\ref{sec:answer}. ",
        ),
        (
            [{"mean": -2.0, "ci_low": -5.0, "ci_high": 1.0, "verdict": "inconclusive"}],
            SIDES_CONVERGED,
            "This run cannot tell: "
            + quoted(("max", "-2.0", "-5.0", "+1.0"))
            + "; see Section~\\ref{sec:answer}. ",
        ),
        (
            [
                {"mean": 0.5, "ci_low": 0.2, "ci_high": 0.8},
                {"first_operator": "avg", "mean": -2.0, "ci_low": -3.0, "ci_high": -1.0},
            ],
            SIDES_CONVERGED,
            # differences shown in both directions
            "It depends: where no compared network overfits, pooling raised accuracy in some "
            "deciding contrasts and lowered it in others ("
            + quoted(("max", "+0.5", "+0.2", "+0.8"), ("avg", "-2.0", "-3.0", "-1.0"))
            + "); see Section~\\ref{sec:answer}. ",
        ),
        (
            [{}],
            None,
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but this run has no "
            "primary regime to check (Section~\\ref{sec:answer}). ",
        ),
        (
            [{}],
            SIDES_CONVERGED.iloc[0:0],
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but this run has no "
            "primary regime to check (Section~\\ref{sec:answer}). ",
        ),
        # the first side still gaining, the second not checked and overfitting (a third
        # network's overfitting, outside the contrast, would decide nothing)
        (
            [{}],
            regime_rows(
                ("gap", "max", 0.2, 2.0, True, False),
                ("gap", "none", 3.0, None, False, None),
                ("gap", "avg", 3.0, 0.1, False, True),
            ),
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but a compared network "
            "may overfit; doubling the training budget still raised the accuracy of "
            "\\texttt{max} and the convergence of \\texttt{none} was not checked (no runs at "
            "half the budget)" + HOW_FAST + " (Section~\\ref{sec:answer}). ",
        ),
        # neither side's convergence checked: both named
        (
            [{}],
            regime_rows(
                ("gap", "max", 0.2, None, True, None), ("gap", "none", 0.2, None, True, None)
            ),
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but the convergence of "
            "\\texttt{max} and \\texttt{none} was not checked (no runs at half the budget)"
            + HOW_FAST
            + " (Section~\\ref{sec:answer}). ",
        ),
        # two seeds: no interval to quote
        (
            [{"n": 2, "ci_low": NAN, "ci_high": NAN, "verdict": "inconclusive"}],
            None,
            NOT_SETTLED + r"\texttt{max} $-$ \texttt{none}: +2.0 points (2 seeds, too few "
            "for an interval), but this run has no primary regime to check "
            "(Section~\\ref{sec:answer}). ",
        ),
        # neither side in the primary regime
        (
            [{}],
            regime_rows(("gap", "avg", 0.2, 0.1, True, True)),
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but the convergence of "
            "the compared networks was not checked (they are not in the primary regime)"
            + HOW_FAST
            + " (Section~\\ref{sec:answer}). ",
        ),
    ],
)
def test_the_answer_sentence_in_full(changes, regime, expected):
    from poolstudy.paper.contrasts import verdict_sentence

    rows = list(contrast_rows(*changes).itertuples()) if changes else []
    assert verdict_sentence(rows, regime, "90", refer=True) == expected
    # in the section "The answer" itself: no pointer to that section
    unreferred = expected.replace(" (Section~\\ref{sec:answer})", "")
    unreferred = unreferred.replace("see Section~\\ref{sec:answer}", "see the verdicts below")
    assert verdict_sentence(rows, regime, "90") == unreferred


def test_the_answer_macros_in_full():
    from poolstudy.paper.contrasts import answer_tex

    table = contrast_rows(
        {"name": "deciding"},
        {"name": "mechanism", "first_operator": "avg", **EQUIVALENT},
    )
    mechanisms = {"max_pooling": "mechanism", "unknown": "not declared"}
    verdict = (
        NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but this run has no "
        "primary regime to check (Section~\\ref{sec:answer})."
    )
    paragraph = (
        "\\paragraph{Max\\_pooling.} \\texttt{avg} $-$ \\texttt{none}: +0.3 points (80\\,\\% CI "
        "[-0.1, +0.7]); equivalent within $\\pm$1.0 points (two one-sided tests, Holm-adjusted "
        "$p = 0.004$).\n"
    )
    split = (
        " Split into its parts: \\emph{max\\_pooling} changed accuracy by less than $\\pm$1.0 "
        "points (\\texttt{avg} $-$ \\texttt{none}: +0.3 points, 80\\,\\% CI [-0.1, +0.7]). "
        "These parts are provisional: this run has no primary regime to check."
    )
    assert answer_tex(table, None, ["deciding"], mechanisms, "90") == (
        "\\newcommand{\\psanswer}{" + verdict + split + "}\n"
        "\\newcommand{\\psanswerbody}{%\n"
        + verdict.replace(" (Section~\\ref{sec:answer})", "")  # that section itself
        + split
        + "\n\n"
        + paragraph
        + "}\n"
    )
    settled = answer_tex(table, SIDES_CONVERGED, ["deciding"], [], "90")
    assert settled.endswith(
        "\\newcommand{\\psanswerbody}{%\nYes: where no compared network overfits, pooling "
        "raised accuracy (" + quoted(("max", "+2.0", "+1.0", "+3.0")) + ").\n\n"
        "The primary regime trains 3 networks on glyphs (condition gap; "
        "Figure~\\ref{fig:learning}). Every one of them has a mean train$-$test gap below the "
        "threshold (largest: +0.2 points, \\texttt{max}, against a test-set sampling error of "
        "0.5 points), so by that criterion none of them overfits. Doubling "
        "the training budget (from 500 to 1,000 optimiser steps) raised the mean test accuracy "
        "of \\texttt{max}, \\texttt{avg}, \\texttt{none} by at most +0.1 points "
        "(\\texttt{max}), less than the threshold of 1.0 points: by that criterion their "
        "training had converged. "
        "\n\n}\n"
    )


def budget_observations(full: dict, half: dict) -> pd.DataFrame:
    """Test accuracies by seed of operators under "full" and "half" on glyphs."""
    rows = [
        {
            "dataset": "glyphs",
            "condition": condition,
            "operator": operator,
            "seed": seed,
            "metric": "accuracy_test",
            "protocol": "",
            "value": value,
        }
        for condition, accuracies in (("full", full), ("half", half))
        for operator, values in accuracies.items()
        for seed, value in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_doubling_the_budget_moves_a_contrast_by_its_paired_change_tested_against_the_margin():
    from scipy import stats as scipy_stats

    # max - none: +2, +1, +3, +2, +2 at the full budget; +1.8, +1.2, +2.6, +2.1, +1.9 at half
    full = {"max": [82, 81, 83, 82, 82], "none": [80, 80, 80, 80, 80], "avg": [81] * 5}
    half = {"max": [79.8, 79.2, 80.6, 80.1, 79.9], "none": [78] * 5}
    change = np.array([2 - 1.8, 1 - 1.2, 3 - 2.6, 2 - 2.1, 2 - 1.9])
    contrasts = [
        {
            "name": name,
            "dataset": "glyphs",
            "metric": "accuracy_test",
            "first": {"condition": "full", "operator": first},
            "second": {"condition": "full", "operator": "none"},
        }
        for name, first in (("max - none", "max"), ("avg - none", "avg"))
    ]
    table = contrast_table(
        budget_observations(full, half), contrasts, 1.0, 0.95, {"full": "half"}
    ).set_index("name")
    row = table.loc["max - none"]
    assert row["budget_n"] == 5
    assert row["budget_change"] == pytest.approx(change.mean())
    low, high = scipy_stats.t.interval(0.95, 4, loc=change.mean(), scale=scipy_stats.sem(change))
    assert (row["budget_change_ci_low"], row["budget_change_ci_high"]) == pytest.approx((low, high))
    tost = max(
        scipy_stats.ttest_1samp(change, -1.0, alternative="greater").pvalue,
        scipy_stats.ttest_1samp(change, 1.0, alternative="less").pvalue,
    )
    assert row["budget_change_p_equivalence"] == pytest.approx(tost)
    assert bool(row["stable_under_budget"]) is True
    # avg has no half-budget runs: not checked, and the family's numbers are untouched
    assert table.loc["avg - none", "budget_n"] == 0
    assert pd.isna(table.loc["avg - none", "stable_under_budget"])
    without = contrast_table(budget_observations(full, half), contrasts, 1.0).set_index("name")
    assert without["budget_n"].eq(0).all()
    assert list(without["p_difference_holm"]) == list(table["p_difference_holm"])
    # a contrast that grew by about 2 points from half to full budget is not stable
    half["max"] = [78.1, 77.0, 79.2, 77.9, 78.3]
    moved = contrast_table(
        budget_observations(full, half), contrasts, 1.0, 0.95, {"full": "half"}
    ).set_index("name")
    assert moved.loc["max - none", "budget_change"] == pytest.approx(1.9, abs=0.1)
    assert bool(moved.loc["max - none", "stable_under_budget"]) is False


STILL_LEARNING = regime_rows(
    ("gap", "max", 0.2, 1.8, True, False),
    ("gap", "none", 0.2, 1.6, True, False),
)
STABLE = {
    "budget_n": 5,
    "budget_change": 0.2,
    "budget_change_ci_low": -0.3,
    "budget_change_ci_high": 0.7,
    "budget_change_p_equivalence": 0.01,
    "budget_change_within_margin": True,
    # at half the budget +1.8 [+0.9, +2.7]: above zero, as +2.0 [+1.0, +3.0] at the full
    "half_budget_mean": 1.8,
    "half_budget_ci_low": 0.9,
    "half_budget_ci_high": 2.7,
    "stable_under_budget": True,
}
MOVED = {
    **STABLE,
    "budget_change": 1.5,
    "budget_change_ci_low": 0.5,
    "budget_change_ci_high": 2.5,
    "budget_change_p_equivalence": 0.8,
    "budget_change_within_margin": False,
    "half_budget_mean": 0.5,
    "half_budget_ci_low": -0.4,
    "half_budget_ci_high": 1.4,
    "stable_under_budget": False,
}


RAISED = (
    "Yes: where no compared network overfits, pooling raised accuracy ("
    + quoted(("max", "+2.0", "+1.0", "+3.0"))
    + "). "
)
"""The answer where max - none (+2.0 [+1.0, +3.0], ``contrast_rows``) settles it."""


@pytest.mark.parametrize(
    ("change", "expected_verdict", "expected_budget"),
    [
        # still learning, but the contrast is shown not to move: the answer stands
        (
            STABLE,
            RAISED,
            "Doubling the training budget moved " + LABEL + " by +0.2 points (80\\,\\% CI "
            "[-0.2, +0.6]), shown to lie within $\\pm$1.0 points (two one-sided tests, "
            "$p = 0.010$), and at half the budget it was +1.8 points (90\\,\\% CI [+0.9, "
            "+2.7]), above zero as at the full budget (90\\,\\% CI [+1.0, +3.0]): over this "
            "range the answer does not depend on the budget.\n\n",
        ),
        # still learning and the contrast moved: not settled, with how much it moved
        (
            MOVED,
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but doubling the "
            "training budget still raised the accuracy of \\texttt{max} and \\texttt{none}, and "
            "moved "
            + LABEL
            + " by +1.5 points (90\\,\\% CI [+0.5, +2.5]), not shown to stay within $\\pm$1.0 "
            "points" + HOW_FAST + " (Section~\\ref{sec:answer}). ",
            "Doubling the training budget moved " + LABEL + " by +1.5 points (90\\,\\% CI "
            "[+0.5, +2.5]), not shown to lie within $\\pm$1.0 points (two one-sided tests, "
            "$p = 0.800$), and at half the budget it was +0.5 points (90\\,\\% CI [-0.4, "
            "+1.4]).\n\n",
        ),
        # the contrast's change not measured (no half-budget runs of a side)
        (
            {"budget_n": 0},
            NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0")) + ", but doubling the "
            "training budget still raised the accuracy of \\texttt{max} and \\texttt{none}"
            + HOW_FAST
            + " (Section~\\ref{sec:answer}). ",
            "",
        ),
    ],
)
def test_a_budget_that_does_not_move_the_answer_settles_it_while_accuracy_still_rises(
    change, expected_verdict, expected_budget
):
    from poolstudy.paper.contrasts import budget_tex, verdict_sentence

    rows = list(contrast_rows(change).itertuples())
    assert verdict_sentence(rows, STILL_LEARNING, "90", refer=True) == expected_verdict
    assert budget_tex(rows, "90") == expected_budget


DEPENDS = ", so the answer depends on the training budget. "


def changed_reason(half: str, full: str = "+2.0 points (90\\,\\% CI [+1.0, +3.0])") -> str:
    """The reason a converged regime does not settle the answer of max - none."""
    return (
        f"doubling the training budget changed what {LABEL} shows, from {half} at half the "
        f"budget to {full} at the full budget"
    )


CHANGED = (
    NOT_SETTLED
    + quoted(("max", "+2.0", "+1.0", "+3.0"))
    + ", but "
    + changed_reason("+0.5 points (90\\,\\% CI [-0.4, +1.4])")
    + DEPENDS
)
"""The answer where ``MOVED`` changed what max - none shows and both networks converged."""


@pytest.mark.parametrize(
    ("change", "expected_verdict"),
    [
        # the move not shown within the margin, and at half the budget across zero where the
        # full budget's interval lies above it: what the contrast shows changed
        (
            MOVED,
            CHANGED,
        ),
        # the same move, the half budget's interval above zero too: the networks' convergence
        # carries the answer, as where the move is shown within the margin
        (
            {**MOVED, "half_budget_ci_low": 0.1},
            RAISED,
        ),
        (
            STABLE,
            RAISED,
        ),
        # the fewest seeds a budget check takes show it
        (
            {**MOVED, "budget_n": 3},
            CHANGED,
        ),
        # a reversal seen on fewer seeds than a budget check takes shows nothing
        (
            {**MOVED, "budget_n": 2},
            RAISED,
        ),
    ],
)
def test_converged_networks_settle_the_answer_unless_the_budget_reversed_its_contrast(
    change, expected_verdict
):
    """Each network counting as converged is a point estimate (a mean gain below the
    plateau); where doubling the budget moved a deciding contrast to another side of zero,
    the answer depends on the budget all the same."""
    from poolstudy.paper.contrasts import verdict_sentence

    converged = regime_rows(
        ("gap", "max", 0.2, 0.4, True, True), ("gap", "none", 0.2, 0.3, True, True)
    )
    rows = list(contrast_rows(change).itertuples())
    assert verdict_sentence(rows, converged, "90") == expected_verdict


def test_a_contrast_without_an_interval_at_a_budget_shows_no_change_of_answer():
    from poolstudy.paper.contrasts import changed_by_budget

    (row,) = contrast_rows(MOVED).itertuples()
    assert changed_by_budget(row)  # across zero at half the budget, above it at the full
    for ends in ({"ci_low": math.nan}, {"half_budget_ci_high": math.nan}):
        (row,) = contrast_rows({**MOVED, **ends}).itertuples()
        assert not changed_by_budget(row), ends


def test_converged_networks_name_each_contrast_whose_answer_the_budget_changed():
    """Of the deciding contrasts, only those whose answer the budget changed are reasons: one
    reversed within the margin, one equivalent at one budget only (both intervals across
    zero: analyze records it as not stable though the change is within the margin); one
    moved by more than the margin shows on the same side is not."""
    from poolstudy.paper.contrasts import verdict_sentence

    converged = regime_rows(
        ("gap", "max", 0.2, 0.4, True, True),
        ("gap", "avg", 0.2, 0.3, True, True),
        ("gap", "lp", 0.2, 0.3, True, True),
        ("gap", "none", 0.2, 0.3, True, True),
    )
    across = {"half_budget_mean": 0.1, "half_budget_ci_low": -0.4, "half_budget_ci_high": 0.6}
    reversed_within = {**STABLE, **across, "stable_under_budget": False}
    equivalent_at_one = {
        **EQUIVALENT,
        **STABLE,
        **across,
        "name": "lp - none",
        "first_operator": "lp",
        "stable_under_budget": False,
    }
    moved = {**MOVED, "name": "avg - none", "first_operator": "avg", "half_budget_ci_low": 0.1}
    rows = list(contrast_rows(reversed_within, equivalent_at_one, moved).itertuples())
    lp = "\\texttt{lp} $-$ \\texttt{none}"
    assert verdict_sentence(rows, converged, "90") == (
        NOT_SETTLED
        + quoted(
            ("max", "+2.0", "+1.0", "+3.0"),
            ("lp", "+0.3", "-0.1", "+0.7", 80),
            ("avg", "+2.0", "+1.0", "+3.0"),
        )
        + ", but "
        + changed_reason("+0.1 points (90\\,\\% CI [-0.4, +0.6])")
        + f"; and what {lp} shows, from +0.1 points (90\\,\\% CI [-0.4, +0.6]) at half the "
        "budget to +0.3 points (90\\,\\% CI [-0.2, +0.8]) at the full budget" + DEPENDS
    )


@pytest.mark.parametrize(
    ("change", "effect", "shown"),
    [
        (
            {"mean": 0.5, "ci_low": 0.2, "ci_high": 0.8},
            "raised accuracy",
            "90\\,\\% CI [+0.2, +0.8]",
        ),
        (
            {"mean": -2.0, "ci_low": -3.0, "ci_high": -1.0},
            "lowered accuracy",
            "90\\,\\% CI [-3.0, -1.0]",
        ),
        # the interval an equivalence rests on (three seeds)
        (EQUIVALENT, "changed accuracy by less than $\\pm$1.0 points", "80\\,\\% CI [-0.02, +0.6]"),
        (
            {"verdict": "inconclusive"},
            "had an effect that this run cannot tell from none",
            "90\\,\\% CI [+1.0, +3.0]",
        ),
    ],
)
def test_the_answer_splits_into_its_mechanisms_by_their_verdicts(change, effect, shown):
    from poolstudy.paper.contrasts import answer_tex

    table = contrast_rows(
        {"name": "deciding"},
        {"name": "part", "first_operator": "avg", "n": 3, **change},  # the fewest seeds
        {"name": "few seeds", "first_operator": "avg", "n": 2},
    )
    mechanisms = {"the answer itself": "deciding", "a part": "part", "few": "few seeds"}
    psanswer = answer_tex(table, SIDES_CONVERGED, ["deciding"], mechanisms, "90").split("\n")[0]
    row = next(table[table["name"] == "part"].itertuples())
    # the answer's own contrast and one with too few seeds are not parts; the regime's checks
    # hold for every network of the part (max, avg, none), so it is not provisional
    assert psanswer.endswith(
        f"). Split into its parts: \\emph{{a part}} {effect} (\\texttt{{avg}} $-$ "
        f"\\texttt{{none}}: {row.mean:+.1f} points, {shown}).}}"
    )
    unchecked = regime_of(["max", "avg", "none"], [True, None, True])
    provisional = answer_tex(table, unchecked, ["deciding"], mechanisms, "90").split("\n")[0]
    assert provisional.endswith(
        "These parts are provisional: the convergence of \\texttt{avg} was not checked "
        "(no runs at half the budget), so a difference may be one of how fast they learn rather "
        "than of the accuracy they reach.}"
    )


def test_the_budget_change_pairs_each_side_with_its_own_half_budget_condition():
    """Sides in different conditions, each with its own half-budget condition; three seeds
    (the fewest that carry a test) at a 90 % level."""
    from scipy import stats as scipy_stats

    observations = pd.concat(
        [
            budget_observations({"a": [82, 81, 83]}, {"a": [80.1, 79.0, 81.2]}),
            budget_observations({"b": [80, 80, 80]}, {"b": [70, 70, 70]}).replace(
                {"full": "full_b", "half": "half_b"}
            ),
        ]
    )
    contrast = {
        "name": "a - b",
        "dataset": "glyphs",
        "metric": "accuracy_test",
        "first": {"condition": "full", "operator": "a"},
        "second": {"condition": "full_b", "operator": "b"},
    }
    halves = {"full": "half", "full_b": "half_b"}
    row = contrast_table(observations, [contrast], 1.0, 0.9, halves).iloc[0]
    # at half the budget a - b was +10.1, +9.0, +11.2; at the full budget +2, +1, +3
    change = np.array([2 - 10.1, 1 - 9.0, 3 - 11.2])
    assert row["budget_n"] == 3
    assert row["budget_change"] == pytest.approx(change.mean())
    low, high = scipy_stats.t.interval(0.9, 2, loc=change.mean(), scale=scipy_stats.sem(change))
    assert (row["budget_change_ci_low"], row["budget_change_ci_high"]) == pytest.approx((low, high))
    assert bool(row["stable_under_budget"]) is False
    # three seeds whose change is tiny are enough to show it within the margin
    observations.loc[observations["condition"] == "half_b", "value"] = 80.0
    observations.loc[observations["condition"] == "half", "value"] = [82.01, 80.99, 83.0]
    steady = contrast_table(observations, [contrast], 1.0, 0.9, halves).iloc[0]
    assert steady["budget_n"] == 3 and bool(steady["stable_under_budget"]) is True


def test_within_margin_needs_enough_seeds_and_a_shown_equivalence():
    differences = {
        "tiny": [0.01, 0.0, -0.01],  # three seeds, shown within the margin
        "large": [5.0, 6.0, 5.5],  # three seeds, far outside it
        "two": [0.01, -0.01],  # too few seeds for any test
    }
    table = contrast_table(
        observations_for(differences), contrasts_against_base(differences), margin=1.0
    ).set_index("name")
    assert table["n"].to_dict() == {"tiny": 3, "large": 3, "two": 2}
    assert table["within_margin"].map(bool).to_dict() == {
        "tiny": True,
        "large": False,
        "two": False,
    }


def test_the_answer_names_only_the_contrasts_that_doubling_the_budget_moved():
    from poolstudy.paper.contrasts import answer_tex, budget_change_text, budget_tex

    table = contrast_rows(
        {"name": "steady", **STABLE},
        {"name": "moved", "first_operator": "avg", **MOVED},
        {"name": "moved too", "first_operator": "stride", **MOVED, "budget_change": 2.5},
    )
    still_learning = regime_rows(
        *[("gap", op, 0.2, 1.8, True, False) for op in ("max", "avg", "stride", "none")]
    )
    answer = answer_tex(table, still_learning, list(table["name"]), [], "90")
    psanswer = answer.split("\n")[0]
    steady, moved, moved_too = table.itertuples()
    assert psanswer.endswith(
        "still raised the accuracy of \\texttt{max}, \\texttt{avg}, \\texttt{stride} and "
        "\\texttt{none}, and "
        + budget_change_text(moved, "90")
        + "; "
        + budget_change_text(moved_too, "90")
        + ", not shown to stay within $\\pm$1.0 points"
        + HOW_FAST
        + " (Section~\\ref{sec:answer}).}"
    )
    assert budget_change_text(steady, "90") not in psanswer
    # the body gives what doubling the budget did to each of them, in order
    body = budget_tex(list(table.itertuples()), "90")
    assert body in answer
    assert body.startswith("Doubling the training budget " + budget_change_text(steady, "90"))
    assert (
        "points (two one-sided tests, $p = 0.010$), and at half the budget it was +1.8 points "
        "(90\\,\\% CI [+0.9, +2.7]), above zero as at the full budget (90\\,\\% CI [+1.0, "
        "+3.0]): over this range the answer does not depend on the budget; it "
        + budget_change_text(moved, "90")
        in body
    )
    assert body.count("; it moved") == 2


def test_the_mechanisms_are_each_named_and_provisional_with_the_move_that_failed_them():
    from poolstudy.paper.contrasts import answer_tex, budget_change_text

    table = contrast_rows(
        {"name": "deciding"},
        {"name": "one", "first_operator": "avg", **MOVED},
        {"name": "two", "first_operator": "stride", **EQUIVALENT},
    )
    regime = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True),
        ("gap", "none", 0.2, 0.1, True, True),
        ("gap", "avg", 0.2, 1.8, True, False),
        ("gap", "stride", 0.2, 0.1, True, True),
    )
    mechanisms = {"first part": "one", "second part": "two"}
    psanswer = answer_tex(table, regime, ["deciding"], mechanisms, "90").split("\n")[0]
    one = next(table[table["name"] == "one"].itertuples())
    assert (
        "Split into its parts: \\emph{first part} raised accuracy (\\texttt{avg} $-$ "
        "\\texttt{none}: +2.0 points, 90\\,\\% CI [+1.0, +3.0]); \\emph{second part} changed "
        "accuracy by less than $\\pm$1.0 points (\\texttt{stride} $-$ \\texttt{none}: +0.3 "
        "points, 80\\,\\% CI [-0.1, +0.7]). These parts are provisional: doubling the training "
        "budget still raised the accuracy of \\texttt{avg}, and " + budget_change_text(one, "90")
    ) in psanswer


def test_a_budget_change_from_one_seed_is_reported_but_never_shown_stable():
    from poolstudy.paper.contrasts import budget_tex

    one_seed = {
        **MOVED,
        "budget_n": 1,
        "budget_change": 0.1,
        "budget_change_ci_low": NAN,
        "budget_change_ci_high": NAN,
        "budget_change_p_equivalence": NAN,
        "half_budget_mean": 1.9,
        "half_budget_ci_low": NAN,
        "half_budget_ci_high": NAN,
    }
    assert budget_tex(list(contrast_rows(one_seed).itertuples()), "90") == (
        f"Doubling the training budget moved {LABEL} by +0.1 points (1 seed, too few for an "
        "interval), "
        "not shown to lie within $\\pm$1.0 points (two one-sided tests, $p$ n/a), and at half "
        "the budget it was +1.9 points (1 seed, too few for an interval).\n\n"
    )
    assert budget_tex(list(contrast_rows({**one_seed, "budget_n": 0}).itertuples()), "90") == ""


# max - none at the full budget: -0.2, -0.6, -0.4, -0.3, -0.5 (-0.4 [-0.6, -0.2]); at half
# the budget: +0.71, +0.29, +0.5, +0.62, +0.38 (+0.5 [+0.3, +0.7]). The change, -0.9 points
# [-0.92, -0.88], lies well inside a margin of 1 point, yet it reverses the contrast.
NONE_FULL = [80.0, 81.0, 82.0, 80.5, 81.5]
NONE_HALF = [78.0, 79.0, 80.0, 78.5, 79.5]
REVERSED = {
    "full": {
        "max": [n + d for n, d in zip(NONE_FULL, [-0.2, -0.6, -0.4, -0.3, -0.5], strict=True)],
        "none": NONE_FULL,
    },
    "half": {
        "max": [n + d for n, d in zip(NONE_HALF, [0.71, 0.29, 0.5, 0.62, 0.38], strict=True)],
        "none": NONE_HALF,
    },
}
MAX_NONE = {
    "name": "max - none",
    "dataset": "glyphs",
    "metric": "accuracy_test",
    "first": {"condition": "full", "operator": "max"},
    "second": {"condition": "full", "operator": "none"},
}


def reversed_table(half_differences: list[float] | None = None) -> pd.DataFrame:
    """``contrast_table`` of max - none on ``REVERSED`` (95 %, margin 1), with other
    differences at half the budget where given."""
    half = dict(REVERSED["half"])
    if half_differences is not None:
        half["max"] = [n + d for n, d in zip(NONE_HALF, half_differences, strict=True)]
    observations = budget_observations(REVERSED["full"], half)
    return contrast_table(observations, [MAX_NONE], 1.0, 0.95, {"full": "half"})


def test_a_change_within_the_margin_that_reverses_the_contrast_is_not_stable():
    from scipy import stats as scipy_stats

    row = reversed_table().iloc[0]
    assert row["verdict"] == "difference" and row["mean"] == pytest.approx(-0.4)
    assert row["ci_high"] < 0  # the full budget shows pooling lowering accuracy
    assert row["budget_change"] == pytest.approx(-0.9)
    assert row["budget_change_p_equivalence"] < 0.05
    assert bool(row["budget_change_within_margin"]) is True  # the change is inside the margin
    # the contrast at half the budget, over the same seeds, with its t-interval
    half = np.array([0.71, 0.29, 0.5, 0.62, 0.38])
    assert row["half_budget_mean"] == pytest.approx(half.mean())
    low, high = scipy_stats.t.interval(0.95, 4, loc=half.mean(), scale=scipy_stats.sem(half))
    assert (row["half_budget_ci_low"], row["half_budget_ci_high"]) == pytest.approx((low, high))
    assert row["half_budget_ci_low"] > 0  # ... and at half the budget raising it
    assert bool(row["stable_under_budget"]) is False
    # the same change on the same side of zero (-0.4 points less at half the budget): stable
    same_side = reversed_table([-0.31, -0.69, -0.5, -0.38, -0.62]).iloc[0]
    assert same_side["half_budget_ci_high"] < 0
    assert bool(same_side["budget_change_within_margin"]) is True
    assert bool(same_side["stable_under_budget"]) is True


def test_a_contrast_whose_interval_holds_zero_at_both_budgets_is_stable_and_not_at_one():
    """Both intervals holding zero reach the same conclusion (none), so a small change
    between them is stable; one holding zero beside one that excludes it is not."""
    from poolstudy.paper.contrasts import budget_tex

    full = {"max": [80.2, 80.8, 81.7, 80.4, 81.6], "none": NONE_FULL}  # +0.2, -0.2, -0.3, ...
    for half_differences, stable in (
        ([0.25, -0.15, -0.3, -0.05, 0.15], True),  # holds zero at half the budget too
        ([0.95, 0.55, 0.45, 0.65, 0.85], False),  # above zero at half the budget
    ):
        half = {
            "max": [n + d for n, d in zip(NONE_HALF, half_differences, strict=True)],
            "none": NONE_HALF,
        }
        observations = budget_observations(full, half)
        table = contrast_table(observations, [MAX_NONE], 1.0, 0.95, {"full": "half"})
        row = table.iloc[0]
        assert row["ci_low"] < 0 < row["ci_high"]
        assert bool(row["budget_change_within_margin"]) is True
        assert (row["half_budget_ci_low"] > 0) is not stable
        assert bool(row["stable_under_budget"]) is stable
        text = budget_tex(list(table.itertuples()), "95")
        if stable:
            assert "), across zero as at the full budget (95\\,\\% CI [" in text
            assert text.endswith(": over this range the answer does not depend on the budget.\n\n")
        else:
            assert "), above zero, where at the full budget it is across zero (95" in text
            assert text.endswith("over this range the budget check does not settle the answer.\n\n")


def test_the_half_budget_contrast_reaches_contrasts_csv_and_is_empty_where_not_checked():
    from poolstudy.stats import CONTRAST_COLUMNS
    from poolstudy.table_files import COLUMNS

    new = [
        "budget_change_within_margin",
        "half_budget_mean",
        "half_budget_ci_low",
        "half_budget_ci_high",
    ]
    assert set(new) <= set(CONTRAST_COLUMNS) and set(new) <= set(COLUMNS["contrasts"])
    table = reversed_table()
    assert list(table.columns) == CONTRAST_COLUMNS
    unchecked = contrast_table(
        budget_observations(REVERSED["full"], REVERSED["half"]), [MAX_NONE], 1.0
    ).iloc[0]
    assert unchecked["budget_n"] == 0 and unchecked[new[1:]].isna().all()
    assert pd.isna(unchecked["budget_change_within_margin"])
    assert pd.isna(unchecked["stable_under_budget"])


def test_a_budget_that_reverses_the_answers_contrast_within_the_margin_does_not_settle_it():
    from poolstudy.paper.contrasts import answer_tex, budget_change_text, budget_tex

    table = reversed_table()
    (row,) = table.itertuples()
    still_learning = regime_rows(
        ("full", "max", 0.2, 1.8, True, False), ("full", "none", 0.2, 1.6, True, False)
    )
    answer = answer_tex(table, still_learning, ["max - none"], [], "95")
    psanswer = answer.split("\n")[0]
    assert psanswer.startswith("\\newcommand{\\psanswer}{" + NOT_SETTLED)
    assert "No: " not in answer and "does not depend on the budget" not in answer
    assert (
        "but doubling the training budget still raised the accuracy of \\texttt{max} and "
        f"\\texttt{{none}}, and changed what {LABEL} shows, from +0.5 points (95\\,\\% CI "
        "[+0.3, +0.7]) at half the budget to -0.4 points (95\\,\\% CI [-0.6, -0.2]) at the "
        "full budget" + HOW_FAST
    ) in psanswer
    body = budget_tex([row], "95")
    assert body in answer
    assert body == (
        "Doubling the training budget "
        + budget_change_text(row, "95")
        + ", shown to lie within $\\pm$1.0 points (two one-sided tests, 90\\,\\% CI [-0.9, "
        "-0.9], $p < 0.001$), but at half the budget it was +0.5 points (95\\,\\% CI [+0.3, "
        "+0.7]), above zero, where at the full budget it is below zero (95\\,\\% CI [-0.6, "
        "-0.2]): the budget changed the answer's contrast, so over this range the budget check "
        "does not settle the answer.\n\n"
    )
    # networks that each count as converged (a mean gain below the plateau) do not settle it
    # either: the budget reversed the answer's contrast, so the answer depends on the budget
    converged = regime_rows(
        ("full", "max", 0.2, 0.1, True, True), ("full", "none", 0.2, 0.1, True, True)
    )
    unsettled = answer_tex(table, converged, ["max - none"], [], "95")
    assert unsettled.split("\n")[0] == (
        "\\newcommand{\\psanswer}{"
        + NOT_SETTLED
        + f"{LABEL}: -0.4 points (95\\,\\% CI [-0.6, -0.2]), but doubling the training "
        f"budget changed what {LABEL} shows, from +0.5 points (95\\,\\% CI [+0.3, +0.7]) at "
        "half the budget to -0.4 points (95\\,\\% CI [-0.6, -0.2]) at the full budget, so the "
        "answer depends on the training budget (Section~\\ref{sec:answer}).}"
    )
    assert body in unsettled and "does not depend on the budget" not in unsettled


def test_a_contrasts_table_without_the_half_budget_contrast_never_stands_in_for_convergence():
    """A contrasts.csv written before ``analyze`` recorded the contrast at half the budget:
    its ``stable_under_budget`` checked the change alone, so it does not settle an answer
    whose networks had not converged, and the text says what was not recorded."""
    from poolstudy.paper.contrasts import answer_tex, budget_change_text, budget_tex

    new = ["budget_change_within_margin", "half_budget_mean", "half_budget_ci_low"]
    older = contrast_rows(STABLE).drop(columns=[*new, "half_budget_ci_high"])
    (row,) = older.itertuples()
    answer = answer_tex(older, STILL_LEARNING, ["max - none"], [], "90")
    assert answer.startswith("\\newcommand{\\psanswer}{" + NOT_SETTLED)
    assert (
        "still raised the accuracy of \\texttt{max} and \\texttt{none}, and whether it left "
        f"{LABEL} on the same side of zero was not recorded" + HOW_FAST
    ) in answer
    assert budget_tex([row], "90") == (
        "Doubling the training budget "
        + budget_change_text(row, "90")
        + ", shown to lie within $\\pm$1.0 points (two one-sided tests, 80\\,\\% CI [-0.2, "
        "+0.6], $p = 0.010$), but the contrast at half the budget was not recorded, so whether "
        "the budget changed the answer's contrast was not checked.\n\n"
    )
    assert "does not depend on the budget" not in answer


def test_a_network_checked_on_too_few_seeds_leaves_the_answer_unsettled_and_says_why():
    """``analyze`` leaves convergence and overfitting empty where fewer than ``MIN_SEEDS``
    seeds measured them: not shown, so the answer is not settled, for the reason given."""
    from poolstudy.paper.contrasts import answer_tex

    table = contrast_rows({})
    # none: one seed at half the budget beside five at the full
    one_half_seed = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True), ("gap", "none", 0.2, 0.1, True, None)
    )
    one_half_seed["budget_n"] = [5, 1]
    psanswer = answer_tex(table, one_half_seed, ["max - none"], [], "90").split("\n")[0]
    assert psanswer.startswith("\\newcommand{\\psanswer}{" + NOT_SETTLED)
    assert (
        "but the convergence of \\texttt{none} was not checked (fewer than 3 seeds run at both "
        "budgets)" + HOW_FAST
    ) in psanswer
    # and beside it a network with no runs at half the budget at all
    mixed = regime_rows(("gap", "max", 0.2, 0.1, True, None), ("gap", "none", 0.2, 0.1, True, None))
    mixed["budget_n"] = [0, 2]
    psanswer = answer_tex(table, mixed, ["max - none"], [], "90").split("\n")[0]
    assert (
        "but the convergence of \\texttt{max} was not checked (no runs at half the budget) and "
        "the convergence of \\texttt{none} was not checked (fewer than 3 seeds run at both "
        "budgets)" + HOW_FAST
    ) in psanswer
    # overfitting that too few seeds measured is not shown absent, nor shown present
    unshown = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True), ("gap", "none", 0.2, 0.1, pd.NA, True)
    )
    psanswer = answer_tex(table, unshown, ["max - none"], [], "90").split("\n")[0]
    assert psanswer.startswith("\\newcommand{\\psanswer}{" + NOT_SETTLED)
    assert "but whether \\texttt{none} overfits was not checked (fewer than 3 seeds)" in psanswer
    assert "may overfit" not in psanswer


def test_the_regime_paragraph_without_learning_curves_names_no_figure():
    from poolstudy.paper.contrasts import regime_tex

    settled = regime_rows(
        ("gap", "max", 0.2, 0.1, True, True), ("gap", "none", 0.4, 0.3, True, True)
    )
    expected = REGIME_SETTLED.replace(
        "(condition gap; Figure~\\ref{fig:learning}).", "(condition gap)."
    )
    assert expected != REGIME_SETTLED
    assert regime_tex(settled, figure=None) == expected


def test_a_recorded_runs_answer_names_that_run():
    from poolstudy.paper.contrasts import split_answer

    table = contrast_rows({})
    text = split_answer(table, None, ["max - none"], [], "90", run="that run")
    assert text == (
        NOT_SETTLED.replace("this run", "that run")
        + quoted(("max", "+2.0", "+1.0", "+3.0"))
        + ", but that run has no primary regime to check."
    )
    referred = split_answer(table, None, ["max - none"], [], "90", run="that run", refer=True)
    assert referred == text[:-1] + " (Section~\\ref{sec:answer})."
    table = contrast_rows({}, {"name": "max - none_rf", "second_operator": "none_rf"})
    pairs = [("receptive field", "max - none_rf")]
    text = split_answer(table, None, ["max - none"], pairs, "90", run="that run")
    assert text.endswith(" These parts are provisional: that run has no primary regime to check.")


def test_the_regime_names_its_gap_threshold_and_prints_the_largest_gap_on_its_side():
    from poolstudy.paper.contrasts import regime_tex

    regime = regime_rows(
        ("gap", "max", 0.97, 0.1, True, True), ("gap", "none", 0.4, 0.3, True, True)
    )
    regime["gap_threshold"] = 1.0
    text = regime_tex(regime)
    assert "gap below the threshold of 1.0 points (largest: +0.97 points, \\texttt{max}" in text
    regime["gap_threshold"] = 0.75
    regime["free_of_overfitting"] = [False, True]
    text = regime_tex(regime)
    assert "Its gap is not below the threshold of 0.75 points for \\texttt{max}:" in text
    # a table recorded before it named its threshold
    text = regime_tex(regime.drop(columns="gap_threshold"))
    assert "Its gap is not below the threshold for \\texttt{max}:" in text


def test_a_gain_equal_to_the_threshold_is_at_least_it_not_more():
    from functools import partial

    from poolstudy.paper.contrasts import convergence_tex, network_names

    regime = regime_rows(
        ("gap", "max", 0.2, 1.0, True, False), ("gap", "none", 0.2, 1.5, True, False)
    )
    names = partial(network_names, regime=regime)
    assert "by at least the threshold of 1.0 points (up to +1.5 points" in convergence_tex(
        regime, names
    )
    one = regime.iloc[:1]
    text = convergence_tex(one, partial(network_names, regime=one))
    assert "by +1.0 points, at least the threshold of 1.0 points: its" in text
    one = regime.iloc[1:]
    text = convergence_tex(one, partial(network_names, regime=one))
    assert "by +1.5 points, more than the threshold of 1.0 points: its" in text


def test_the_appendix_table_prints_each_end_on_its_side_of_zero_and_the_margin():
    from poolstudy.paper.contrasts import contrasts_table

    rows = contrast_rows({"mean": 0.5, "ci_low": 0.027, "ci_high": 0.973})
    assert "& 5 & +0.5 [+0.03, +0.97] &" in contrasts_table(rows, "95")
    rows = contrast_rows({"mean": -0.5, "ci_low": -1.004, "ci_high": -0.0004})
    assert "& 5 & -0.5 [-1.004, -0.0004] &" in contrasts_table(rows, "95")


def test_the_equivalence_interval_lies_inside_the_margin_exactly_where_tost_rejects():
    """The interval an equivalence verdict is quoted with is the (1 - 2 alpha) t-interval:
    from a contrast's 95 % interval, the mean and standard error at the 0.95 quantile
    (t(0.95, 4) = 2.1318, t(0.975, 4) = 2.7764 from tables), inside the margin exactly where
    ``stats.paired_contrast``'s two one-sided tests both reject."""
    from poolstudy.paper.contrasts import equivalence_interval
    from poolstudy.stats import paired_contrast

    low, high = equivalence_interval(0.3, -0.2, 0.8, 5, "95")
    assert low == pytest.approx(0.3 - 0.5 * 2.1318 / 2.7764, abs=1e-4)
    assert high == pytest.approx(0.3 + 0.5 * 2.1318 / 2.7764, abs=1e-4)
    generator = np.random.default_rng(0)
    agreements = set()
    for _ in range(300):
        n = int(generator.integers(3, 9))
        differences = generator.normal(generator.uniform(-1.5, 1.5), generator.uniform(0.1, 1), n)
        for confidence in (0.95, 0.9):
            result = paired_contrast(differences, 1.0, confidence)
            text = f"{confidence * 100:g}"
            ends = equivalence_interval(
                result["mean"], result["ci_low"], result["ci_high"], n, text
            )
            inside = -1.0 < ends[0] and ends[1] < 1.0
            rejected = result["p_equivalence"] < 1 - confidence
            assert inside == rejected
            agreements.add(inside)
    assert agreements == {True, False}  # both outcomes were met


def test_an_equivalence_interval_prints_each_end_on_its_side_of_zero_and_the_margin():
    from poolstudy.paper.contrasts import equivalence_text
    from poolstudy.paper.format import fmt_beside

    # three seeds: 80 % beside 90 % is 0.3 +- 0.5 * 1.8856 / 2.9200 = [-0.023, +0.623]
    assert equivalence_text(0.3, -0.2, 0.8, 3, 1.0, "90") == "80\\,\\% CI [-0.02, +0.6]"
    # each end signed, and on its side of the margin's lower end as of zero
    assert equivalence_text(0.3, 0.1, 0.5, 5, 1.0, "95") == "90\\,\\% CI [+0.1, +0.5]"
    low, high = -0.5 - 0.6462216, -0.5 + 0.6462216  # 90 %: [-0.9962, -0.0038]
    assert equivalence_text(-0.5, low, high, 5, 1.0, "95") == "90\\,\\% CI [-0.996, -0.004]"
    assert fmt_beside(0.996, (-1.0, 0.0, 1.0), signed=True) == "+0.996"
    assert fmt_beside(-1.04, (-1.0, 0.0, 1.0)) == "-1.04"
    assert fmt_beside(0.5, (-1.0, 0.0, 1.0), signed=True) == "+0.5"


@pytest.mark.parametrize(("confidence", "level"), [(0.95, 0.9), (0.99, 0.98), (0.8, 0.6)])
def test_the_equivalence_interval_is_at_one_minus_twice_alpha(confidence, level):
    from poolstudy.equivalence import equivalence_confidence, equivalence_interval
    from poolstudy.paper.contrasts import equivalence_interval as quoted
    from poolstudy.stats import t_interval

    assert equivalence_confidence(confidence) == level
    diffs = np.array([0.3, -0.1, 0.9, 0.4, 0.2])
    mean, low, high = t_interval(diffs, confidence)
    inner = equivalence_interval(mean, low, high, len(diffs), confidence)
    np.testing.assert_allclose(inner, t_interval(diffs, level)[1:], rtol=1e-12)
    assert quoted(mean, low, high, len(diffs), f"{100 * confidence:g}") == inner


def test_a_contrasts_mean_prints_inside_its_interval_and_every_end_beside_the_margin():
    """A difference within the margin: the sentence's interval keeps each end on its side of
    the margin's ends as the appendix's table does (not [+1.0, +1.0] beside the 1.0-point
    margin), and the mean prints inside it, the same in the sentence, the table and the
    answer; a mean below a tenth keeps its digits and its sign."""
    from poolstudy.paper.contrasts import contrast_sentence, contrasts_table, verdict_sentence

    near = {
        "mean": 0.97,
        "ci_low": 0.961,
        "ci_high": 0.979,
        "p_difference_holm": 0.0004,
        "p_equivalence_holm": 0.01,
        "within_margin": True,
    }
    row = contrast_row(**near)
    assert contrast_sentence(row, "95") == (
        LABEL + r": +0.97 points (95\,\% CI [+0.96, +0.98]); the first is higher "
        r"(Holm-adjusted $p < 0.001$), a difference smaller than the 1.0-point margin "
        r"(90\,\% CI [+0.96, +0.98])."
    )
    assert "& 5 & +0.97 [+0.96, +0.98] &" in contrasts_table(contrast_rows(near), "95")
    assert LABEL + r": +0.97 points (95\,\% CI [+0.96, +0.98])" in verdict_sentence(
        [row], None, "95"
    )
    small = contrast_row(mean=0.03, ci_low=0.02, ci_high=0.04)
    assert contrast_sentence(small, "95").startswith(
        LABEL + r": +0.03 points (95\,\% CI [+0.02, +0.04]); the first is higher"
    )
    one_seed = contrast_row(mean=-0.03, ci_low=NAN, ci_high=NAN, n=1, verdict="inconclusive")
    assert contrast_sentence(one_seed, "95") == LABEL + ": -0.03 points from 1 seed; no claim."


def test_a_budget_change_below_a_tenth_keeps_its_digits():
    from poolstudy.paper.contrasts import budget_change_text

    row = contrast_row(
        budget_n=5,
        budget_change=0.03,
        budget_change_ci_low=-0.5,
        budget_change_ci_high=0.56,
        budget_change_p_equivalence=0.3,
        stable_under_budget=False,
    )
    assert budget_change_text(row, "95") == (
        "moved " + LABEL + r" by +0.03 points (95\,\% CI [-0.5, +0.6])"
    )


def test_a_regime_of_one_network_in_one_condition_is_worded_in_the_singular():
    from poolstudy.paper.contrasts import regime_tex

    assert regime_tex(regime_rows(("gap", "max", 0.2, 0.3, True, True))) == (
        "The primary regime trains 1 network on glyphs (condition gap; "
        "Figure~\\ref{fig:learning}). \\texttt{max} has a mean train$-$test gap below the "
        "threshold (+0.2 points, against a test-set sampling error of 0.5 points), so by that "
        "criterion it does not overfit. Doubling the training budget (from 500 to 1,000 "
        "optimiser steps) raised the mean test accuracy of \\texttt{max} by +0.3 points, less "
        "than the threshold of 1.0 points: by that criterion its training had converged. \n\n"
    )


def test_budget_gains_of_zero_or_below_changed_the_accuracy_rather_than_raised_it():
    from poolstudy.paper.contrasts import regime_tex

    fell = regime_tex(
        regime_rows(("gap", "max", 0.2, -0.3, True, True), ("gap", "none", -0.03, -0.1, True, True))
    )
    assert (
        "changed the mean test accuracy of \\texttt{max}, \\texttt{none} by -0.3 to -0.1 points, "
        "less than the threshold of 1.0 points: by that criterion their "
        "training had converged." in fell
    )
    assert "raised" not in fell
    mixed = regime_tex(
        regime_rows(("gap", "max", 0.2, 2.0, True, False), ("gap", "none", 0.1, -0.03, True, True))
    )
    assert (
        "That of \\texttt{none} changed by -0.03 points: by that criterion its training had "
        "converged." in mixed
    )


def test_networks_checked_on_too_few_seeds_are_named_as_not_checked_and_why():
    from poolstudy.paper.contrasts import regime_tex

    regime = regime_rows(
        ("gap", "max", 0.2, 0.1, None, None),
        ("gap", "none", 0.4, 0.3, True, None),
        ("gap", "avg", 0.3, 0.2, True, True),
    )
    regime["budget_n"] = [2, 0, 5]
    regime.loc[0, "free_of_overfitting"] = pd.NA
    text = regime_tex(regime)
    assert "Whether \\texttt{max} overfits was not checked (fewer than 3 seeds). " in text
    assert "Every one of them" not in text and "may be overfitting" not in text
    assert (
        "Convergence was not checked for \\texttt{max} (fewer than 3 seeds run at both "
        "budgets). Convergence was not checked for \\texttt{none} (no runs at half the budget)."
    ) in text
    regime.loc[1, "free_of_overfitting"] = False
    text = regime_tex(regime)
    assert "Whether \\texttt{max} overfits was not checked" in text
    assert (
        "Its gap is not below the threshold for \\texttt{none}: there it may be overfitting."
        in text
    )


def test_the_half_budget_contrast_counts_only_the_seeds_run_at_both_budgets():
    """A seed run only at half the budget (a fourth beside three at the full budget) has no
    change to give, and the contrast at half the budget leaves it out too: it is taken over
    the same seeds as the change."""
    from scipy import stats as scipy_stats

    full = {"max": [82.0, 81.0, 83.0], "none": [80.0, 80.0, 80.0]}
    half = {"max": [81.8, 81.2, 82.6, 90.0], "none": [80.0] * 4}  # seed 3: +10 at half only
    observations = budget_observations(full, half)
    row = contrast_table(observations, [MAX_NONE], 1.0, 0.95, {"full": "half"}).iloc[0]
    assert row["n"] == 3 and row["budget_n"] == 3
    same_seeds = np.array([1.8, 1.2, 2.6])
    assert row["half_budget_mean"] == pytest.approx(same_seeds.mean())
    low, high = scipy_stats.t.interval(
        0.95, 2, loc=same_seeds.mean(), scale=scipy_stats.sem(same_seeds)
    )
    assert (row["half_budget_ci_low"], row["half_budget_ci_high"]) == pytest.approx((low, high))


def test_an_equivalence_at_the_full_budget_and_nothing_shown_at_half_is_not_stable():
    """Both intervals hold zero, but the full budget shows equivalence within the margin and
    half the budget shows nothing: not the same answer."""
    spread = np.array([0.3, -0.3, 0.15, -0.15, 0.0]) * 1.3
    full = {"max": [n + d for n, d in zip(NONE_FULL, spread, strict=True)], "none": NONE_FULL}
    half = {"max": [n + d for n, d in zip(NONE_HALF, 4 * spread, strict=True)], "none": NONE_HALF}
    row = contrast_table(budget_observations(full, half), [MAX_NONE], 1.0, 0.95, {"full": "half"})
    row = row.iloc[0]
    assert row["ci_low"] < 0 < row["ci_high"] and row["p_equivalence"] < 0.05
    assert row["half_budget_ci_low"] < 0 < row["half_budget_ci_high"]
    assert bool(row["budget_change_within_margin"]) is True
    assert bool(row["stable_under_budget"]) is False
    # nothing shown at either budget (a wide spread at both): the same, so stable
    wide = {"max": [n + d for n, d in zip(NONE_FULL, 4 * spread, strict=True)], "none": NONE_FULL}
    steady = contrast_table(
        budget_observations(wide, half), [MAX_NONE], 1.0, 0.95, {"full": "half"}
    )
    assert steady.iloc[0]["p_equivalence"] > 0.05
    assert bool(steady.iloc[0]["stable_under_budget"]) is True


def test_a_budget_check_from_fewer_than_three_seeds_shows_nothing_either_way():
    observations = budget_observations(
        {"max": REVERSED["full"]["max"][:2], "none": NONE_FULL[:2]},
        {"max": REVERSED["half"]["max"][:2], "none": NONE_HALF[:2]},
    )
    row = contrast_table(observations, [MAX_NONE], 1.0, 0.95, {"full": "half"}).iloc[0]
    assert row["budget_n"] == 2
    assert pd.isna(row["budget_change_within_margin"]) and pd.isna(row["stable_under_budget"])


def test_a_budget_change_within_the_margin_prints_inside_both_intervals_it_is_quoted_with():
    from poolstudy.paper.contrasts import budget_change_text

    row = contrast_row(
        budget_n=5,
        budget_change=0.96,
        budget_change_ci_low=0.91,
        budget_change_ci_high=1.01,
        budget_change_p_equivalence=0.04,
        budget_change_within_margin=True,
        half_budget_mean=1.04,
        half_budget_ci_low=-0.2,
        half_budget_ci_high=2.3,
        stable_under_budget=False,
    )
    text = budget_change_text(row, "95")
    # the 95 % interval's upper end keeps its side of the margin, and the mean prints inside
    # the 90 % interval the margin check rests on ([+0.92, +0.99])
    assert text == f"moved {LABEL} by +0.96 points (95\\,\\% CI [+0.9, +1.01])"


def test_budget_gains_of_exactly_zero_and_networks_left_unchecked_in_full():
    """A largest gain of exactly zero raised nothing: "changed", and over several networks
    their range, not "at most"; a network with one seed at both budgets was run at half the
    budget (too few seeds), one whose count is missing was not."""
    from functools import partial

    from poolstudy.paper.contrasts import convergence_tex, network_names

    regime = regime_rows(
        ("gap", "max", 0.2, -0.3, True, True),
        ("gap", "none", 0.2, 0.0, True, True),
        ("gap", "avg", 0.2, None, True, None),
        ("gap", "stride", 0.2, None, True, None),
    )
    regime["budget_n"] = [5, 5, 1, NAN]
    assert convergence_tex(regime, partial(network_names, regime=regime)) == (
        "Doubling the training budget (from 500 to 1,000 optimiser steps) changed the mean test "
        "accuracy of \\texttt{max}, \\texttt{none} by -0.3 to 0.0 points, less than the "
        "threshold of 1.0 points: by that criterion their training had converged. Convergence "
        "was not checked for \\texttt{avg} (fewer than 3 seeds run at both budgets). "
        "Convergence was not checked for \\texttt{stride} (no runs at half the budget). \n\n"
    )
    # beside a network still learning, a converged one whose gain is exactly zero
    regime = regime_rows(
        ("gap", "max", 0.2, 2.0, True, False), ("gap", "none", 0.2, 0.0, True, True)
    )
    assert convergence_tex(regime, partial(network_names, regime=regime)) == (
        "Doubling the training budget (from 500 to 1,000 optimiser steps) still raised the mean "
        "test accuracy of \\texttt{max} by +2.0 points, more than the threshold of 1.0 points: "
        "its training had not converged, and the comparisons involving it are provisional. "
        "That of \\texttt{none} changed by 0.0 points: by that criterion its training had "
        "converged. \n\n"
    )


def test_a_regime_paragraph_whose_overfitting_check_two_networks_lacked_in_full():
    from poolstudy.paper.contrasts import regime_tex

    regime = regime_rows(
        ("gap", "max", 0.2, 0.1, pd.NA, True), ("gap", "none", 0.4, 0.3, pd.NA, True)
    )
    assert regime_tex(regime) == (
        "The primary regime trains 2 networks on glyphs (condition gap; "
        "Figure~\\ref{fig:learning}). Whether \\texttt{max} and \\texttt{none} overfit was not "
        "checked (fewer than 3 seeds). Doubling the training budget (from 500 to 1,000 "
        "optimiser steps) raised the mean test accuracy of \\texttt{max}, \\texttt{none} by at "
        "most +0.3 points (\\texttt{none}), less than the threshold of 1.0 points: by that "
        "criterion their training had converged. \n\n"
    )


def test_the_unsettled_answer_names_each_unchecked_network_and_each_contrast_that_moved():
    from poolstudy.paper.contrasts import verdict_sentence

    (row,) = contrast_rows({}).itertuples()
    measured = NOT_SETTLED + quoted(("max", "+2.0", "+1.0", "+3.0"))
    # overfitting that too few seeds measured, in both networks: both named, in the plural
    unshown = regime_rows(
        ("gap", "max", 0.2, 0.1, pd.NA, True), ("gap", "none", 0.4, 0.3, pd.NA, True)
    )
    assert verdict_sentence([row], unshown, "90") == (
        measured + ", but whether \\texttt{max} and \\texttt{none} overfit was not checked "
        "(fewer than 3 seeds). "
    )
    # one network that may overfit beside one not checked: only the second is unchecked
    unshown["free_of_overfitting"] = [False, pd.NA]
    assert verdict_sentence([row], unshown, "90") == (
        measured + ", but a compared network may overfit; whether \\texttt{none} overfits was "
        "not checked (fewer than 3 seeds). "
    )
    # still learning: one contrast moved beyond the margin, two others reversed within it
    reversed_change = {
        **STABLE,
        "mean": -0.4,
        "ci_low": -0.6,
        "ci_high": -0.2,
        "budget_change": -0.9,
        "budget_change_ci_low": -0.95,
        "budget_change_ci_high": -0.85,
        "half_budget_mean": 0.5,
        "half_budget_ci_low": 0.3,
        "half_budget_ci_high": 0.7,
        "stable_under_budget": False,
    }
    rows = list(
        contrast_rows(
            MOVED,
            {**reversed_change, "first_operator": "avg"},
            {
                **reversed_change,
                "first_operator": "stride",
                "mean": -0.5,
                "ci_low": -0.8,
                "half_budget_mean": 0.6,
                "half_budget_ci_low": 0.2,
                "half_budget_ci_high": 1.0,
            },
        ).itertuples()
    )
    regime = regime_rows(
        ("gap", "max", 0.2, 1.8, True, False),
        ("gap", "none", 0.2, 1.6, True, False),
        ("gap", "avg", 0.2, 0.1, True, True),
        ("gap", "stride", 0.2, 0.1, True, True),
    )
    avg, stride = (f"\\texttt{{{op}}} $-$ \\texttt{{none}}" for op in ("avg", "stride"))
    assert verdict_sentence(rows, regime, "90") == (
        NOT_SETTLED
        + quoted(
            ("max", "+2.0", "+1.0", "+3.0"),
            ("avg", "-0.4", "-0.6", "-0.2"),
            ("stride", "-0.5", "-0.8", "-0.2"),
        )
        + ", but doubling the training budget still raised the accuracy of \\texttt{max} and "
        "\\texttt{none}, and moved " + LABEL + " by +1.5 points (90\\,\\% CI [+0.5, +2.5]), not "
        "shown to stay within $\\pm$1.0 points, and changed what " + avg + " shows, from +0.5 "
        "points (90\\,\\% CI [+0.3, +0.7]) at half the budget to -0.4 points (90\\,\\% CI "
        "[-0.6, -0.2]) at the full budget; and what " + stride + " shows, from +0.6 points "
        "(90\\,\\% CI [+0.2, +1.0]) at half the budget to -0.5 points (90\\,\\% CI [-0.8, "
        "-0.2]) at the full budget" + HOW_FAST + ". "
    )
