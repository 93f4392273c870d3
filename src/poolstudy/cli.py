"""``python -m poolstudy <command>``: the entry points the Snakemake rules call."""

from __future__ import annotations

import argparse
import json
import sys


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None


def cmd_check_config(args) -> int:
    from poolstudy.config import load_config

    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def cmd_prepare(args) -> int:
    from poolstudy.data.prepare import SPLITS, prepare_dataset

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


def cmd_train(args) -> int:
    from poolstudy.train import run_training

    result = run_training(
        args.data,
        args.operator,
        args.seed,
        args.model,
        args.train,
        args.out_dir,
        args.threads,
        condition=args.condition,
        placement_options=args.placement,
    )
    meta = result.meta
    print(
        f"{args.operator} seed {args.seed}: {meta['parameters']:,} parameters, "
        f"{meta['wall_seconds']:.1f}s on {meta['device']}"
    )
    return 0


def cmd_evaluate(args) -> int:
    from poolstudy import device as devices
    from poolstudy.atomic import write_csv, write_npy
    from poolstudy.data.prepare import load_prepared
    from poolstudy.evaluate import EvalConfig, evaluate_model
    from poolstudy.placement import PlacementConfig
    from poolstudy.train import load_model

    config = EvalConfig.from_dict(args.evaluate)
    device = devices.resolve_device(args.evaluate.get("device", "auto"))
    devices.configure(device, args.threads, deterministic=True)
    result = evaluate_model(
        load_model(args.model, device),
        load_prepared(args.data),
        config,
        device,
        placement=PlacementConfig.from_dict(args.placement),
        n_train=args.n_train,
        seed=args.seed,
    )
    frame = result.table
    keys = {
        "experiment": args.experiment,
        "dataset": args.dataset,
        "condition": args.condition,
        "operator": args.operator,
        "seed": args.seed,
    }
    frame = frame.assign(**keys)[[*keys, *frame.columns]]
    write_csv(args.out, frame)
    if args.correct_out:
        write_npy(args.correct_out, result.test_correct.numpy().astype("uint8"))
    test = frame.loc[frame["metric"] == "accuracy_test", "value"].iloc[0]
    print(f"{args.dataset}/{args.operator}/{args.seed}: test accuracy {test:.2f}% -> {args.out}")
    return 0


def cmd_analyze(args) -> int:
    from poolstudy.analyze import analyze

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
    )
    print(f"{len(tables['observations'])} observations -> {args.out_dir}")
    return 0


def cmd_figures(args) -> int:
    from poolstudy.figures import make_figures

    for path in make_figures(args.tables, args.out_dir):
        print(path)
    return 0


def cmd_paper(args) -> int:
    from poolstudy.paper import write_paper_inputs

    for path in write_paper_inputs(args.tables, args.out_dir, args.settings, args.figures):
        print(path)
    return 0


def cmd_bench(args) -> int:
    from poolstudy import bench

    if args.glyphs is not None:
        bench.bench_glyphs(args.glyphs)
        return 0
    if args.pipeline:
        return bench.run_pipeline_benchmark(bench.REPO, args.cores, args.keep)
    bench.run_benchmarks(args.config, args.operators, args.repeats, args.threads)
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
    p.add_argument("--raw-dir", default="data/raw")
    p.add_argument("--mirror", default=None)
    p.add_argument("--split", type=json_arg, default={})
    p.add_argument("--options", type=json_arg, default={})
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train one operator with one seed")
    p.add_argument("--data", required=True)
    p.add_argument("--operator", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--condition", default="base", help="name of the training condition")
    p.add_argument("--model", type=json_arg, default={})
    p.add_argument("--train", type=json_arg, default={})
    p.add_argument("--placement", type=json_arg, default={}, help="config['placement']")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate one model on clean and shifted test sets")
    p.add_argument("--data", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--evaluate", type=json_arg, default={})
    p.add_argument("--experiment", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--condition", default="base")
    p.add_argument("--operator", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--placement", type=json_arg, default={}, help="config['placement']")
    p.add_argument(
        "--n-train",
        type=json_arg,
        default=None,
        help="train.n_train of the run (null: all): training accuracy is measured on that subset",
    )
    p.add_argument("--out", required=True)
    p.add_argument(
        "--correct-out",
        default=None,
        help="also write, per clean test image, whether it was classified correctly (.npy)",
    )
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("analyze", help="aggregate evaluations over seeds into tidy tables")
    p.add_argument("--evals", nargs="+", required=True)
    p.add_argument("--metas", nargs="+", required=True)
    p.add_argument(
        "--corrects", nargs="*", default=None, help="per-image records, in the order of --evals"
    )
    p.add_argument("--bootstrap-samples", type=int, default=2000)
    p.add_argument("--experiment", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument(
        "--sweep", type=json_arg, default={}, help="sweep condition -> {n_train, augment_shift}"
    )
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("figures", help="draw the figures from the tables")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("paper", help="write the paper's generated LaTeX inputs")
    p.add_argument("--tables", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--figures", required=True, help="figure folder, relative to paper/")
    p.add_argument("--settings", type=json_arg, default={})
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser("bench", help="print throughput figures (or time the whole pipeline)")
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--operators", nargs="+", default=None)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
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
    p.add_argument("--cores", default="all", help="with --pipeline: snakemake --cores")
    p.add_argument(
        "--glyphs",
        type=int,
        default=None,
        metavar="N",
        help="only time generating N images of the procedural glyphs dataset",
    )
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as error:  # one clear line for expected failures, a traceback otherwise
        from poolstudy.config import ConfigError
        from poolstudy.data.base import DatasetUnavailable

        if isinstance(error, (ConfigError, DatasetUnavailable)):
            print(f"poolstudy {args.command}: {error}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
