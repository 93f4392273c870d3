"""Metrics: logits (or predictions) in, numbers out. Percentages throughout.

``METRICS`` maps each metric's name to its function. The functions take logits ``[N, K]``
(and labels ``[N]`` where needed) and return a Python float: a percentage, or, for
``mean_abs_change``, a change of probability in percentage points. A metric whose denominator
is empty returns NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

# How the paper and its figures name a metric of the tidy tables in words, where it is not
# its own name.
METRIC_WORDS = {"accuracy_test": "clean test accuracy"}


def _percent(hits: torch.Tensor) -> float:
    """Percentage of true entries of a boolean tensor; NaN when it is empty."""
    if hits.numel() == 0:
        return math.nan
    return 100.0 * hits.float().mean().item()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return _percent(logits.argmax(dim=1) == labels)


def consistency(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Percentage of images whose top-1 class agrees between two shifted views
    (Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019)."""
    return _percent(logits_a.argmax(dim=1) == logits_b.argmax(dim=1))


def consistency_given_clean_correct(
    logits_clean: torch.Tensor,
    logits_a: torch.Tensor,
    logits_b: torch.Tensor,
    labels: torch.Tensor,
) -> float:
    """Consistency (Zhang 2019) restricted to the images the model gets right unshifted.

    Numerator: images whose clean (unshifted) view is classified correctly and whose two
    shifted views ``a`` and ``b`` have the same top-1 class (whether or not that class is the
    label). Denominator: images whose clean view is classified correctly. In percent; NaN when
    no clean view is correct. Zhang (2019) notes that higher accuracy alone raises consistency;
    conditioning on the clean prediction being correct removes the images a model gets wrong
    anyway, leaving the part of consistency not explained by clean accuracy.
    """
    clean_correct = logits_clean.argmax(dim=1) == labels
    agree = logits_a.argmax(dim=1) == logits_b.argmax(dim=1)
    return _percent(agree[clean_correct])


def consistency_given_one_correct(
    logits_a: torch.Tensor, logits_b: torch.Tensor, labels: torch.Tensor
) -> float:
    """Among pairs of shifted views where at least one view is classified correctly, the
    percentage where both are.

    Numerator: images whose views ``a`` and ``b`` are both correct. Denominator: images where
    ``a`` or ``b`` (or both) is correct. NaN when no view is correct. Within this denominator
    the views agree exactly when both are correct (if only one is correct their top-1 classes
    differ), so this is also the consistency (Zhang 2019) of the pairs with at least one correct
    view. The literal "consistency among pairs where both views are correct" is 100% by
    construction (two correct views share the label as top-1 class) and is not reported.
    """
    correct_a = logits_a.argmax(dim=1) == labels
    correct_b = logits_b.argmax(dim=1) == labels
    return _percent((correct_a & correct_b)[correct_a | correct_b])


def p_top1_change(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Probability, in percent, that the top-1 class changes between an image (``a``) and
    its copy one diagonal step further (``b``; evaluation steps by a pixel in each direction
    under integer protocols, by ``subpixel_step`` under fractional ones): P(top-1 change) of
    Azulay & Weiss, "Why do deep convolutional networks generalize so poorly to small image
    transformations?", JMLR 2019. Equal to ``100 - consistency(a, b)``."""
    return _percent(logits_a.argmax(dim=1) != logits_b.argmax(dim=1))


def mean_abs_change(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean absolute change of the top-1 probability (MAC; Azulay & Weiss, JMLR 2019), in
    percentage points.

    For each image, take the class that is top-1 on view ``a`` and the absolute difference
    between its softmax probability on ``a`` and on ``b``; average over images. NaN for an
    empty batch.
    """
    if logits_a.shape[0] == 0:
        return math.nan
    prob_a = torch.softmax(logits_a.float(), dim=1)
    prob_b = torch.softmax(logits_b.float(), dim=1)
    top = logits_a.argmax(dim=1, keepdim=True)
    change = (prob_a.gather(1, top) - prob_b.gather(1, top)).abs()
    return 100.0 * change.mean().item()


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "consistency": consistency,
    "consistency_given_clean_correct": consistency_given_clean_correct,
    "consistency_given_one_correct": consistency_given_one_correct,
    "p_top1_change": p_top1_change,
    "mean_abs_change": mean_abs_change,
}
