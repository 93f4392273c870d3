"""Inference helpers: the training subset, batched accuracy and batch-norm folding."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from poolstudy.inference import accuracy_on, fold_batchnorm, seeded_subset
from poolstudy.models import ModelSpec, build_model


def test_a_subset_as_large_as_the_set_keeps_everything_in_order():
    assert seeded_subset(5, None, 0) is None
    assert seeded_subset(5, 5, 0) is None
    assert seeded_subset(5, 9, 0) is None
    drawn = seeded_subset(5, 4, 0)
    assert len(drawn) == 4 and len(set(drawn.tolist())) == 4


class Pixels(nn.Module):
    """Logits: the pixels of a one-row image, so the answer is known."""

    spec = SimpleNamespace(num_classes=3, in_channels=1, image_size=3)

    def forward(self, x):
        return x.flatten(1)


def test_accuracy_on_a_model_whose_answers_are_known():
    images = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]).view(4, 1, 1, 3)
    labels = torch.tensor([0, 1, 2, 2])
    cpu = torch.device("cpu")
    assert accuracy_on(Pixels(), images, labels, cpu) == 75.0
    assert accuracy_on(Pixels(), images, labels, cpu, batch_size=3) == 75.0
    assert math.isnan(accuracy_on(Pixels(), images[:0], labels[:0], cpu))


@pytest.mark.parametrize("operator", ["max", "stride", "convpool", "none_rf", "aps", "blur"])
def test_folded_batchnorm_computes_the_same_function(operator):
    torch.manual_seed(0)
    model = build_model(ModelSpec(operator, 1, 3, 16, widths=(4, 8))).eval()
    for module in model.modules():  # statistics far from the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.2, 3)
            module.weight.data.uniform_(0.5, 2)
            module.bias.data.uniform_(-1, 1)
    folded = fold_batchnorm(model)

    def norms(net):
        return sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())

    # every batch norm is folded: the conv-BN-ReLU blocks' and the strided convolutions'
    assert norms(model) == (4 if operator in ("stride", "convpool") else 2)
    assert norms(folded) == 0
    x = torch.rand(6, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-5)
        # a folded model has nothing left to fold: folding it again changes nothing
        assert torch.equal(fold_batchnorm(folded)(x), folded(x))


def test_folding_leaves_the_model_and_other_layers_alone():
    torch.manual_seed(0)
    model = build_model(ModelSpec("max", 1, 3, 16, widths=(4, 8))).eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    kinds = [type(m) for m in model.modules()]
    fold_batchnorm(model)
    assert [type(m) for m in model.modules()] == kinds
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    # a convolution followed by anything but batch norm is kept as it is
    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))
    folded = fold_batchnorm(plain)
    assert [type(m) for m in folded] == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]
