"""Seeds whose files are current are kept when their cell's job runs again
(``poolstudy.reuse``, the ``train`` and ``evaluate`` commands): an added seed trains and
evaluates only itself, anything that could change a seed's files makes them again."""

from __future__ import annotations

import json

import pytest

from poolstudy import cli, reuse
from poolstudy.phases import module_path, phase_modules

MODEL_OPTIONS = {"widths": [4, 8], "operator_options": {}}
TRAIN_OPTIONS = {"epochs": 1, "batch_size": 16, "device": "cpu", "val_points": 1}
EVALUATE_OPTIONS = {"protocols": ["circular"], "max_shift": 1}


def maker(tmp_path, **arguments):
    source = tmp_path / "input.bin"
    if not source.exists():
        source.write_bytes(b"data")
    return reuse.made_by("train", {"seed": 0, **arguments}, [source], "code")


def test_files_are_current_only_as_their_receipt_says(tmp_path):
    outputs = [tmp_path / "a", tmp_path / "b"]
    for path in outputs:
        path.write_text(path.name)
    receipt = tmp_path / "receipt.json"
    made = maker(tmp_path, lr=0.1)
    assert not reuse.is_current(receipt, made, outputs)  # no receipt
    reuse.write_receipt(receipt, made, outputs)
    assert reuse.is_current(receipt, made, outputs)
    assert not reuse.is_current(receipt, maker(tmp_path, lr=0.2), outputs)  # another setting
    assert not reuse.is_current(receipt, made, outputs[:1])  # not the files it vouches for
    outputs[1].write_text("changed")
    assert not reuse.is_current(receipt, made, outputs)
    outputs[1].write_text("b")
    assert reuse.is_current(receipt, made, outputs)
    outputs[1].unlink()
    assert not reuse.is_current(receipt, made, outputs)
    for text in ("not json", "[1, 2]", json.dumps({"made_by": made, "outputs": [1]})):
        receipt.write_text(text)
        assert not reuse.is_current(receipt, made, outputs[:1])


def test_what_makes_a_seeds_files_names_its_inputs_by_their_bytes(tmp_path):
    made = maker(tmp_path, lr=0.1)
    assert made["inputs"] == {
        str(tmp_path / "input.bin"): reuse.file_sha256(tmp_path / "input.bin")
    }
    (tmp_path / "input.bin").write_bytes(b"other data")
    assert maker(tmp_path, lr=0.1) != made
    assert reuse.made_by("train", {"b": 1, "a": [1]}, [], "c") == reuse.made_by(
        "train", {"a": (1,), "b": 1}, [], "c"
    )  # as JSON: a tuple from the command line is the list of a receipt
    assert reuse.made_by("train", {}, [], "c") != reuse.made_by("train", {}, [], "d")


def test_the_code_hash_covers_every_module_the_phase_runs(monkeypatch, tmp_path):
    train = reuse.code_sha256("train")
    assert train == reuse.code_sha256("train") != reuse.code_sha256("evaluate")
    edited = module_path(phase_modules("train")[-1]).read_bytes() + b"\n# edited\n"
    copy = tmp_path / "edited.py"
    copy.write_bytes(edited)
    last = phase_modules("train")[-1]
    monkeypatch.setattr(
        reuse, "module_path", lambda name: copy if name == last else module_path(name)
    )
    assert reuse.code_sha256("train") != train


def train_command(data_path, tmp_path, seeds, *extra, train=TRAIN_OPTIONS):
    return ["train", "--data", str(data_path), "--operator", "max", "--seeds", *map(str, seeds),
            "--model", json.dumps(MODEL_OPTIONS), "--train", json.dumps(train),
            "--out-dir", *(str(tmp_path / "m" / str(seed)) for seed in seeds),
            "--threads", "1", *extra]  # fmt: skip


def trained(monkeypatch):
    """Record the seeds ``train_cell`` is asked to train, then train them."""
    import poolstudy.train

    calls, real = [], poolstudy.train.train_cell

    def train_cell(data, operator, seeds, *args, **kwargs):
        calls.append(list(seeds))
        return real(data, operator, seeds, *args, **kwargs, log=lambda _: None)

    monkeypatch.setattr(poolstudy.train, "train_cell", train_cell)
    return calls


def test_an_added_seed_trains_only_itself_and_a_changed_setting_trains_every_seed(
    data_path, tmp_path, monkeypatch, capsys
):
    calls = trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0, 1])) == 0
    before = {seed: (tmp_path / "m" / str(seed) / "model.pt").read_bytes() for seed in (0, 1)}
    assert cli.main(train_command(data_path, tmp_path, [0, 1, 2])) == 0
    out = capsys.readouterr().out
    assert calls == [[0, 1], [2]]
    assert f"max seed 0: current ({tmp_path / 'm' / '0' / 'receipt.json'}), kept" in out
    assert all((tmp_path / "m" / str(seed) / "model.pt").read_bytes() == before[seed]
               for seed in (0, 1))  # fmt: skip
    assert cli.main(train_command(data_path, tmp_path, [0, 1, 2])) == 0
    assert calls[-1] == [2]  # nothing to train: the command returns before training
    assert len(calls) == 2
    changed = {**TRAIN_OPTIONS, "lr": 0.05}
    assert cli.main(train_command(data_path, tmp_path, [0, 1], train=changed)) == 0
    assert calls[-1] == [0, 1] and len(calls) == 3


def test_a_seeds_changed_files_or_again_train_it_again(data_path, tmp_path, monkeypatch):
    calls = trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0, 1])) == 0
    (tmp_path / "m" / "1" / "history.csv").write_text("epoch\n")
    assert cli.main(train_command(data_path, tmp_path, [0, 1])) == 0
    assert calls[-1] == [1]
    assert cli.main(train_command(data_path, tmp_path, [0, 1], "--again")) == 0
    assert calls[-1] == [0, 1]


def test_a_seed_named_twice_is_refused(capsys, data_path, tmp_path):
    assert cli.main(train_command(data_path, tmp_path, [3, 3])) == 2
    assert capsys.readouterr().err == "poolstudy train: a seed named twice: --seeds 3 3\n"


def evaluate_command(data_path, tmp_path, seeds, *extra, evaluate=EVALUATE_OPTIONS):
    return ["evaluate", "--data", str(data_path),
            "--model", *(str(tmp_path / "m" / str(seed) / "model.pt") for seed in seeds),
            "--seeds", *map(str, seeds), "--evaluate", json.dumps(evaluate),
            "--experiment", "x", "--dataset", "synthetic", "--condition", "base",
            "--operator", "max", "--out", *(str(tmp_path / "e" / f"{seed}.csv") for seed in seeds),
            "--correct-out", *(str(tmp_path / "e" / f"{seed}.correct.npy") for seed in seeds),
            "--threads", "1", *extra]  # fmt: skip


def test_an_added_seed_is_evaluated_alone_and_a_retrained_model_again(
    data_path, tmp_path, monkeypatch, capsys
):
    import poolstudy.evaluate

    trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0, 1, 2])) == 0
    calls, real = [], poolstudy.evaluate.evaluate_cell

    def evaluate_cell(data, models, seeds, *args, **kwargs):
        calls.append(list(seeds))
        return real(data, models, seeds, *args, **kwargs, log=lambda _: None)

    monkeypatch.setattr(poolstudy.evaluate, "evaluate_cell", evaluate_cell)
    assert cli.main(evaluate_command(data_path, tmp_path, [0, 1])) == 0
    table = (tmp_path / "e" / "0.csv").read_bytes()
    assert cli.main(evaluate_command(data_path, tmp_path, [0, 1, 2])) == 0
    assert calls == [[0, 1], [2]]
    assert (tmp_path / "e" / "0.csv").read_bytes() == table
    receipt = tmp_path / "e" / "0.receipt.json"
    assert f"max seed 0: current ({receipt}), kept" in capsys.readouterr().out
    # seed 1 trained again with another setting: its model changed, so its tables are remade
    changed = {**TRAIN_OPTIONS, "lr": 0.05}
    assert cli.main(train_command(data_path, tmp_path, [1], train=changed)) == 0
    assert cli.main(evaluate_command(data_path, tmp_path, [0, 1, 2])) == 0
    assert calls[-1] == [1]
    other = {**EVALUATE_OPTIONS, "max_shift": 2}
    assert cli.main(evaluate_command(data_path, tmp_path, [0, 1, 2], evaluate=other)) == 0
    assert calls[-1] == [0, 1, 2]


def test_an_evaluation_needs_one_table_and_record_per_seed(capsys, data_path, tmp_path):
    command = evaluate_command(data_path, tmp_path, [0, 1])
    start = command.index("--out") + 1
    command[start : start + 2] = ["a.csv"]
    assert cli.main(command) == 2
    assert capsys.readouterr().err == (
        "poolstudy evaluate: 2 seeds but 1 --out tables and 2 --correct-out records\n"
    )


def writer(code: str, threads: int | None) -> str:
    return reuse.checkpoint_writer({"code": code, "arguments": {"threads": threads}})


@pytest.mark.parametrize(
    "marker", [None, "other code", "this code, other threads", "this code, its threads"]
)
def test_a_checkpoint_is_resumed_only_by_the_training_code_and_threads_that_wrote_it(
    data_path, tmp_path, monkeypatch, marker
):
    """A checkpoint holds no trace of the code or thread count that wrote it: resumed after an
    edit to the training code, or with another thread count on the CPU, it would finish a seed
    that its receipt then ascribes to the new code or count."""
    import poolstudy.train

    folder = tmp_path / "m" / "0"
    folder.mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"a checkpoint")
    code = reuse.code_sha256("train")
    marks = {
        "other code": writer("other code", 1),
        "this code, other threads": writer(code, 2),
        "this code, its threads": writer(code, 1),  # the command's --threads 1
    }
    if marker is not None:
        (folder / reuse.CHECKPOINT_WRITER).write_text(marks[marker])
    seen = []

    def train_cell(data, operator, seeds, *args, **kwargs):
        seen.append((folder / "checkpoint.pt").exists())
        assert (folder / reuse.CHECKPOINT_WRITER).read_text() == writer(code, 1)
        raise RuntimeError("stopped")  # as a failed run: the checkpoint and its mark stay

    monkeypatch.setattr(poolstudy.train, "train_cell", train_cell)
    with pytest.raises(RuntimeError, match="stopped"):
        cli.main(train_command(data_path, tmp_path, [0]))
    assert seen == [marker == "this code, its threads"]
    assert (folder / reuse.CHECKPOINT_WRITER).exists()


def test_a_seed_trained_on_the_cpu_with_another_thread_count_is_trained_again(
    data_path, tmp_path, monkeypatch
):
    """oneDNN sums a weight's gradient in per-thread parts, so the thread count is part of
    what makes a seed's bytes on the CPU; a command without ``--threads`` runs PyTorch's."""
    import torch

    calls = trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0])) == 0
    assert cli.main(train_command(data_path, tmp_path, [0])) == 0
    assert calls == [[0]]
    without_threads = train_command(data_path, tmp_path, [0])[:-2]
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert cli.main(without_threads) == 0
    assert calls == [[0]]  # PyTorch's count is the one it was trained with
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert cli.main(without_threads) == 0
    assert calls == [[0], [0]]
    receipt = json.loads((tmp_path / "m" / "0" / "receipt.json").read_text())
    assert receipt["made_by"]["arguments"]["threads"] == 2


def test_what_a_seeds_files_depend_on_names_the_cpus_thread_count_alone(monkeypatch):
    """On the CPU, oneDNN's weight gradients and PyTorch's large float means (the mean
    absolute change over every image and shift) sum in per-thread parts: the count is part of
    what makes a seed's files there, given (``--threads``) or PyTorch's own. On a GPU it is
    not."""
    import torch

    from poolstudy import device as devices

    monkeypatch.setattr(torch, "get_num_threads", lambda: 6)
    assert cli.device_arguments("cpu", 1) == {"device": "cpu", "threads": 1}
    assert cli.device_arguments("cpu", None) == {"device": "cpu", "threads": 6}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
    for claimed in (torch.device("cuda"), torch.device("cuda", 0), torch.device("cuda", 1)):
        # a seed made on one GPU is kept on another of the same model: which one a job
        # claims (one of a host's GPUs, or the only one) changes no byte
        monkeypatch.setattr(devices, "resolve_device", lambda name, claimed=claimed: claimed)
        assert cli.device_arguments("auto", 8) == {"device": "cuda (NVIDIA H100)"}
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100")
    assert cli.device_arguments("auto", 8) == {"device": "cuda (NVIDIA A100)"}


def test_a_seed_evaluated_on_the_cpu_with_another_thread_count_is_evaluated_again(
    data_path, tmp_path, monkeypatch
):
    import torch

    import poolstudy.evaluate

    trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0])) == 0
    calls, real = [], poolstudy.evaluate.evaluate_cell

    def evaluate_cell(data, models, seeds, *args, **kwargs):
        calls.append(list(seeds))
        return real(data, models, seeds, *args, **kwargs, log=lambda _: None)

    monkeypatch.setattr(poolstudy.evaluate, "evaluate_cell", evaluate_cell)
    command = evaluate_command(data_path, tmp_path, [0])
    assert cli.main(command) == 0
    assert cli.main(command) == 0
    assert calls == [[0]]
    threads = torch.get_num_threads()
    try:
        assert cli.main(command[:-1] + ["2"]) == 0  # --threads 2
    finally:
        torch.set_num_threads(threads)  # the process's count, for the tests after this one
    assert calls == [[0], [0]]
    receipt = json.loads((tmp_path / "e" / "0.receipt.json").read_text())
    assert receipt["made_by"]["arguments"]["threads"] == 2


def test_a_kept_seed_leaves_no_checkpoint_of_an_interrupted_run_beside_its_files(
    data_path, tmp_path, monkeypatch, capsys
):
    """A run of other settings, interrupted, then the settings put back: the seeds are current
    and kept, and their folders hold their finished runs alone (no checkpoint, no mark of
    its writer, no temporary file of one)."""
    from poolstudy.checkpoint import CHECKPOINT_NAME

    calls = trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0, 1])) == 0
    folders = [tmp_path / "m" / str(seed) for seed in (0, 1)]
    finished = {folder: sorted(p.name for p in folder.iterdir()) for folder in folders}
    for folder in folders:  # what a killed run of other settings leaves
        for name in (CHECKPOINT_NAME, reuse.CHECKPOINT_WRITER, f".{CHECKPOINT_NAME}.x.tmp.pt"):
            (folder / name).write_bytes(b"interrupted")
    assert cli.main(train_command(data_path, tmp_path, [0, 1])) == 0
    assert calls == [[0, 1]] and "seed 1: current" in capsys.readouterr().out
    assert {folder: sorted(p.name for p in folder.iterdir()) for folder in folders} == finished


def test_a_finished_cell_leaves_no_checkpoint_mark_and_its_receipt_names_the_device(
    data_path, tmp_path, monkeypatch
):
    trained(monkeypatch)
    assert cli.main(train_command(data_path, tmp_path, [0])) == 0
    folder = tmp_path / "m" / "0"
    assert not (folder / reuse.CHECKPOINT_WRITER).exists()
    receipt = json.loads((folder / "receipt.json").read_text())
    assert receipt["made_by"]["arguments"]["device"] == "cpu"
    assert receipt["made_by"]["arguments"]["threads"] == 1
    assert receipt["made_by"]["code"] == reuse.code_sha256("train")
