"""NesterovSGD: the parameters and state of ``torch.optim.SGD(nesterov=True)``, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import imports_after

from poolstudy.models import ModelSpec, build_model
from poolstudy.optim import NesterovSGD


def network(seed: int = 0):
    torch.manual_seed(seed)
    spec = ModelSpec(operator="max", in_channels=1, num_classes=4, image_size=8, widths=(4, 6))
    return build_model(spec).train()


def groups(model, decay: float = 5e-4) -> list[dict]:
    params = list(model.parameters())
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def train(model, optimizer, steps: int, start: int = 0, late: bool = False) -> None:
    """``steps`` steps from step ``start`` on; ``late``: every other parameter gets no
    gradient in the first step, so its momentum starts a step after its group's others."""
    generator = torch.Generator().manual_seed(1)
    for step in range(start + steps):
        x = torch.randn(5, 1, 8, 8, generator=generator)
        y = torch.randint(0, 4, (5,), generator=generator)
        if step < start:
            continue
        for group in optimizer.param_groups:
            group["lr"] = 0.1 / (1 + step)  # a schedule, as training sets it
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        if late and step == 0:
            for param in list(model.parameters())[::2]:
                param.grad = None
        optimizer.step()


def pytorch_sgd(model, decay: float, foreach: bool) -> torch.optim.SGD:
    return torch.optim.SGD(
        groups(model, decay), lr=0.1, momentum=0.9, nesterov=True, foreach=foreach
    )


def assert_same_weights(model, other) -> None:
    for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize(("decay", "late"), [(5e-4, False), (0.0, False), (1.0, True)])
def test_the_same_parameters_and_state_as_pytorchs_sgd(foreach, decay, late, monkeypatch):
    ours, theirs = network(), network()
    optimizer = NesterovSGD(groups(ours, decay), lr=0.1, momentum=0.9)
    if foreach:  # the path PyTorch takes off the CPU, here on the CPU
        monkeypatch.setattr(optimizer, "_step_each", optimizer._step_foreach)
    reference = pytorch_sgd(theirs, decay, foreach)
    train(ours, optimizer, 12, late=late)
    train(theirs, reference, 12, late=late)
    assert_same_weights(ours, theirs)
    mine, pytorchs = optimizer.state_dict(), reference.state_dict()
    assert mine["state"].keys() == pytorchs["state"].keys()
    for index, values in mine["state"].items():
        assert torch.equal(values["momentum_buffer"], pytorchs["state"][index]["momentum_buffer"])
    for group, other in zip(mine["param_groups"], pytorchs["param_groups"], strict=True):
        assert {k: group[k] for k in ("params", "lr", "momentum", "weight_decay")} == {
            k: other[k] for k in ("params", "lr", "momentum", "weight_decay")
        }


@pytest.mark.parametrize("resumer", ["ours", "pytorchs"])
def test_a_run_resumed_from_the_state_dict_continues_exactly(resumer):
    whole, resumed = network(), network()
    train(whole, NesterovSGD(groups(whole), lr=0.1, momentum=0.9), 10)
    first = NesterovSGD(groups(resumed), lr=0.1, momentum=0.9)
    train(resumed, first, 4)
    restarted = network(seed=5)
    restarted.load_state_dict(resumed.state_dict())
    if resumer == "ours":
        second = NesterovSGD(groups(restarted), lr=0.5, momentum=0.5)
    else:  # PyTorch's, without Nesterov momentum until the state sets it
        second = torch.optim.SGD(groups(restarted), lr=0.5, momentum=0.5)
    second.load_state_dict(first.state_dict())
    train(restarted, second, 6, start=4)
    assert_same_weights(whole, restarted)


def test_defaults_apply_to_every_group_and_any_iterable_of_parameters():
    ours, theirs = network(), network()
    # no weight decay by default, and a group may be given a generator
    optimizer = NesterovSGD([{"params": ours.parameters()}], lr=0.1, momentum=0.9)
    reference = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    names = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    assert {k: optimizer.param_groups[0][k] for k in names} == {
        k: reference.param_groups[0][k] for k in names
    }
    train(ours, optimizer, 3)
    train(theirs, reference, 3)
    assert_same_weights(ours, theirs)


def test_it_loads_pytorchs_state_dict_and_refuses_other_groups():
    model = network()
    reference = pytorch_sgd(model, 5e-4, foreach=False)
    train(model, reference, 3)
    optimizer = NesterovSGD(groups(model), lr=0.5, momentum=0.5)
    optimizer.load_state_dict(reference.state_dict())
    assert optimizer.param_groups[0]["lr"] == reference.param_groups[0]["lr"]
    assert optimizer.param_groups[0]["momentum"] == 0.9
    first = optimizer.param_groups[0]["params"][0]
    assert torch.equal(
        optimizer.state[first]["momentum_buffer"], reference.state[first]["momentum_buffer"]
    )
    assert (
        optimizer.state[first]["momentum_buffer"] is not reference.state[first]["momentum_buffer"]
    )
    single = NesterovSGD([{"params": list(model.parameters())}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="groups of sizes"):
        single.load_state_dict(reference.state_dict())


@pytest.mark.parametrize(("nesterov", "dampening"), [(False, 0.0), (True, 0.1)])
def test_it_refuses_the_state_of_other_momentum(nesterov, dampening):
    model = network()
    other = NesterovSGD(groups(model), lr=0.1, momentum=0.9)
    train(model, other, 1)
    saved = other.state_dict()
    for group in saved["param_groups"]:
        group.update(nesterov=nesterov, dampening=dampening)
    optimizer = NesterovSGD(groups(model), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="^the optimiser state is not Nesterov momentum"):
        optimizer.load_state_dict(saved)


def test_loaded_buffers_take_each_parameters_device_and_dtype():
    on_meta = torch.zeros(3, device="meta")  # a device other than the saved state's
    optimizer = NesterovSGD([{"params": [on_meta]}], lr=0.1, momentum=0.9)
    group = {"params": [0], "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0}
    saved = torch.ones(3, dtype=torch.float64)
    optimizer.load_state_dict(
        {"state": {0: {"momentum_buffer": saved}}, "param_groups": [{**group, "nesterov": True}]}
    )
    buffer = optimizer.state[on_meta]["momentum_buffer"]
    assert (buffer.device.type, buffer.dtype) == ("meta", torch.float32)


def test_zero_grad_drops_the_gradients_and_a_step_skips_parameters_without_one():
    model = network()
    optimizer = NesterovSGD(groups(model), lr=0.1, momentum=0.9)
    train(model, optimizer, 1)
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    before = [p.clone() for p in model.parameters()]
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="momentum above 0"):
        NesterovSGD(groups(network()), lr=0.1, momentum=0.0)


@pytest.mark.child
def test_a_training_step_does_not_import_dynamo():
    # torch.optim's optimisers import it when their first group is added: a second a job
    code = (
        "import torch; from poolstudy.optim import NesterovSGD;"
        "w = torch.zeros(3, requires_grad=True);"
        "o = NesterovSGD([{'params': [w]}], lr=0.1, momentum=0.9);"
        "w.sum().backward(); o.step(); o.zero_grad()"
    )
    assert not imports_after(code, "torch._dynamo")
