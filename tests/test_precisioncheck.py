"""The check of what the evaluation's reduced precision (bf16 autocast on CUDA) does to the
metrics: on the CPU it is exercised with the CPU's own bf16 autocast."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from poolstudy import device as devices
from poolstudy import precisioncheck
from poolstudy.data.prepare import PreparedDataset, save_prepared
from poolstudy.models import ModelSpec, build_model
from poolstudy.run_files import TrainResult, save_run

CPU = torch.device("cpu")


def bf16(device):
    return torch.autocast("cpu", dtype=torch.bfloat16)


def dataset(name: str = "letters", n: int = 96, size: int = 12) -> PreparedDataset:
    generator = torch.Generator().manual_seed(1)
    return PreparedDataset(
        name=name,
        images=torch.randint(0, 256, (n, 1, size, size), generator=generator, dtype=torch.uint8),
        labels=torch.randint(0, 4, (n,), generator=generator),
        split=torch.arange(n) % 3,  # train, val, test in turn
        classes=["a", "b", "c", "d"],
    )


def save_network(models, name: str, seed: int, canvas=None, data_name: str = "letters"):
    torch.manual_seed(seed)
    spec = ModelSpec(
        operator="max", in_channels=1, num_classes=4, image_size=canvas or 12, widths=(4, 8)
    )
    folder = models / name / str(seed)
    folder.mkdir(parents=True)
    meta = {"dataset": data_name, "seed": seed, "n_train": None, "placement": {"canvas": canvas}}
    result = TrainResult(build_model(spec).eval(), pd.DataFrame({"step": [1]}), meta, {})
    save_run(result, folder / "model.pt", folder / "history.csv", folder / "meta.json")


@pytest.fixture
def project(tmp_path):
    save_prepared(dataset(), tmp_path / "data" / "letters.pt")
    models = tmp_path / "models"
    for seed in range(3):
        save_network(models, "gap", seed)
    save_network(models, "placed", 0, canvas=20)  # evaluated only on its canvas: left out
    return tmp_path


def test_on_the_cpu_the_evaluation_is_in_full_precision_so_nothing_moves(project):
    effect = precisioncheck.precision_effect(project / "models", project / "data", CPU)
    assert effect["networks"] == 3
    assert set(effect["largest"]) == set(effect["mean"]) == set(precisioncheck.METRICS)
    assert all(value == 0 for value in effect["largest"].values())


def test_a_reduced_precision_moves_the_outputs_and_its_differences_are_reported(
    project, monkeypatch
):
    rounded, exact = [], []

    def metrics_of(path, meta, data, device):
        values = precisioncheck.METRICS
        # which precision is in force while this network is evaluated
        outputs = build_model(
            ModelSpec(operator="max", in_channels=1, num_classes=4, image_size=12, widths=(4,))
        ).eval()
        with devices.autocast(device):
            dtype = outputs(torch.rand(2, 1, 12, 12)).dtype
        (rounded if dtype == torch.bfloat16 else exact).append(path.parent.name)
        shift = 1.0 if dtype == torch.bfloat16 else 0.0
        return {m: k + shift * (int(path.parent.name) + 1) for k, m in enumerate(values)}

    original = devices.autocast
    monkeypatch.setattr(precisioncheck, "metrics_of", metrics_of)
    effect = precisioncheck.precision_effect(
        project / "models", project / "data", CPU, networks=2, reduced=bf16
    )
    assert rounded == exact == ["0", "1"]  # each network once in each precision, in order
    assert effect["networks"] == 2
    assert effect["largest"] == dict.fromkeys(precisioncheck.METRICS, 2.0)
    assert effect["mean"] == dict.fromkeys(precisioncheck.METRICS, 1.5)
    assert devices.autocast is original  # put back


def test_the_real_metrics_differ_under_bf16(project):
    effect = precisioncheck.precision_effect(
        project / "models", project / "data", CPU, reduced=bf16
    )
    assert effect["networks"] == 3
    assert any(value != 0 for value in effect["largest"].values())
    line = precisioncheck.describe(effect)
    assert line.startswith("reduced-precision evaluation minus full precision, 3 networks")
    assert f"mean_abs_change {effect['largest']['mean_abs_change']:+.3f}" in line


def test_the_largest_difference_keeps_its_sign():
    effect = {
        "networks": 2,
        "largest": dict.fromkeys(precisioncheck.METRICS, -0.5),
        "mean": dict.fromkeys(precisioncheck.METRICS, 0.25),
    }
    assert "accuracy_test -0.500 (mean +0.250)" in precisioncheck.describe(effect)


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # the autocast object is enough
def test_full_precision_turns_tf32_off_and_puts_it_back():
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with precisioncheck.full_precision():
            assert not torch.backends.cudnn.allow_tf32
            assert not torch.backends.cuda.matmul.allow_tf32
            assert devices.autocast(torch.device("cuda")).__class__.__name__ == "nullcontext"
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        assert isinstance(devices.autocast(torch.device("cuda")), torch.autocast)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = False


def test_no_network_to_check_is_an_error(tmp_path):
    save_network(tmp_path / "models", "placed", 0, canvas=20)
    with pytest.raises(ValueError, match="no trained network without a placement canvas"):
        precisioncheck.precision_effect(tmp_path / "models", tmp_path, CPU)


def test_a_failing_precision_check_is_recorded_and_fails_the_device_check(tmp_path):
    from poolstudy import devicebench, tinyrun

    (tmp_path / "models").mkdir()
    result = tinyrun.evaluation_precision(tmp_path, CPU)
    assert "no trained network" in result["precision_error"]
    assert devicebench.check_problems({"tiny_pipeline": {"returncode": 0, **result}}) == [
        "the check of evaluation precision failed"
    ]


def test_the_command_compares_a_finished_runs_networks(project, monkeypatch, capsys):
    from poolstudy import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    (project / "data" / "prepared").mkdir()
    (project / "data" / "letters.pt").rename(project / "data" / "prepared" / "letters.pt")
    assert cli.main(["bench", "--precision", str(project), "--networks", "2"]) == 0
    out = capsys.readouterr().out
    assert "minus full precision, 2 networks" in out
    assert "1/2 gap/0: accuracy_test " in out and "2/2 gap/1: " in out  # progress
    assert "the CPU's bf16 autocast, standing in for CUDA's" in out


def test_the_command_names_a_folder_without_models(tmp_path, capsys):
    from poolstudy import cli

    assert cli.main(["bench", "--precision", str(tmp_path)]) == 2
    assert "holds no models/ folder" in capsys.readouterr().err


def test_full_precision_puts_everything_back_when_the_evaluation_fails():
    original = devices.autocast
    torch.backends.cudnn.allow_tf32 = True
    with pytest.raises(RuntimeError, match="broken"), precisioncheck.full_precision():
        raise RuntimeError("broken")
    assert devices.autocast is original and torch.backends.cudnn.allow_tf32


def test_the_command_names_a_missing_dataset_in_one_line(project, capsys):
    from poolstudy import cli

    code = cli.main(["bench", "--precision", str(project), "--networks", "1"])
    assert code == 2  # the run folder's data/prepared/ is missing
    err = capsys.readouterr().err
    assert err.startswith("poolstudy bench: ") and "letters.pt" in err
