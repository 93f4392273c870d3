"""Metrics: logits (or predictions) in, numbers out. Percentages throughout."""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (logits.argmax(dim=1) == labels).float().mean().item()


def consistency(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Percentage of images whose top-1 class agrees between two shifted views
    (Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019)."""
    return 100.0 * (logits_a.argmax(dim=1) == logits_b.argmax(dim=1)).float().mean().item()
