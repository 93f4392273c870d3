"""The device check (``python -m poolstudy bench --device cuda``), run on the CPU: each
operator's steps, the predicted study's networks, the engine loop, a job's start-up, the
prediction, the tiny run end to end (``tinyrun``) and the file ``estimate --gpu-check`` reads;
its time limit, its faults and what it says of them."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from conftest import imports_after

from poolstudy import device as devices
from poolstudy.models import ModelSpec, build_model, flop_counts

LOOP_FIGURES = {"images_per_s": 1.0, "over_bare_step": 1.0, "host_waits_per_step": None}
"""What a stand-in for the check's engine loop returns."""


def test_device_check_runs_on_the_cpu(capsys):
    from poolstudy import devicebench

    report = devicebench.run_device_check(
        "cpu", ["max", "none"], widths=(4, 8), image_size=16, batch=8, steps=2, pipeline=False,
        networks=0,
    )  # fmt: skip
    rows = {row["operator"]: row for row in report["operators"]}
    assert set(rows) == {"max", "none"}
    assert report["format"] == devicebench.CHECK_FORMAT == 3  # what `estimate --gpu-check` takes
    assert rows["none"]["forward_flops"] > rows["max"]["forward_flops"] > 0
    assert all(row["images_per_s"] > 0 and row["mfu"] is None for row in rows.values())
    for row in rows.values():
        assert row["eval_batch"] == devices.eval_batch_size(
            torch.device("cpu"), "auto", build_model(ModelSpec(
                operator=row["operator"], in_channels=3, num_classes=10, image_size=16,
                widths=(4, 8), convs_per_stage=2,
            ))
        )  # fmt: skip
        assert row["eval_tflops"] == pytest.approx(
            row["forward_flops"] * row["eval_images_per_s"] / 1e12
        )
    loop = report["engine_loop"]
    assert loop["operator"] == "max" and loop["host_waits_per_step"] is None  # nothing to wait for
    assert loop["augment_shift"] == devicebench.study_augment_shift()
    assert loop["images_per_s"] == pytest.approx(8 / loop["step_seconds"])
    assert loop["over_bare_step"] == pytest.approx(loop["step_seconds"] / loop["bare_step_seconds"])
    assert report["job_start_seconds"] > 0 and report["paper_hours"] > 0
    out = capsys.readouterr().out
    assert "max" in out and (
        f"the engine's training loop (max, batches shifted by up to {loop['augment_shift']} "
        "pixels, as config/paper.yaml trains)" in out
    )
    assert f"config/paper.yaml predicted at these rates: {report['paper_hours']:.2f} h" in out
    assert report["networks"] == [] and "networks of config/paper.yaml" not in out


def tiny_as_predicted_study(monkeypatch) -> Path:
    """The tiny config in place of config/paper.yaml as the study whose networks the device
    check times (their steps take milliseconds on the CPU), each for a moment."""
    from poolstudy import devicebench

    tiny = devicebench.REPO / "tests" / "data" / "tiny.yaml"
    monkeypatch.setattr(devicebench, "PREDICTED_STUDY", tiny)
    monkeypatch.setattr(devicebench, "NETWORK_SECONDS", 0.01)
    return tiny


def test_the_device_check_times_the_predicted_studys_heaviest_networks(
    monkeypatch, tmp_path, capsys
):
    from poolstudy import devicebench
    from poolstudy.config import load_config
    from poolstudy.estimate import (
        check_rates,
        networks_by_weight,
        read_check,
        spec_key,
        study_cost,
    )
    from poolstudy.estimate.cost import TRAIN_FACTOR, forward_flops, training_pass_flops
    from poolstudy.inference import fold_batchnorm
    from poolstudy.plan import condition_settings

    config = load_config(tiny_as_predicted_study(monkeypatch))
    out = tmp_path / "check.json"
    timed, saved = devicebench.study_network, []

    def study_network(*args):  # what the file holds as each network starts
        saved.append(len(json.loads(out.read_text()).get("networks", [])))
        return timed(*args)

    monkeypatch.setattr(devicebench, "study_network", study_network)
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False,
        out=str(out), networks=2,
    )  # fmt: skip
    heaviest = networks_by_weight(study_cost(config))[:2]
    rows = report["networks"]
    assert [row["network"] for row in rows] == [spec_key(cost.spec) for cost in heaviest]
    cpu = torch.device("cpu")
    for row, cost in zip(rows, heaviest, strict=True):
        settings = condition_settings(config, cost.cell.condition)
        cell = (cost.spec.operator, cost.cell.dataset, cost.cell.condition)
        assert (row["operator"], row["dataset"], row["condition"]) == cell
        assert row["batch"] == settings["train"]["batch_size"]
        folded = fold_batchnorm(build_model(cost.spec).eval())
        assert row["eval_batch"] == devices.eval_batch_size(
            cpu, settings["evaluate"]["batch_size"], folded
        )
        # in the FLOPs that `estimate` counts for the network's jobs
        assert row["train_tflops"] == pytest.approx(
            TRAIN_FACTOR * training_pass_flops(cost.spec) * row["images_per_s"] / 1e12
        )
        assert row["eval_tflops"] == pytest.approx(
            forward_flops(cost.spec) * row["eval_images_per_s"] / 1e12
        )
    assert json.loads(out.read_text())["networks"] == rows and saved == [0, 1]
    # what estimate --gpu-check reads from the file (as if a GPU's) prices them at their rates
    out.write_text(json.dumps(json.loads(out.read_text()) | {"device": "cuda:0"}))
    rates = check_rates(read_check(out))
    assert rates.for_network(heaviest[0].spec) == (
        rows[0]["train_tflops"] * 1e12,
        rows[0]["eval_tflops"] * 1e12,
    )
    printed = capsys.readouterr().out
    assert "the 2 networks of tests/data/tiny.yaml with most training FLOPs" in printed
    spec = heaviest[1].spec
    assert (
        f"  {spec.operator} ({heaviest[1].cell.dataset}/{heaviest[1].cell.condition}, "
        f"{spec.image_size}px, widths {'/'.join(map(str, spec.widths))}): training "
        f"{rows[1]['images_per_s']:.0f} img/s at batch {rows[1]['batch']}"
    ) in printed


def test_a_study_network_is_timed_in_the_flops_that_its_jobs_are_priced_at():
    """Training at one pass per image, evaluation at every test-time draw: fractional max
    pooling with three draws makes them differ. The evaluation runs at the condition's batch."""
    from types import SimpleNamespace

    from poolstudy import devicebench
    from poolstudy.estimate import Cell
    from poolstudy.estimate.cost import TRAIN_FACTOR

    spec = ModelSpec(operator="fracmax", in_channels=1, num_classes=3, image_size=8, widths=(2,),
                     operator_options={"test_draws": 3})  # fmt: skip
    one_pass, every_draw = flop_counts(build_model(spec))[1], flop_counts(build_model(spec))[0]
    assert every_draw > one_pass
    cost = SimpleNamespace(spec=spec, cell=Cell("digits", "gap", "fracmax", (0,)))
    settings = {"train": {"batch_size": 4}, "evaluate": {"batch_size": 48}}
    row = devicebench.study_network(cost, settings, torch.device("cpu"), 0.0)
    assert (row["batch"], row["eval_batch"]) == (4, 48)
    assert row["train_tflops"] == pytest.approx(
        TRAIN_FACTOR * one_pass * row["images_per_s"] / 1e12
    )
    assert row["eval_tflops"] == pytest.approx(every_draw * row["eval_images_per_s"] / 1e12)
    assert (row["operator"], row["dataset"], row["condition"]) == ("fracmax", "digits", "gap")


def test_calls_are_timed_after_their_warm_up_and_until_the_gpu_is_done(monkeypatch):
    from poolstudy import devicebench

    events, clock = [], [0.0]

    def call():
        events.append("call")
        clock[0] += 0.25

    monkeypatch.setattr(devicebench, "synchronize", lambda device: events.append("wait"))
    monkeypatch.setattr(devicebench.time, "perf_counter", lambda: clock[0])
    rate = devicebench.calls_per_second(call, 1.0, torch.device("cpu"))
    # two warm-up calls, the queue drained, then calls until a second has passed, drained again
    assert events == ["call", "call", "wait", "call", "call", "call", "call", "wait"]
    assert rate == pytest.approx(4 / 1.0)
    events.clear()
    devicebench.calls_per_second(call, 0.0, torch.device("cpu"))
    assert events.count("call") == 4  # at least two timed calls


def test_the_device_check_times_as_many_networks_as_estimate_calibrates_by_default(monkeypatch):
    from poolstudy import devicebench
    from poolstudy.estimate.calibrate import CALIBRATED_NETWORKS

    asked = []
    monkeypatch.setattr(devicebench, "predicted_networks", lambda count: asked.append(count) or [])
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False
    )
    assert asked == [CALIBRATED_NETWORKS] and report["networks"] == []


def test_a_network_that_fails_is_recorded_and_the_others_are_timed(monkeypatch, tmp_path):
    from poolstudy import devicebench
    from poolstudy.estimate import CheckError, read_check, spec_key

    tiny_as_predicted_study(monkeypatch)
    timed = devicebench.study_network

    def study_network(cost, settings, device, seconds):
        if not calls:
            calls.append(cost)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return timed(cost, settings, device, seconds)

    calls = []
    monkeypatch.setattr(devicebench, "study_network", study_network)
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False,
        out=str(out), networks=2,
    )  # fmt: skip
    (failed,) = report["errors"]
    spec = calls[0].spec
    assert failed == (
        f"network {spec.operator} ({calls[0].cell.dataset}/{calls[0].cell.condition}, "
        f"{spec.image_size}px, widths {'/'.join(map(str, spec.widths))})"
    )
    (row,) = report["networks"]
    assert row["network"] != spec_key(spec) and row["condition"]
    assert "paper_hours" not in report  # no prediction from part of the study's networks
    assert devicebench.check_problems(report) == [f"{failed} failed"]
    # the file keeps what was timed, and `estimate --gpu-check` refuses it (as if from a GPU)
    check = json.loads(out.read_text()) | {"device": "cuda:0"}
    assert check["networks"] == [row]
    out.write_text(json.dumps(check))
    with pytest.raises(CheckError, match="the check failed for some operators or networks"):
        read_check(out)


def test_a_predicted_study_that_cannot_be_read_fails_the_networks_part(monkeypatch, tmp_path):
    from poolstudy import devicebench
    from poolstudy.config import ConfigError, load_config

    broken = tmp_path / "paper.yaml"
    broken.write_text("datasets: [glyphs\n")
    read = devicebench.predicted_networks
    monkeypatch.setattr(devicebench, "predicted_networks", lambda count: read(count, broken))
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, pipeline=False, networks=2
    )
    assert "networks" not in report and "paper_hours" not in report
    with pytest.raises(ConfigError) as refused:
        load_config(broken)
    assert report["errors"]["networks"].strip().endswith(str(refused.value))


def test_the_engine_loops_time_is_the_median_of_its_pairs_of_runs(monkeypatch):
    """One pair of runs whose set-up stalled (a difference of 99 s) does not decide the loop's
    time per step: the median of the pairs' differences does."""
    from poolstudy import devicebench

    clock = [0.0]
    durations = iter([1.0, 100.0, 1.0, 2.0, 1.0, 2.5])  # (steps, 2 * steps) per pair

    def host_waits(function, device):
        clock[0] += next(durations)
        return None

    monkeypatch.setattr(devicebench.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(devicebench, "host_waits", host_waits)
    monkeypatch.setattr(devicebench, "time_steps", lambda trainees, steps, concurrent: 0.5)
    import poolstudy.train

    monkeypatch.setattr(poolstudy.train, "train_model", lambda *args, **kwargs: None)
    assert devicebench.LOOP_PAIRS == 3
    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8, widths=(4,))
    loop = devicebench.engine_loop(spec, 4, 10, torch.device("cpu"), 0)
    assert loop["step_seconds"] == pytest.approx(1.5 / 10)
    assert loop["bare_step_seconds"] == pytest.approx(0.5 / 10)


def test_the_device_check_trains_with_the_predicted_studys_shift_augmentation(tmp_path):
    import yaml

    from poolstudy import devicebench

    study = yaml.safe_load(devicebench.PREDICTED_STUDY.read_text())
    assert devicebench.study_augment_shift() == study["train"]["augment_shift"]
    study["train"]["augment_shift"] = 3
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    assert devicebench.study_augment_shift(path) == 3


def test_what_the_device_check_writes_is_what_estimate_reads(tmp_path):
    """The check's file, as a GPU's run would write it, gives ``estimate`` its rates."""
    from poolstudy.devicebench import run_device_check
    from poolstudy.estimate import check_rates, read_check

    out = tmp_path / "check.json"
    run_device_check("cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2,
                     pipeline=False, out=str(out), networks=0)  # fmt: skip
    check = json.loads(out.read_text())
    row = check["operators"][0]
    out.write_text(json.dumps(check | {"device": "cuda:0", "device_name": "NVIDIA H200"}))
    rates = check_rates(read_check(out))
    assert rates.name == "H200 measured"
    assert rates.per_operator == {"max": (row["train_tflops"] * 1e12, row["eval_tflops"] * 1e12)}


def test_the_device_check_without_pandas_keeps_its_steps_and_says_what_it_skipped(
    monkeypatch, capsys, tmp_path
):
    from poolstudy import devicebench
    from poolstudy.estimate import CheckError, read_check

    monkeypatch.setattr(devicebench, "missing_modules", lambda: ["pandas"])
    monkeypatch.setattr(devicebench, "engine_loop", None)  # not called
    monkeypatch.setattr(devicebench, "time_study_networks", None)
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2, pipeline=False, out=str(out)
    )
    skipped = {"skipped": "needs pandas: install them (README.md)"}
    assert report["engine_loop"] == report["networks"] == skipped
    assert "job_start_seconds" not in report and "paper_hours" not in report
    assert report["operators"][0]["images_per_s"] > 0
    assert (
        "the study's networks, the engine's training loop, a job's start-up, the prediction: "
        "skipped (needs pandas"
    ) in capsys.readouterr().out
    assert devicebench.check_problems(report) == [
        f"networks skipped: {skipped['skipped']}",
        f"engine_loop skipped: {skipped['skipped']}",
    ]
    # the file says so (saved without the tiny run too), and estimate gives that reason
    out.write_text(json.dumps(json.loads(out.read_text()) | {"device": "cuda:0"}))
    with pytest.raises(CheckError) as refused:
        read_check(out)
    assert str(refused.value) == (
        f"{out}: the check did not time the study's networks ({skipped['skipped']})"
    )


def test_a_failing_stage_of_the_device_check_is_recorded_and_the_check_goes_on(
    monkeypatch, tmp_path, capsys
):
    """One fault does not cost the GPU's minutes of the parts after it; the figures so far
    are in the file and the command exits with 1."""
    from poolstudy import cli, devicebench

    def broken(*args):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(devicebench, "engine_loop", broken)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 2.0)
    monkeypatch.setattr(devicebench, "predicted_hours", None)  # not without the loop's figures
    out = tmp_path / "check.json"
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=2, pipeline=False, out=str(out),
        networks=0,
    )  # fmt: skip
    assert "engine_loop" not in report and report["job_start_seconds"] == 2.0
    assert (
        report["errors"]["engine_loop"]
        .strip()
        .endswith("RuntimeError: CUDA error: an illegal memory access was encountered")
    )
    assert json.loads(out.read_text()) == report
    assert devicebench.check_problems(report) == ["engine_loop failed"]
    assert "engine_loop: FAILED" in capsys.readouterr().out
    monkeypatch.setattr(devicebench, "run_device_check", lambda *args, **kwargs: report)
    assert cli.main(["bench", "--device", "cpu", "--no-pipeline"]) == 1
    assert capsys.readouterr().err == "poolstudy bench: engine_loop failed\n"


def test_the_tiny_run_gets_what_the_time_limit_leaves_after_a_reserve():
    from poolstudy.tinyrun import MIN_TINY_S, PRECISION_RESERVE_S, TINY_TIMEOUT_S, tiny_timeout

    assert tiny_timeout(None, 10_000.0) == TINY_TIMEOUT_S
    assert tiny_timeout(2_000.0, 100.0) == TINY_TIMEOUT_S
    assert tiny_timeout(400.0, 100.0) == 300.0 - PRECISION_RESERVE_S
    just = 100.0 + PRECISION_RESERVE_S + MIN_TINY_S
    assert tiny_timeout(just, 100.0) == MIN_TINY_S
    assert tiny_timeout(just - 0.5, 100.0) is None


@pytest.mark.parametrize("time_limit", [1.0, 3_600.0])
def test_the_device_check_keeps_to_its_time_limit(monkeypatch, time_limit, capsys):
    """A check that must end within its limit gives the tiny run what is left (less the
    reserve for checking its networks), or skips it, saying so, where too little is."""
    from poolstudy import devicebench, tinyrun

    given = []
    monkeypatch.setattr(devicebench, "engine_loop", lambda *args: LOOP_FIGURES)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    monkeypatch.setattr(devicebench, "predicted_hours", lambda report: 1.0)
    monkeypatch.setattr(
        devicebench,
        "run_tiny_pipeline",
        lambda device, timeout: given.append(timeout) or {"skipped": "stand-in"},
    )
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, time_limit=time_limit,
        networks=0,
    )  # fmt: skip
    if time_limit == 1.0:
        assert given == []
        skipped = report["tiny_pipeline"]["skipped"]
        assert skipped.endswith(" s left of the time limit, 120 s needed")  # run and its check
        assert f"tiny_pipeline skipped: {skipped}" in devicebench.check_problems(report)
        assert f"tiny config end to end: skipped ({skipped})" in capsys.readouterr().out
    else:
        assert given == [tinyrun.TINY_TIMEOUT_S]


def test_the_device_check_command_passes_its_time_limit_and_stops_on_sigterm(monkeypatch):
    import signal

    from poolstudy import cli, devicebench, tinyrun

    calls = []

    def run_device_check(*args, **kwargs):
        calls.append((kwargs["time_limit"], signal.getsignal(signal.SIGTERM)))
        return {}

    monkeypatch.setattr(devicebench, "run_device_check", run_device_check)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["bench", "--device", "cpu", "--time-limit", "500"]) == 0
    assert calls == [(500.0, tinyrun._exit_on_sigterm)]
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_device_check_command_times_the_study_networks_it_is_told(monkeypatch, capsys):
    from poolstudy import cli, devicebench

    asked = []
    monkeypatch.setattr(
        devicebench, "run_device_check", lambda *a, **k: asked.append(k["networks"]) or {}
    )
    assert cli.main(["bench", "--device", "cpu"]) == 0
    assert cli.main(["bench", "--device", "cpu", "--study-networks", "0"]) == 0
    assert cli.main(["bench", "--device", "cpu", "--study-networks", "3"]) == 0
    assert asked == [None, 0, 3]  # None: run_device_check's default, estimate's count
    with pytest.raises(SystemExit):
        cli.main(["bench", "--device", "cpu", "--study-networks", "-1"])
    refused = "argument --study-networks: must be at least 0, not -1\n"
    assert capsys.readouterr().err.endswith(refused)
    assert cli.main(["bench", "--study-networks", "2"]) == 2
    assert capsys.readouterr().err == "poolstudy bench: --study-networks only with --device\n"


def test_sigterm_stops_the_tiny_runs_jobs_with_the_check(tmp_path):
    """``timeout`` or a scheduler ends the check with SIGTERM: its running tiny run is stopped
    with every process it started (their own session would outlive the check otherwise)."""
    import signal
    import threading

    from poolstudy.tinyrun import run_within, stopped_by_sigterm

    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; sleep 60"
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, stopped_by_sigterm():
        run_within(["sh", "-c", script], tmp_path, dict(os.environ), timeout=30)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    child = Path(f"/proc/{int(pids.read_text())}/stat")
    for _ in range(50):  # killed at once; gone once reaped (a zombie until then)
        try:
            if child.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the tiny run's job {child.parent.name} outlived the check")


def test_a_module_that_is_found_but_cannot_be_imported_is_missing(tmp_path, monkeypatch):
    from poolstudy import devicebench

    (tmp_path / "broken_extension.py").write_text("import a_compiled_part_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert devicebench.missing_modules(("json", "broken_extension", "no_such_module")) == [
        "broken_extension",
        "no_such_module",
    ]


def test_the_device_check_times_each_operator_with_the_predicted_studys_options(monkeypatch):
    from poolstudy import devicebench

    specs = []
    monkeypatch.setattr(devicebench, "bench_operator", lambda spec, *args: specs.append(spec))
    monkeypatch.setattr(devicebench, "missing_modules", lambda: ["pandas"])
    devicebench.run_device_check("cpu", ["fracmax", "max"], widths=(4,), image_size=8, batch=4,
                                 steps=1, pipeline=False, networks=0)  # fmt: skip
    options = devicebench.study_operator_options()
    assert options["fracmax"]  # config/paper.yaml sets fractional pooling's own
    assert [spec.operator_options for spec in specs] == [options["fracmax"], {}]


def test_an_operator_that_fails_is_recorded_and_the_others_are_measured_and_kept(
    monkeypatch, tmp_path, capsys
):
    """An operator's fault (out of memory, a kernel the device lacks) costs its own row only:
    the rows before it are in the file when it fails, and the ones after it are measured."""
    from poolstudy import devicebench

    out = tmp_path / "check.json"
    measure = devicebench.bench_operator

    def bench_operator(spec, *args):
        if spec.operator == "stride":
            assert [row["operator"] for row in json.loads(out.read_text())["operators"]] == ["max"]
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return measure(spec, *args)

    monkeypatch.setattr(devicebench, "bench_operator", bench_operator)
    monkeypatch.setattr(devicebench, "engine_loop", lambda *args: LOOP_FIGURES)
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    report = devicebench.run_device_check(
        "cpu", ["max", "stride", "none"], widths=(4,), image_size=8, batch=4, steps=1,
        pipeline=False, out=str(out), networks=0,
    )  # fmt: skip
    assert [row["operator"] for row in report["operators"]] == ["max", "none"]
    assert list(report["errors"]) == ["operator stride"]
    assert (
        report["errors"]["operator stride"]
        .strip()
        .endswith("OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")
    )
    assert json.loads(out.read_text()) == report
    assert "paper_hours" not in report  # not predicted from a part of the operators
    assert devicebench.check_problems(report) == ["operator stride failed"]
    assert "operator stride: FAILED" in capsys.readouterr().out


def test_the_check_times_the_engine_loop_over_more_steps_than_the_bare_step(monkeypatch):
    from poolstudy import devicebench

    calls = []
    monkeypatch.setattr(
        devicebench,
        "engine_loop",
        lambda spec, batch, steps, device, augment_shift: calls.append(steps) or LOOP_FIGURES,
    )
    monkeypatch.setattr(devicebench, "job_start_seconds", lambda device: 1.0)
    monkeypatch.setattr(devicebench, "predicted_hours", lambda report: 1.0)
    devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=3, pipeline=False, networks=0
    )
    assert calls == [devicebench.LOOP_STEPS * 3] and devicebench.LOOP_STEPS > 1


def test_a_check_does_not_pass_where_a_part_failed_was_stopped_or_was_skipped():
    from poolstudy.devicebench import check_failed, check_problems

    assert check_problems({"operators": []}) == []
    assert check_problems({"tiny_pipeline": {"returncode": 0}}) == []
    assert not check_failed({"tiny_pipeline": {"returncode": 0, "precision": {}}})
    assert check_problems({"tiny_pipeline": {"returncode": 2}}) == ["the tiny run exited with 2"]
    assert check_problems(
        {"tiny_pipeline": {"returncode": -9, "timed_out": "stopped after 9 s"}}
    ) == [
        "the tiny run exited with -9",
        "the tiny run was stopped after 9 s",
    ]
    assert check_problems({"errors": {"paper_hours": "Traceback", "operator max": "T"}}) == [
        "paper_hours failed",
        "operator max failed",
    ]
    assert check_problems(
        {
            "engine_loop": {"skipped": "needs pandas"},
            "tiny_pipeline": {"skipped": "no snakemake here"},
        }
    ) == ["engine_loop skipped: needs pandas", "tiny_pipeline skipped: no snakemake here"]
    assert check_problems({"networks": {"skipped": "needs jsonschema"}, "engine_loop": {}}) == [
        "networks skipped: needs jsonschema"
    ]
    assert check_problems({"networks": [{"network": "x"}]}) == []  # timed: a list
    assert check_failed({"tiny_pipeline": {"skipped": "no snakemake here"}})


def test_cublas_workspace_is_set_before_the_checks_first_matrix_product(monkeypatch):
    """cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` once, at a process's first matrix product
    (the first operator's training): set only by the evaluation settings later, its
    deterministic products would never hold in the check."""
    from poolstudy import devicebench

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []

    def bench_operator(*args):
        seen.append(os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(devicebench, "bench_operator", bench_operator)
    monkeypatch.setattr(devicebench, "missing_modules", lambda: ["stop"])  # no later stages
    devicebench.run_device_check("cpu", ["max"], pipeline=False)
    assert seen == [":4096:8"]
    # a value the user set is kept
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    devicebench.run_device_check("cpu", ["max"], pipeline=False)
    assert seen == [":4096:8", ":16:8"]


def test_evaluation_is_timed_in_the_evaluation_jobs_settings_and_they_are_put_back(monkeypatch):
    """``evaluate_cell`` runs deterministic (on CUDA: no cuDNN benchmarking); the check's
    training does not, and gets its settings back after each evaluation."""
    from poolstudy import devicebench

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    cuda = torch.device("cuda")
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
        torch.backends.cudnn.benchmark,
    )
    try:
        torch._C._set_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True
        torch.utils.deterministic.fill_uninitialized_memory = True
        with devicebench.evaluation_settings(cuda):
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.is_deterministic_algorithms_warn_only_enabled()
            assert not torch.backends.cudnn.benchmark
            assert not torch.utils.deterministic.fill_uninitialized_memory
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert not torch.are_deterministic_algorithms_enabled()
        assert (
            torch.backends.cudnn.benchmark and torch.utils.deterministic.fill_uninitialized_memory
        )
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        torch._C._set_deterministic_algorithms(True, warn_only=True)
        with pytest.raises(RuntimeError, match="kept"):
            with devicebench.evaluation_settings(torch.device("cpu")):
                assert not torch.is_deterministic_algorithms_warn_only_enabled()
                raise RuntimeError("kept")
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"

        seen = []
        batch_size = devicebench.devices.eval_batch_size

        def eval_batch_size(*args):
            seen.append(torch.are_deterministic_algorithms_enabled())
            return batch_size(*args)

        monkeypatch.setattr(devicebench.devices, "eval_batch_size", eval_batch_size)
        torch._C._set_deterministic_algorithms(False)
        spec = ModelSpec(operator="max", in_channels=1, num_classes=3, image_size=8, widths=[2])
        devicebench.eval_throughput(spec, 0.0, torch.device("cpu"))
        assert seen == [True] and not torch.are_deterministic_algorithms_enabled()
    finally:
        enabled, warn_only, fill, benchmark = before
        torch._C._set_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.backends.cudnn.benchmark = benchmark


@pytest.mark.child
def test_a_command_past_its_time_is_stopped_with_the_processes_it_started(tmp_path):
    from poolstudy.tinyrun import run_within

    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        f"open({str(marker)!r}, 'w').write(str(child.pid)); "
        "print('started', flush=True); time.sleep(120)"
    )
    start = time.monotonic()
    returncode, output, stopped = run_within([sys.executable, "-c", code], tmp_path, {}, 5.0)
    assert stopped and returncode == -9 and output == "started\n"
    assert time.monotonic() - start < 60
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{grandchild}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # killed: gone once the init process reaps it
    with contextlib.suppress(FileNotFoundError):  # reaped while it is read: gone
        state = Path(f"/proc/{grandchild}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "Z"  # killed, not yet reaped by the init process
    assert run_within(
        [sys.executable, "-c", "import sys; print('out'); sys.exit(3)"], tmp_path, {}, 30.0
    ) == (3, "out\n", False)


def test_the_device_checks_operators_need_no_pandas():
    assert not imports_after("import poolstudy.devicebench", "pandas")


def test_a_jobs_start_up_is_timed_in_a_new_process_on_the_device(monkeypatch):
    from poolstudy import devicebench

    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append((command, check)))
    assert devicebench.job_start_seconds(torch.device("cuda", 1)) >= 0
    [(command, check)] = commands
    assert check and command[:2] == [sys.executable, "-c"]
    assert command[2].startswith("import poolstudy.evaluate, jsonschema; import torch;")
    assert "torch.ones(1, device='cuda:1').sum().item()" in command[2]


def test_the_engine_loop_of_the_check_trains_as_the_predicted_study_does(monkeypatch):
    """Not deterministic where ``config/paper.yaml`` is not, the shifts it is given, one
    validation, pairs of runs of ``steps`` and twice as many, after a warm-up."""
    import yaml

    import poolstudy.train
    from poolstudy import devicebench

    configs = []

    def fake_train(data, options, operator, seed, config, log):
        configs.append(config)

    monkeypatch.setattr(poolstudy.train, "train_model", fake_train)
    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8, widths=(4,))
    devicebench.engine_loop(spec, batch=4, steps=3, device=torch.device("cpu"), augment_shift=3)
    paper = yaml.safe_load(devicebench.PREDICTED_STUDY.read_text())
    assert [config.steps for config in configs] == [2] + [3, 6] * devicebench.LOOP_PAIRS
    for config in configs:
        assert config.deterministic == paper["train"]["deterministic"]
        assert config.augment_shift == 3 and config.val_points == 1 and config.batch_size == 4


def test_host_waits_are_counted_from_pytorchs_sync_debug_warnings(monkeypatch):
    from poolstudy import devicebench

    modes = []
    monkeypatch.setattr(torch.cuda, "get_sync_debug_mode", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)

    def work():
        for _ in range(2):  # the same warning twice: both count
            warnings.warn(devicebench.SYNC_WARNING, stacklevel=1)
        warnings.warn("something else", stacklevel=1)

    assert devicebench.host_waits(work, torch.device("cuda")) == 2
    assert modes == ["warn", 0]  # the mode it found, restored


def test_host_waits_are_not_counted_off_a_gpu():
    from poolstudy import devicebench

    ran = []
    assert devicebench.host_waits(lambda: ran.append(1), torch.device("cpu")) is None
    assert ran == [1]


def test_the_engines_random_dataset_has_the_networks_shape_and_splits():
    from poolstudy.devicebench import random_dataset

    spec = ModelSpec(operator="max", in_channels=3, num_classes=10, image_size=8)
    data = random_dataset(12, spec, n_val=5)
    assert data.subset("train")[0].shape == (12, 3, 8, 8)
    assert data.subset("val")[0].shape == (5, 3, 8, 8)
    assert data.num_classes == 10 and 0 <= data.labels.min() <= data.labels.max() < 10


@pytest.mark.child
def test_the_device_checks_tiny_pipeline_plans_the_tiny_config_alone(tmp_path):
    """A dry run of the GPU check's command in a copy of the project plans the tiny study
    only (the project's own config/config.yaml is not merged into it)."""
    from poolstudy.tinyrun import tiny_config_on, tiny_pipeline_command
    from poolstudy.workspace import copy_sources

    project = copy_sources(tmp_path / "project")
    config = tiny_config_on(torch.device("cpu"), tmp_path / "tiny.yaml")

    def planned(*targets: str) -> str:
        command = tiny_pipeline_command(sys.executable, "1", config, targets)
        result = subprocess.run(
            [*command, "--dry-run", "--quiet", "rules"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    everything = planned()
    assert "glyphs" not in everything  # the default's primary dataset
    assert {"train_main", "paper"} <= set(everything.split())
    rules = planned("paper_inputs").split()  # without LaTeX: every job but the PDF's
    assert "paper_inputs" in rules and "paper" not in rules and "train_main" in rules


def test_the_device_checks_tiny_run_shares_one_gpu_between_a_few_jobs(monkeypatch):
    """On a GPU the tiny run's jobs (a few hundred MB each) run ``TINY_GPU_JOBS`` at a time,
    not one at a time as the workflow's default would; on the CPU nothing is added."""
    from poolstudy import tinyrun

    commands = []

    def fake_run(command, cwd, env, timeout):
        commands.append(command)
        return 0, "", False

    monkeypatch.setattr(tinyrun, "run_within", fake_run)
    on_gpu = tinyrun.run_tiny_pipeline(torch.device("cuda"))
    on_cpu = tinyrun.run_tiny_pipeline(torch.device("cpu"))
    assert on_gpu["gpu_jobs"] == tinyrun.TINY_GPU_JOBS > 1 and on_cpu["gpu_jobs"] == 0
    gpu, cpu = commands
    at = gpu.index("--resources")
    assert gpu[at + 1] == f"gpu={tinyrun.TINY_GPU_JOBS}"
    assert "--resources" not in cpu
    without = gpu[:at] + gpu[at + 2 :]
    config = cpu.index("--configfile") + 1  # each run's own temporary config file
    assert without[:config] + without[config + 1 :] == cpu[:config] + cpu[config + 1 :]


def test_the_device_checks_tiny_pipeline_stops_before_the_pdf_without_latex(monkeypatch):
    from poolstudy import tinyrun

    monkeypatch.setattr(tinyrun.shutil, "which", {"latexmk": "/usr/bin/latexmk"}.get)
    assert tinyrun.tiny_pipeline_targets() == ()
    monkeypatch.setattr(tinyrun.shutil, "which", {}.get)
    assert tinyrun.tiny_pipeline_targets() == ("paper_inputs",)


def test_the_device_check_skips_the_pipeline_without_snakemake_and_keeps_its_figures(
    monkeypatch, tmp_path, capsys
):
    from poolstudy import devicebench, tinyrun

    found = tinyrun.importlib.util.find_spec
    monkeypatch.setattr(
        tinyrun.importlib.util,
        "find_spec",
        lambda name: None if name == "snakemake" else found(name),
    )
    assert tinyrun.run_tiny_pipeline(torch.device("cpu")) == {
        "skipped": f"{sys.executable} cannot import snakemake: install it (README.md)"
    }
    out = tmp_path / "check.json"

    def pipeline(device, timeout):
        written = json.loads(out.read_text())  # the operators' figures, before the pipeline
        assert [row["operator"] for row in written["operators"]] == ["max"]
        return {"skipped": "no snakemake here"}

    monkeypatch.setattr(devicebench, "run_tiny_pipeline", pipeline)
    report = devicebench.run_device_check(
        "cpu", ["max"], widths=(4,), image_size=8, batch=4, steps=1, out=str(out), networks=0
    )
    assert report["tiny_pipeline"] == {"skipped": "no snakemake here"}
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert "tiny config end to end: skipped (no snakemake here)" in capsys.readouterr().out


def test_the_device_checks_python_runs_this_interpreter_in_its_environment(tmp_path):
    from poolstudy.tinyrun import python_shim

    shim = python_shim(tmp_path / "bin")
    for name in ("python", "python3"):
        code = "import sys, poolstudy; print(sys.prefix)"
        out = subprocess.run([shim / name, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip() == sys.prefix, out.stderr


def test_the_device_checks_python_runs_an_interpreter_whose_path_the_shell_would_read(tmp_path):
    from poolstudy.tinyrun import python_shim

    odd = tmp_path / 'a "$HOME" `x` dir'
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    shim = python_shim(tmp_path / "bin", str(odd / "python"))
    out = subprocess.run([shim / "python", "-c", "print('ran')"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "ran\n", out.stderr


def test_the_device_checks_tiny_pipeline_finds_python_first_on_its_path(monkeypatch):
    """The rules call ``python``, which a GPU machine may lack (``python3`` alone)."""
    from poolstudy import tinyrun

    seen = {}

    def fake_run(command, cwd, env, timeout):
        seen["python"] = shutil.which("python", path=env["PATH"])
        seen["script"] = Path(seen["python"]).read_text()
        seen["snakemake"] = shutil.which("snakemake", path=env["PATH"])
        return 0, "", False

    monkeypatch.setattr(tinyrun, "run_within", fake_run)
    report = tinyrun.run_tiny_pipeline(torch.device("cpu"))
    assert report["returncode"] == 0 and report["runs"] == 0
    assert seen["script"] == f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n'
    assert Path(seen["snakemake"]).parent == Path(sys.executable).parent


def test_the_device_check_fails_when_its_tiny_pipeline_fails(monkeypatch):
    from poolstudy import cli, devicebench

    for tiny, code in (({"returncode": 3}, 1), ({"returncode": 0}, 0), ({"skipped": "x"}, 1)):
        monkeypatch.setattr(
            devicebench, "run_device_check", lambda *a, tiny=tiny, **k: {"tiny_pipeline": tiny}
        )
        assert cli.main(["bench", "--device", "cpu"]) == code
    monkeypatch.setattr(devicebench, "run_device_check", lambda *a, **k: {"operators": []})
    assert cli.main(["bench", "--device", "cpu", "--no-pipeline"]) == 0


def test_the_device_check_warms_up_each_way_of_training_the_seeds(monkeypatch):
    from poolstudy import devicebench

    calls = []
    monkeypatch.setattr(
        devicebench,
        "time_steps",
        lambda trainees, steps, concurrent: calls.append((len(trainees), steps, concurrent)) or 1,
    )
    spec = ModelSpec(operator="max", in_channels=1, num_classes=3, image_size=8, widths=[2])
    row = devicebench.bench_operator(spec, 2, 5, 3, torch.device("cpu"))
    assert calls == [(1, 2, False), (1, 5, False), (3, 2, True), (3, 2, False), (3, 5, False)] + [
        (3, 5, True)
    ]
    assert row["images_per_s"] == 5 * 2 and row["concurrency_speedup"] == 1


def test_peak_flops_by_device_name():
    from poolstudy.devicebench import peak_flops

    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12 and peak_flops("NVIDIA H100 NVL") == 835e12
    assert peak_flops("NVIDIA H200") == 989e12 and peak_flops("NVIDIA H200 NVL") == 835e12
    assert peak_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert peak_flops("cpu") is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("cpu", None),
        ("bogus", "Expected one of cpu, cuda"),
        ("cuda", "torch sees no CUDA GPU here (torch.cuda.is_available() is False)"),
    ],
)
def test_the_device_check_refuses_a_device_torch_cannot_run_on(monkeypatch, capsys, name, problem):
    from poolstudy import cli, devicebench

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    found = cli.device_problem(name)
    assert found == problem if problem is None else found.startswith(problem)
    if problem is not None:
        monkeypatch.setattr(devicebench, "run_device_check", None)  # not reached
        assert cli.main(["bench", "--device", name]) == 2
        assert capsys.readouterr().err.startswith(f"poolstudy bench: --device {name}: {problem}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert cli.device_problem("cuda:1") is None and cli.device_problem("cuda") is None
    assert cli.device_problem("cuda:2") == "torch sees 2 CUDA GPUs here (cuda:0 to cuda:1)"
    assert cli.device_problem("meta") == "the check runs on cpu or cuda"
    assert cli.device_problem("cpu:0") is None


@pytest.mark.child
def test_an_interrupted_check_stops_the_command_it_was_waiting_for(monkeypatch, tmp_path):
    """The command runs in a session of its own, which the terminal's Ctrl-C does not reach."""
    from poolstudy import tinyrun

    started = []

    class Interrupted(subprocess.Popen):
        def communicate(self, input=None, timeout=None):
            started.append(self)
            raise KeyboardInterrupt

    monkeypatch.setattr(tinyrun.subprocess, "Popen", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        tinyrun.run_within(
            [sys.executable, "-c", "import time; time.sleep(120)"], tmp_path, {}, 60.0
        )
    [process] = started
    assert process.wait(timeout=30) == -9


@pytest.mark.parametrize("fails", [False, True])
def test_guarded_frees_the_gpus_cache_after_every_part(monkeypatch, capsys, fails):
    from poolstudy import devicebench

    freed = []
    monkeypatch.setattr(devicebench.torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(devicebench.torch.cuda, "empty_cache", lambda: freed.append(1))

    def part():
        if fails:
            raise RuntimeError("out of memory")
        return {"images_per_second": 5.0}

    report = {}
    result = devicebench.guarded(report, "tiny", part)
    assert freed == [1]
    if fails:
        assert result is None and "RuntimeError: out of memory" in report["errors"]["tiny"]
        assert "tiny: FAILED" in capsys.readouterr().out
    else:
        assert result == {"images_per_second": 5.0} and report == {}
