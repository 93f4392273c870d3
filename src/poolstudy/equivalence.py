"""The interval an equivalence verdict rests on. Two one-sided tests at level alpha
(Schuirmann, "A comparison of the two one-sided tests procedure and the power approach for
assessing the equivalence of average bioavailability", J. Pharmacokinet. Biopharm. 1987) reject
a difference beyond the margin exactly where the (1 - 2 alpha) t-interval lies inside it: 90 %
beside a 95 % interval. The paper quotes it with each equivalence; the forest plot draws it."""

from __future__ import annotations

from scipy.stats import t as t_distribution

from poolstudy.stats import significance_level


def equivalence_confidence(confidence: float) -> float:
    """The level of the equivalence interval beside a ``confidence`` interval: 0.95 -> 0.90."""
    return round(1 - 2 * significance_level(confidence), 12)


def equivalence_interval(
    mean: float, low: float, high: float, n: int, confidence: float
) -> tuple[float, float]:
    """The (1 - 2 alpha) interval of a paired difference over ``n`` seeds whose t-interval at
    ``confidence`` is [``low``, ``high``]: the same mean and standard error at the other
    quantile (``stats.paired_contrast`` leaves its intervals unclipped)."""
    alpha = significance_level(confidence)
    scale = t_distribution.ppf(1 - alpha, n - 1) / t_distribution.ppf(1 - alpha / 2, n - 1)
    half = (high - low) / 2 * scale
    return mean - half, mean + half
