"""Inference helpers below both training and evaluation: images as floats, the seeded
training subset, and batched forward passes on the device."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from poolstudy import device as devices


def to_unit_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1] (the networks standardise their own input)."""
    return images.float().div_(255.0)


def seeded_subset(total: int, n: int | None, seed: int) -> torch.Tensor | None:
    """Indices of the first ``n`` of ``total`` items in a permutation seeded by ``seed``;
    None (keep everything) when ``n`` is None or not below ``total``."""
    if n is None or n >= total:
        return None
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n]


def select_training_subset(
    images: torch.Tensor, labels: torch.Tensor, n_train: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n_train`` images of a seeded permutation (all of them when None)."""
    keep = seeded_subset(labels.shape[0], n_train, seed)
    if keep is None:
        return images, labels
    return images[keep], labels[keep]


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """Logits (float32, on the device) for float images already on the device."""
    model.eval()
    fmt = devices.memory_format(device)
    outputs = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].contiguous(memory_format=fmt)
        with devices.autocast(device):
            outputs.append(model(batch).float())
    if not outputs:
        return torch.empty(0, model.spec.num_classes, device=device)
    return torch.cat(outputs)


def accuracy_on(model, images, labels, device, batch_size: int | None = None) -> float:
    """Top-1 accuracy (%) of ``model`` on ``images``; the device's evaluation batch unless
    ``batch_size`` is given."""
    batch_size = batch_size or devices.eval_batch_size(device, "auto", model)
    logits = predict(model, images, batch_size, device)
    return 100.0 * (logits.argmax(1) == labels).float().mean().item() if len(labels) else math.nan


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for inference, each convolution followed by batch normalisation
    (in an ``nn.Sequential``, or the pair a module names in ``folds_batchnorm``) folded into
    one convolution: the same function in eval mode up to float rounding, one pass over the
    activations fewer (1.0-1.6x faster on the CPU)."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        pair = getattr(module, "folds_batchnorm", None)
        if pair is not None:
            conv, norm = (getattr(module, name) for name in pair)
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                setattr(module, pair[0], fuse_conv_bn_eval(conv, norm))
                setattr(module, pair[1], nn.Identity())
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module._modules[first] = fuse_conv_bn_eval(conv, norm)
                module._modules[second] = nn.Identity()
    return folded
