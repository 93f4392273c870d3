"""The compiled-kernels benchmark (``bench --compiled``): its plumbing with Dynamo's
``eager`` backend (no code generation, seconds), its agreement check, and its training loop.
The figures themselves come from Inductor, which ``make bench``'s reader runs by hand."""

from __future__ import annotations

import torch

from poolstudy import cli, compiledbench
from poolstudy.models import ModelSpec, build_model
from poolstudy.train import TrainConfig

TINY = "tests/data/tiny.yaml"


def test_the_compiled_benchmark_prints_both_ratios_of_each_network(capsys):
    rows = compiledbench.run_compiled_benchmarks(TINY, ["none", "max"], 1, 1, backend="eager")
    printed = capsys.readouterr().out
    assert [row["operator"] for row in rows] == ["none", "max"]
    # none keeps its full resolution, max pools: each is held to its own training goal
    assert [row["train_goal"] for row in rows] == [1.2, 2.0]
    for row in rows:
        for key in ("eval_eager", "eval_compiled", "train_eager", "train_compiled", "train_bf16"):
            assert 0 < row[key] < 100
        line = next(x for x in printed.splitlines() if x.startswith(row["operator"] + " "))
        assert f"{row['eval_compiled']:.2f}x" in line and f"{row['train_compiled']:.2f}x" in line
        assert line.split()[6] == f"{row['train_bf16']:.2f}x"  # the column after compiled
    assert "PyTorch's compiler (eager)" in printed


def test_a_compiled_network_that_counts_other_hits_is_refused(monkeypatch):
    from poolstudy.bench import benchmark_setup

    config, _, data = benchmark_setup(TINY, 1)

    class Wrong(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return -self.model(x)

    monkeypatch.setattr(compiledbench, "compiled", lambda model, backend: Wrong(model))
    try:
        compiledbench.bench_compiled_evaluation(config, data, "max", 1, "eager")
    except RuntimeError as error:
        assert str(error).startswith("the compiled network counts tensor([")
    else:
        raise AssertionError("a network with other outputs passed the agreement check")


def test_the_training_steps_go_through_the_data_batch_by_batch_after_a_warm_up():
    spec = ModelSpec(operator="max", in_channels=1, num_classes=3, image_size=6, widths=[2])
    network = build_model(spec)
    seen = []
    network.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0][:, 0, 0, 0]))
    images = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1).expand(10, 1, 6, 6)
    before = [p.detach().clone() for p in network.parameters()]
    train = TrainConfig.from_dict({"device": "cpu", "batch_size": 4})
    labels = torch.zeros(10, dtype=torch.long)
    seconds = compiledbench.step_seconds(network, images, labels, train, 3, torch.channels_last)
    assert seconds > 0
    # two whole batches of 4 in 10 images: warm-up on the first, then the second, first, ...
    assert [batch.tolist() for batch in seen] == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2
    assert any(not torch.equal(a, b) for a, b in zip(before, network.parameters(), strict=True))


def test_inductor_freezes_the_weights_of_an_evaluated_network_only(monkeypatch):
    import torch._inductor.config as inductor_config

    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or model)
    monkeypatch.setattr(inductor_config, "freezing", False)
    network = torch.nn.Linear(2, 2)
    compiledbench.compiled(network.eval(), "inductor")
    assert inductor_config.freezing is True
    compiledbench.compiled(network.train(), "inductor")
    assert inductor_config.freezing is False
    compiledbench.compiled(network.eval(), "eager")
    assert inductor_config.freezing is False  # another backend's settings are not touched
    assert calls == [{"backend": b, "dynamic": False} for b in ("inductor", "inductor", "eager")]


def test_the_command_line_runs_the_compiled_benchmark(monkeypatch):
    seen = []
    monkeypatch.setattr(
        compiledbench, "run_compiled_benchmarks", lambda *args: seen.append(args) or []
    )
    assert cli.main(["bench", "--compiled", "--operators", "max", "--repeats", "2"]) == 0
    assert seen == [("config/config.yaml", ["max"], 2, None)]


def test_the_training_variants_differ_in_layout_compilation_and_precision_only(monkeypatch):
    from poolstudy.bench import benchmark_setup

    config, _, data = benchmark_setup(TINY, 1)
    seen = []

    def record(model, images, labels, train, steps, memory_format):
        weight = [p for p in model.parameters() if p.dim() == 4][-1]  # more than one input channel
        seen.append(
            (
                memory_format,
                weight.is_contiguous(memory_format=torch.channels_last),
                type(model).__name__,
                torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None,
                next(model.parameters()).sum().item(),
            )
        )
        return 0.5

    monkeypatch.setattr(compiledbench, "step_seconds", record)
    monkeypatch.setattr(compiledbench, "compiled", lambda model, backend: model)
    times = compiledbench.bench_compiled_training(config, data, "max", 3, "eager")
    assert times == {"nchw": 0.5, "channels_last": 0.5, "compiled": 0.5, "bf16": 0.5}
    cl, nchw = torch.channels_last, torch.contiguous_format
    assert [row[:4] for row in seen] == [
        (nchw, False, "PoolNet", None),
        (cl, True, "PoolNet", None),
        (cl, True, "PoolNet", None),
        (cl, True, "PoolNet", torch.bfloat16),
    ]
    assert len({row[4] for row in seen}) == 1  # the same initial weights
