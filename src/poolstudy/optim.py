"""Stochastic gradient descent with Nesterov momentum, computed as ``torch.optim.SGD`` does.

PyTorch's optimisers import Dynamo (about a second on the CPU) when their first parameter
group is added, a cost every training job would pay. ``NesterovSGD`` runs the tensor
operations of ``torch.optim.SGD(..., nesterov=True)`` in the same order (its per-parameter
loop on the CPU, its ``foreach`` operations elsewhere, as PyTorch chooses by default), so the
parameters it produces are bit-identical (tested against PyTorch's), and its state dict has
the same layout, without that import.
"""

from __future__ import annotations

import torch


class NesterovSGD:
    """SGD with Nesterov momentum over parameter groups (``{"params": [...], **options}``);
    ``lr``, ``momentum`` and ``weight_decay`` are defaults a group may override. Each step
    uses the groups' current ``lr`` (a schedule sets it), as PyTorch's optimisers do."""

    def __init__(
        self, groups: list[dict], lr: float, momentum: float, weight_decay: float = 0.0
    ) -> None:
        if momentum <= 0:
            raise ValueError(f"Nesterov momentum needs a momentum above 0, got {momentum}")
        # dampening stays in the groups for the state dict's layout; Nesterov momentum
        # needs it at 0, so the steps leave it out
        defaults = {"weight_decay": weight_decay, "lr": lr, "momentum": momentum, "dampening": 0.0}
        self.param_groups = [
            {**defaults, **group, "params": list(group["params"]), "nesterov": True}
            for group in groups
        ]
        self.state: dict[torch.Tensor, dict] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (PyTorch's ``set_to_none=True``)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if params[0].device.type == "cpu":
                self._step_each(params, group)
            else:
                self._step_foreach(params, group)

    def _step_each(self, params: list[torch.Tensor], group: dict) -> None:
        """``torch.optim.sgd._single_tensor_sgd``'s operations."""
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        for param in params:
            grad = param.grad
            if decay != 0:
                grad = grad.add(param, alpha=decay)
            state = self.state.setdefault(param, {})
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.detach().clone()
            else:
                buffer.mul_(momentum).add_(grad)
            grad = grad.add(buffer, alpha=momentum)
            param.add_(grad, alpha=-lr)

    def _step_foreach(self, params: list[torch.Tensor], group: dict) -> None:
        """``torch.optim.sgd._multi_tensor_sgd``'s operations (one device and dtype)."""
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        grads = [p.grad for p in params]
        if decay != 0:
            grads = torch._foreach_add(grads, params, alpha=decay)
        states = [self.state.setdefault(p, {}) for p in params]
        buffers = [state.get("momentum_buffer") for state in states]
        if all(buffer is not None for buffer in buffers):
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_add_(buffers, grads)
        else:
            for index, grad in enumerate(grads):
                if buffers[index] is None:
                    buffers[index] = states[index]["momentum_buffer"] = grad.detach().clone()
                else:
                    buffers[index].mul_(momentum).add_(grad)
        torch._foreach_add_(grads, buffers, alpha=momentum)
        torch._foreach_add_(params, grads, alpha=-lr)

    def state_dict(self) -> dict:
        """``torch.optim.Optimizer.state_dict``'s layout: parameters numbered in group order."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            numbers = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append({**group, "params": numbers})
        state = {index[id(param)]: dict(values) for param, values in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state dict of this optimiser or of ``torch.optim.SGD(nesterov=True)``
        over the same parameter groups: hyperparameters and momentum buffers (on each
        parameter's device and in its dtype, as PyTorch's optimisers move them)."""
        saved_groups = state_dict["param_groups"]
        sizes = [len(group["params"]) for group in self.param_groups]
        saved_sizes = [len(group["params"]) for group in saved_groups]
        if sizes != saved_sizes:
            raise ValueError(
                f"the optimiser state has parameter groups of sizes {saved_sizes}, this "
                f"optimiser {sizes}"
            )
        for saved in saved_groups:
            if not saved["nesterov"] or saved["dampening"] != 0:
                raise ValueError(
                    "the optimiser state is not Nesterov momentum without dampening: "
                    f"nesterov={saved['nesterov']}, dampening={saved['dampening']}"
                )
        by_index = {}
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            by_index.update(zip(saved["params"], group["params"], strict=True))
            group.update({key: value for key, value in saved.items() if key != "params"})
        self.state = {
            by_index[index]: {
                key: value.to(device=by_index[index].device, dtype=by_index[index].dtype).clone()
                for key, value in values.items()
            }
            for index, values in state_dict["state"].items()
        }
