"""``python -m poolstudy <command>``: the entry points the Snakemake rules call."""

from __future__ import annotations

import argparse
import json
import math
import sys


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None


def section_arg(*section: str):
    """An argparse type: JSON of one part of the config (``section_arg("train")``: the
    config's ``train``), checked against that part's schema, so that a command run by hand
    with a misspelt key or a value the config would refuse stops with the reason."""

    def parse(text: str):
        from poolstudy.config import section_problems

        value = json_arg(text)
        if problems := section_problems(value, section):
            raise argparse.ArgumentTypeError("; ".join(problems))
        return value

    return parse


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def seed_arg(text: str) -> int:
    """A training seed, as the config's ``seeds`` allows it: a whole number from 0 that fits
    in 64 bits."""
    from poolstudy.config import INT64

    value = whole_number(text)
    if not 0 <= value < INT64:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**63 - 1, not {value}")
    return value


def count(text: str) -> int:
    """A number of things to do, none allowed: a whole number of at least 0."""
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return value


def positive_int(text: str) -> int:
    """A count of threads, jobs, repeats or steps: a whole number of at least 1."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds(text: str) -> float:
    """A duration: a finite number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be finite seconds >= 0, not {text}")
    return value


def cmd_check_config(args) -> int:
    from poolstudy.config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def check_registered(kind: str, name: str) -> None:
    """ConfigError, listing the registered names, where ``name`` is no registered ``kind``
    (operator, dataset): as a config naming it would be refused."""
    from poolstudy.config import ConfigError, registries

    if name not in (names := registries()[kind]):
        raise ConfigError(f"unknown {kind} {name!r}; registered: {', '.join(names)}")


def cmd_prepare(args) -> int:
    from poolstudy.data.prepare import SPLITS, prepare_dataset

    check_registered("dataset", args.dataset)
    prepared = prepare_dataset(
        args.dataset,
        args.out,
        raw_dir=args.raw_dir,
        mirror=args.mirror,
        split=args.split,
        options=args.options,
    )
    counts = prepared.split.bincount(minlength=len(SPLITS)).tolist()
    sizes = ", ".join(f"{name} {count}" for name, count in zip(SPLITS, counts, strict=True))
    print(f"{args.dataset}: {tuple(prepared.images.shape)} -> {args.out} ({sizes})")
    return 0


RUN_FILES = ("model.pt", "history.csv", "meta.json")
"""What training writes into each seed's folder."""
RECEIPT = "receipt.json"
"""Beside a seed's files: what made them (``poolstudy.reuse``)."""


def seeds_to_make(
    args, phase: str, seed_arguments, seed_inputs, outputs: dict, receipts: dict
) -> tuple[list[int], dict[int, dict]]:
    """The seeds of the command whose files are not current (all of them with ``--again``), and
    what makes each seed's files (``poolstudy.reuse``); says which seeds are kept."""
    from poolstudy import reuse
    from poolstudy.config import ConfigError

    if len(args.seeds) != len(set(args.seeds)):
        raise ConfigError(f"a seed named twice: --seeds {' '.join(map(str, args.seeds))}")
    code = reuse.code_sha256(phase)
    makers = {
        seed: reuse.made_by(phase, seed_arguments(seed), seed_inputs(seed), code)
        for seed in args.seeds
    }
    if args.again:
        return list(args.seeds), makers
    stale = reuse.stale_seeds(args.seeds, makers, receipts, outputs)
    for seed in args.seeds:
        if seed not in stale:
            print(f"{args.operator} seed {seed}: current ({receipts[seed]}), kept")
    return stale, makers


def device_arguments(device_setting: str, threads: int | None) -> dict:
    """What a seed's files depend on beyond the command's settings: the device the setting
    resolves to here, by kind (``device.device_kind``: a seed made on the CPU, or on a GPU of
    another model, is not kept; one made on another GPU of the same model is) and, on the
    CPU, the thread count
    (``threads``, else PyTorch's): oneDNN sums a weight's gradient, and PyTorch a large float
    mean (the mean absolute change over every image and shift), in per-thread parts, so
    another count gives other bytes."""
    import torch

    from poolstudy.device import device_kind, resolve_device

    device = resolve_device(device_setting)
    if device.type != "cpu":
        return {"device": device_kind(device)}
    return {"device": device_kind(device), "threads": threads or torch.get_num_threads()}


AGAIN_HELP = (
    "make every seed's files again, also those whose receipt says they are current (by "
    "default such seeds are kept)"
)


def cmd_train(args) -> int:
    from pathlib import Path

    from poolstudy import reuse
    from poolstudy.checkpoint import CHECKPOINT_NAME, remove_checkpoint
    from poolstudy.config import ConfigError
    from poolstudy.train import TrainConfig, train_cell

    check_registered("operator", args.operator)
    if len(args.seeds) != len(args.out_dir):
        raise ConfigError(f"{len(args.seeds)} seeds but {len(args.out_dir)} --out-dir folders")
    folders = {seed: Path(out) for seed, out in zip(args.seeds, args.out_dir, strict=True)}
    outputs = {seed: [folder / name for name in RUN_FILES] for seed, folder in folders.items()}
    receipts = {seed: folder / RECEIPT for seed, folder in folders.items()}
    arguments = {
        key: getattr(args, key) for key in ("operator", "condition", "model", "train", "placement")
    }
    # the device a setting of "auto" resolves to here: a seed trained on another is not kept
    arguments.update(device_arguments(TrainConfig.from_dict(args.train).device, args.threads))
    stale, makers = seeds_to_make(
        args,
        "train",
        lambda seed: {**arguments, "seed": seed},
        lambda seed: [args.data],
        outputs,
        receipts,
    )
    for seed in set(args.seeds) - set(stale):
        # a kept seed's folder holds its finished run alone: a checkpoint of an interrupted
        # run of other settings (settings then put back) is not part of it
        remove_checkpoint(folders[seed] / CHECKPOINT_NAME)
        (folders[seed] / reuse.CHECKPOINT_WRITER).unlink(missing_ok=True)
    if not stale:
        return 0
    writer = reuse.checkpoint_writer(makers[stale[0]])
    for seed in stale:
        # a checkpoint holds no trace of the code or thread count that wrote it: resumed by
        # others, it would make a seed that its receipt then ascribes to these
        if not reuse.checkpoint_writer_matches(folders[seed], writer):
            remove_checkpoint(folders[seed] / CHECKPOINT_NAME)
        reuse.mark_checkpoint_writer(folders[seed], writer)
    for result in train_cell(
        args.data,
        args.operator,
        stale,
        args.model,
        args.train,
        [folders[seed] for seed in stale],
        args.threads,
        condition=args.condition,
        placement_options=args.placement,
    ):
        meta = result.meta
        seed = meta["seed"]
        reuse.write_receipt(receipts[seed], makers[seed], outputs[seed])
        print(
            f"{args.operator} seed {seed}: {meta['parameters']:,} parameters, "
            f"{meta['wall_seconds']:.1f}s on {meta['device']}"
        )
    for seed in stale:  # train_cell removed their checkpoints
        (folders[seed] / reuse.CHECKPOINT_WRITER).unlink(missing_ok=True)
    return 0


def model_mismatches(model_paths, seeds, keys: dict) -> list[str]:
    """Where a model's run (its ``meta.json``, beside it) was trained on another dataset, with
    another operator or seed than the evaluation command names: its tables would be filed
    under the command's names."""
    from pathlib import Path

    if len(model_paths) != len(seeds):
        return [f"{len(model_paths)} models for {len(seeds)} seeds: give one model per seed"]
    problems = []
    for path, seed in zip(model_paths, seeds, strict=True):
        meta_path = Path(path).parent / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # no run's record to compare (loading the model checks the model)
        if not isinstance(meta, dict):
            continue
        named = {"dataset": keys["dataset"], "operator": keys["operator"], "seed": seed}
        if differ := [
            f"{key} {meta[key]!r}, not {value!r}"
            for key, value in named.items()
            if key in meta and meta[key] != value
        ]:
            problems.append(f"{path} was trained with {', '.join(differ)}")
    return problems


def cmd_evaluate(args) -> int:
    from pathlib import Path

    from poolstudy import reuse
    from poolstudy.config import ConfigError
    from poolstudy.evaluate import DEFAULTS as EVALUATE_DEFAULTS
    from poolstudy.evaluate import evaluate_cell

    check_registered("operator", args.operator)  # the dataset is a label: the data are --data
    keys = {
        "experiment": args.experiment,
        "dataset": args.dataset,
        "condition": args.condition,
        "operator": args.operator,
    }
    if problems := model_mismatches(args.model, args.seeds, keys):
        raise ConfigError("the models are not the cell named:\n  " + "\n  ".join(problems))
    corrects = args.correct_out or [None] * len(args.seeds)
    if not len(args.out) == len(corrects) == len(args.seeds):
        raise ConfigError(
            f"{len(args.seeds)} seeds but {len(args.out)} --out tables"
            + (f" and {len(corrects)} --correct-out records" if args.correct_out else "")
        )
    per_seed = {
        seed: (Path(model), Path(out), correct)
        for seed, model, out, correct in zip(
            args.seeds, args.model, args.out, corrects, strict=True
        )
    }
    outputs = {
        seed: [out] + ([Path(correct)] if correct else [])
        for seed, (_, out, correct) in per_seed.items()
    }
    receipts = {seed: out.with_suffix(".receipt.json") for seed, (_, out, _) in per_seed.items()}
    arguments = {
        **keys,
        "evaluate": args.evaluate,
        "placement": args.placement,
        "n_train": args.n_train,
        **device_arguments(args.evaluate.get("device", EVALUATE_DEFAULTS["device"]), args.threads),
    }

    def inputs(seed):
        model = per_seed[seed][0]
        meta = model.parent / "meta.json"
        return [args.data, model, *([meta] if meta.exists() else [])]

    stale, makers = seeds_to_make(
        args, "evaluate", lambda seed: {**arguments, "seed": seed}, inputs, outputs, receipts
    )
    if not stale:
        return 0
    evaluate_cell(
        args.data,
        [per_seed[seed][0] for seed in stale],
        stale,
        args.evaluate,
        args.placement,
        args.n_train,
        keys,
        [per_seed[seed][1] for seed in stale],
        [per_seed[seed][2] for seed in stale] if args.correct_out else None,
        args.threads,
    )
    for seed in stale:
        reuse.write_receipt(receipts[seed], makers[seed], outputs[seed])
    return 0


def cmd_analyze(args) -> int:
    from poolstudy.analyze import analyze
    from poolstudy.config import ConfigError

    if args.contrasts and args.margin is None:
        raise ConfigError("--contrasts needs --margin: the config's primary.margin")
    tables = analyze(
        args.evals,
        args.metas,
        args.experiment,
        args.out_dir,
        args.metrics,
        args.confidence,
        sweep_points=args.sweep,
        correct_paths=args.corrects,
        bootstrap_samples=args.bootstrap_samples,
        contrasts=args.contrasts,
        margin=args.margin,
        history_paths=args.histories,
        regime=args.regime,
    )
    print(f"{len(tables['observations'])} observations -> {args.out_dir}")
    return 0


def cmd_figures(args) -> int:
    from poolstudy.figures import make_figures

    for path in make_figures(args.tables, args.out_dir, args.settings, args.records):
        print(path)
    return 0


def cmd_paper(args) -> int:
    from poolstudy.paper import write_paper_inputs

    for path in write_paper_inputs(
        args.tables, args.out_dir, args.settings, args.figures, args.records
    ):
        print(path)
    return 0


def cmd_record(args) -> int:
    from poolstudy.paper.provenance import commit_of
    from poolstudy.record import RecordError, rehash_record, write_record

    given = [name for name in ("tables", "configfile") if getattr(args, name)]
    if args.code_only and given:
        raise RecordError(
            "--code-only keeps the record's tables and config: it takes no "
            + ", ".join(f"--{name}" for name in given)
        )
    if not args.code_only and len(given) < 2:
        raise RecordError(
            "record needs --tables and --configfile (a finished run's), or --code-only"
        )
    commit = args.commit
    if commit is None:
        head, dirty = commit_of()
        if head and dirty:
            print(f"note: the working tree differs from {head[:12]}; recording that commit")
        commit = head
    if args.code_only:
        out = rehash_record(args.out, commit)
        print(f"{out}: its tables kept, its code's hashes those of commit {commit}")
        return 0
    out = write_record(args.tables, args.configfile, args.out, commit)
    print(f"{args.tables} ({args.configfile}) recorded in {out}")
    return 0


def device_problem(name: str) -> str | None:
    """Why the device check cannot run on the device ``name`` (not a device's name, neither
    the CPU nor CUDA, CUDA without a GPU or without that GPU), or None."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as error:
        return str(error).splitlines()[0]
    if device.type not in ("cpu", "cuda"):
        return "the check runs on cpu or cuda"
    if device.type == "cuda" and not torch.cuda.is_available():
        return "torch sees no CUDA GPU here (torch.cuda.is_available() is False)"
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    if device.type == "cuda" and device.index is not None and device.index >= count:
        return f"torch sees {count} CUDA GPUs here (cuda:0 to cuda:{count - 1})"
    return None


BENCH_MODES = {
    "--pipeline": ("--keep", "--study", "--cores", "--against"),
    "--device": ("--steps", "--no-pipeline", "--out", "--time-limit", "--study-networks"),
    "--compiled": (),
    "--glyphs": (),
    "--precision": ("--networks",),
}
"""``bench``'s modes beside its default benchmarks, each with the options that belong to it
alone."""


def dest(option: str) -> str:
    """An option's attribute name: ``--no-pipeline`` -> ``no_pipeline``."""
    return option.lstrip("-").replace("-", "_")


def bench_mode_problem(args, defaults: dict) -> str | None:
    """Why ``bench``'s options do not make one command: two modes at once, or an option of a
    mode that is not chosen (it would be ignored). ``defaults``: the parser's defaults, to
    tell which options were given."""

    def given(option: str) -> bool:
        return getattr(args, dest(option)) != defaults[dest(option)]

    modes = [mode for mode in BENCH_MODES if given(mode)]
    if len(modes) > 1:
        return f"{', '.join(modes)}: separate benchmarks, give one of them"
    for mode, options in BENCH_MODES.items():
        if mode not in modes and (stray := [option for option in options if given(option)]):
            return f"{', '.join(stray)} only with {mode}"
    return None


def cmd_bench(args) -> int:
    from poolstudy import bench

    if problem := bench_mode_problem(args, args.bench_defaults):
        print(f"poolstudy bench: {problem}", file=sys.stderr)
        return 2
    if args.glyphs is not None:
        bench.bench_glyphs(args.glyphs)
        return 0
    if args.precision is not None:
        from poolstudy.precisioncheck import run_precision_check

        try:
            run_precision_check(args.precision, args.networks)
        except (ValueError, OSError) as error:
            print(f"poolstudy bench: {error}", file=sys.stderr)
            return 2
        return 0
    if args.device is not None:
        from poolstudy.devicebench import check_problems, run_device_check
        from poolstudy.tinyrun import stopped_by_sigterm

        if problem := device_problem(args.device):
            print(f"poolstudy bench: --device {args.device}: {problem}", file=sys.stderr)
            return 2
        with stopped_by_sigterm():
            report = run_device_check(
                args.device,
                args.operators,
                steps=args.steps,
                pipeline=not args.no_pipeline,
                out=args.out,
                time_limit=args.time_limit,
                networks=args.study_networks,
            )
        problems = check_problems(report)
        for problem in problems:
            print(f"poolstudy bench: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if args.compiled:
        from poolstudy.compiledbench import run_compiled_benchmarks

        run_compiled_benchmarks(args.config, args.operators, args.repeats, args.threads)
        return 0
    if args.pipeline:
        try:
            return bench.run_pipeline_benchmark(
                bench.REPO, args.cores, args.keep, args.against, args.study
            )
        except bench.BenchInputError as error:  # a study or revision that is not there
            print(f"poolstudy bench: {error}", file=sys.stderr)
            return 2
    bench.run_benchmarks(args.config, args.operators, args.repeats, args.threads)
    return 0


def cmd_estimate(args) -> int:
    from poolstudy import estimate
    from poolstudy.config import load_config

    try:
        machines = [estimate.gpu_rates(args.gpu)]
        check = estimate.read_check(args.gpu_check) if args.gpu_check else None
    except ValueError as error:
        print(f"poolstudy estimate: {error}", file=sys.stderr)
        return 2
    config = load_config(args.configfile)
    study = estimate.study_cost(config)
    if check is not None:
        machines.append(estimate.check_rates(check, source=args.gpu_check, study=study))
    if args.calibration_seconds > 0:
        cpu = estimate.calibrate_cpu(study, config, args.cores, args.calibration_seconds)
        machines.insert(0, cpu)
    report = estimate.build_report(args.configfile, study, machines)
    if args.json:
        print(estimate.report_json(report))
    else:
        print(estimate.format_report(report))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poolstudy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("config")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("prepare", help="download (if needed) and prepare one dataset")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True)
    p.add_argument(
        "--raw-dir",
        default=None,
        help="config['data']['raw_dir'] (default: the schema's), for a dataset that downloads",
    )
    p.add_argument("--mirror", default=None, help="config['data']['mirror'], likewise")
    p.add_argument("--split", type=section_arg("data", "split"), default={})
    p.add_argument("--options", type=section_arg("data", "options", "(dataset)"), default={})
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "train", help="train one operator with each seed (one cell), one seed after another"
    )
    p.add_argument("--data", required=True)
    p.add_argument("--operator", required=True)
    p.add_argument("--seeds", "--seed", type=seed_arg, nargs="+", required=True)
    p.add_argument("--condition", default="base", help="name of the training condition")
    p.add_argument("--model", type=section_arg("model"), default={})
    p.add_argument("--train", type=section_arg("train"), default={})
    p.add_argument(
        "--placement", type=section_arg("placement"), default={}, help="config['placement']"
    )
    p.add_argument("--out-dir", nargs="+", required=True, help="one folder per seed, in order")
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--again", action="store_true", help=AGAIN_HELP)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate", help="evaluate each seed's model of one cell on clean and shifted test sets"
    )
    p.add_argument("--data", required=True)
    p.add_argument("--model", nargs="+", required=True, help="one model file per seed")
    p.add_argument("--evaluate", type=section_arg("evaluate"), default={})
    p.add_argument("--experiment", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--condition", default="base")
    p.add_argument("--operator", required=True)
    p.add_argument("--seeds", "--seed", type=seed_arg, nargs="+", required=True)
    p.add_argument(
        "--placement", type=section_arg("placement"), default={}, help="config['placement']"
    )
    p.add_argument(
        "--n-train",
        type=section_arg("train", "n_train"),
        default=None,
        help="train.n_train of the run (null: all): training accuracy is measured on that subset",
    )
    p.add_argument("--out", nargs="+", required=True, help="one table per seed")
    p.add_argument(
        "--correct-out",
        nargs="+",
        default=None,
        help="also write, per clean test image, whether it was classified correctly (.npy)",
    )
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--again", action="store_true", help=AGAIN_HELP)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("analyze", help="aggregate evaluations over seeds into tidy tables")
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--metas", nargs="+", required=True)
    p.add_argument(
        "--corrects", nargs="*", default=None, help="per-image records, in the order of --evals"
    )
    p.add_argument(
        "--bootstrap-samples",
        type=section_arg("stats", "bootstrap_samples"),
        required=True,
        help="config['stats']['bootstrap_samples']",
    )
    p.add_argument("--experiment", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument(
        "--confidence",
        type=section_arg("stats", "confidence"),
        required=True,
        help="config['stats']['confidence']",
    )
    p.add_argument(
        "--sweep", type=json_arg, default={}, help="sweep condition -> {n_train, augment_shift}"
    )
    p.add_argument(
        "--contrasts", type=json_arg, default=[], help="plan.primary_contrasts of the config"
    )
    p.add_argument(
        "--margin",
        type=section_arg("primary", "margin"),
        default=None,
        help="primary.margin: the equivalence margin of --contrasts",
    )
    p.add_argument(
        "--histories", nargs="*", default=None, help="learning curves, in the order of --metas"
    )
    p.add_argument("--regime", type=json_arg, default={}, help="plan.primary_regime of the config")
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("figures", help="draw the figures from the tables")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument(
        "--settings", type=json_arg, default={}, help="figures.smk's figure_settings of the config"
    )
    p.add_argument(
        "--records",
        nargs="*",
        default=[],
        help="folders of recorded runs (paper/recorded/<name>): the quoted one's learning curves",
    )
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("paper", help="write the paper's generated LaTeX inputs")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--figures", required=True, help="figure folder, relative to paper/")
    p.add_argument("--settings", type=json_arg, default={})
    p.add_argument(
        "--records",
        nargs="*",
        default=[],
        help="folders of recorded runs to quote (paper/recorded/<name>)",
    )
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser(
        "record",
        help="keep a finished run's tables in paper/recorded/ for papers to quote "
        "(primary.recorded)",
    )
    p.add_argument("--tables", help="the run's results/tables")
    p.add_argument("--configfile", help="the config file the run ran")
    p.add_argument("--out", required=True, help="e.g. paper/recorded/convergence")
    p.add_argument(
        "--commit", default=None, help="the code's commit (default: the checked-out one)"
    )
    p.add_argument(
        "--code-only",
        action="store_true",
        help="keep the record in --out as it is but for its code: its commit and its "
        "modules' hashes become the checkout's (for a change of code its tables do not "
        "depend on, shown so by a study run before and after it)",
    )
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("bench", help="print throughput figures (or time the whole pipeline)")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--operators", nargs="+", default=None)
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument(
        "--pipeline",
        action="store_true",
        help="run the default study from scratch in a temporary copy and report "
        "its wall time and accuracies against the budgets",
    )
    p.add_argument(
        "--keep",
        default=None,
        help="with --pipeline: run in this new folder and keep it, instead of a temporary one",
    )
    p.add_argument(
        "--study",
        default=None,
        help="with --pipeline: run this config file (as config/config.yaml) instead of the "
        "default; with --against, both engines run it",
    )
    p.add_argument("--cores", default="all", help="with --pipeline: snakemake --cores")
    p.add_argument(
        "--against",
        default=None,
        metavar="REV",
        help="with --pipeline: also run the study with the engine of this git revision, back "
        "to back, and print the ratio of the wall times",
    )
    p.add_argument(
        "--device",
        default=None,
        help="the accelerator check on this device (cuda, cuda:1, cpu): a training step of "
        "every operator, solo vs concurrent seeds, MFU, peak memory, the engine's training loop "
        "and its host waits for the GPU, the tiny config end to end",
    )
    p.add_argument(
        "--compiled",
        action="store_true",
        help="the evaluation and training ratios of the goals with torch.compile's kernels "
        "(Inductor) beside the eager ones, on the CPU",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=20,
        help="with --device: timed steps (the engine loop's runs: ten times as many)",
    )
    p.add_argument("--no-pipeline", action="store_true", help="with --device: skip the tiny run")
    p.add_argument("--out", default=None, help="with --device: also write the figures as JSON")
    p.add_argument(
        "--study-networks",
        type=count,
        default=None,
        metavar="N",
        help="with --device: time this many of config/paper.yaml's networks, those with most "
        "training FLOPs, for estimate --gpu-check (default: as many as estimate times on the "
        "CPU, 12; 0: none, and the prediction prices every network at its operator's rates)",
    )
    p.add_argument(
        "--time-limit",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="with --device: stop the tiny run so that the check ends within this many seconds "
        "of its start (it gets what the parts before it left, less a reserve for the check of "
        "its networks; too little left: skipped); the parts before it are not limited",
    )
    p.add_argument(
        "--glyphs",
        type=positive_int,
        default=None,
        metavar="N",
        help="only time generating N images of the procedural glyphs dataset",
    )
    p.add_argument(
        "--precision",
        default=None,
        metavar="RUN",
        help="only compare the metrics of RUN's networks (a folder a study ran in) evaluated "
        "in bf16 autocast and in full precision (on the CPU, its bf16 standing in for CUDA's)",
    )
    p.add_argument(
        "--networks", type=positive_int, default=6, help="with --precision: networks compared"
    )
    mode_options = [option for mode, options in BENCH_MODES.items() for option in (mode, *options)]
    p.set_defaults(
        func=cmd_bench,
        bench_defaults={dest(option): p.get_default(dest(option)) for option in mode_options},
    )

    p = sub.add_parser(
        "estimate",
        help="print a study's jobs, FLOPs and predicted wall time (CPU and GPU) before running it",
    )
    p.add_argument("--configfile", required=True, help="the config, as for snakemake")
    p.add_argument(
        "--gpu", default="H100", help="GPU of the stored rates (poolstudy.estimate.GPU_RATES)"
    )
    p.add_argument(
        "--gpu-check",
        default=None,
        metavar="FILE",
        help="also predict with the rates a device check measured on a GPU "
        "(`python -m poolstudy bench --device cuda --out FILE`)",
    )
    p.add_argument(
        "--cores",
        type=positive_int,
        default=None,
        help="CPU jobs at once (default: os.cpu_count())",
    )
    p.add_argument(
        "--calibration-seconds",
        type=seconds,
        default=2.5,
        help="time each CPU measurement (training, evaluation) this long; 0: no CPU prediction",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_estimate)
    return parser


MISSING_OR_MISPLACED = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
"""The errors of a path that is not there, or not what the command takes (a folder for a
file): each names the path, which is the whole story."""


def expected_failure(error: BaseException) -> bool:
    """Errors whose message says what to do, so a traceback would only hide it: a config
    that cannot run, a dataset that cannot be had, a damaged file, a diverged run, a file or
    folder that is missing or is not what a path names (the error names it)."""
    from poolstudy.atomic import CorruptFile
    from poolstudy.config import ConfigError
    from poolstudy.data.base import DatasetUnavailable

    expected = [ConfigError, DatasetUnavailable, CorruptFile]
    train = sys.modules.get("poolstudy.train")  # imported only where training ran
    if train is not None:
        expected.append(train.TrainingDiverged)
    record = sys.modules.get("poolstudy.record")
    if record is not None:
        expected.append(record.RecordError)
    if isinstance(error, MISSING_OR_MISPLACED) and error.filename is not None:
        return True
    return isinstance(error, tuple(expected))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as error:  # one clear line for expected failures, a traceback otherwise
        if expected_failure(error):
            print(f"poolstudy {args.command}: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
