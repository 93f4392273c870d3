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
    assert "\\psanswer}{No: " in no and "less than $\\pm$1.0 points" in no


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
    assert "\\psanswer}{Not settled by this run: " in unconverged and "Yes" not in unconverged
    assert "still raised the accuracy" in unconverged and "how fast they learn" in unconverged
    assert "+5.6 points" in unconverged  # the measured contrast is still quoted
    assert "may overfit" not in unconverged and "not checked" not in unconverged
    # not checked at all
    unchecked = verdict(regime_of(["big", "base", "other"], [None, None, None]))
    assert "Not settled" in unchecked and "was not checked" in unchecked
    # overfitting anywhere in the regime
    overfitting = verdict(regime_of(["big", "base", "other"], [True] * 3, [True, True, False]))
    assert "a compared network may overfit" in overfitting and "how fast" not in overfitting
    # a network outside the answer's contrast that did not converge or was not checked:
    # the answer stands, and the regime's paragraph names it
    settled = answer_tex(
        table, regime_of(["big", "base", "other"], [True, True, None]), ["big"], [], "95"
    )
    assert settled.startswith("\\newcommand{\\psanswer}{Yes: ")
    assert "Convergence was not checked for" in settled and "from 500 to 1000" in settled
    mixed = answer_tex(
        table, regime_of(["big", "base", "other"], [True, True, False]), ["big"], [], "95"
    )
    assert mixed.startswith("\\newcommand{\\psanswer}{Yes: ") and "+2.5 points" in mixed
