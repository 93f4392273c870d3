"""The equivalence interval (``poolstudy.equivalence``): the interval whose place inside the
margin is the two one-sided tests' verdict (Schuirmann 1987)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as t_distribution

from poolstudy.equivalence import equivalence_confidence, equivalence_interval
from poolstudy.stats import paired_contrast, significance_level


@pytest.mark.parametrize(
    ("confidence", "expected"), [(0.95, 0.90), (0.99, 0.98), (0.975, 0.95), (0.9, 0.8)]
)
def test_the_equivalence_level_leaves_alpha_on_each_side(confidence, expected):
    assert equivalence_confidence(confidence) == expected  # exact: written as a reader would


def test_the_interval_is_the_t_interval_at_the_equivalence_level():
    differences = np.array([0.3, -0.4, 1.1, 0.2, 0.6])
    contrast = paired_contrast(differences, margin=1.0, confidence=0.95)
    low, high = equivalence_interval(
        contrast["mean"], contrast["ci_low"], contrast["ci_high"], contrast["n"], 0.95
    )
    se = differences.std(ddof=1) / np.sqrt(differences.size)
    half = t_distribution.ppf(0.95, differences.size - 1) * se
    assert low == pytest.approx(differences.mean() - half, rel=1e-12)
    assert high == pytest.approx(differences.mean() + half, rel=1e-12)
    assert contrast["ci_low"] < low < high < contrast["ci_high"]


@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.9])
@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_interval_lies_inside_the_margin_exactly_where_the_two_one_sided_tests_reject(
    confidence, n
):
    rng = np.random.default_rng(n)
    alpha = significance_level(confidence)
    agreements = set()
    for _ in range(200):
        differences = rng.normal(rng.uniform(-1.5, 1.5), rng.uniform(0.1, 1.5), size=n)
        margin = 1.0
        contrast = paired_contrast(differences, margin=margin, confidence=confidence)
        low, high = equivalence_interval(
            contrast["mean"], contrast["ci_low"], contrast["ci_high"], n, confidence
        )
        inside = -margin < low and high < margin
        rejects = contrast["p_equivalence"] < alpha
        assert inside == rejects, (differences, low, high, contrast["p_equivalence"])
        agreements.add(inside)
    assert agreements == {True, False}  # both verdicts were tried
