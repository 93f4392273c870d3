rule analyze:
    input:
        code=CODE["analyze"],
        evals=every_run(EVAL),
        corrects=every_run(CORRECT),
        metas=every_run(f"{RUN_DIR}/meta.json"),
    output:
        tables=expand(f"{TABLES}/{{name}}.csv", name=TABLE_NAMES),
        metrics=METRICS,
    params:
        experiment=EXPERIMENT,
        confidence=config["stats"]["confidence"],
        samples=config["stats"]["bootstrap_samples"],
        out_dir=lambda w, output: os.path.dirname(output.tables[0]),
        sweep=as_arg(SWEEP),
    log:
        "logs/analyze.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy analyze --evals {input.evals} --corrects {input.corrects}"
        " --metas {input.metas} --bootstrap-samples {params.samples}"
        " --experiment {params.experiment} --out-dir {params.out_dir} --metrics {output.metrics}"
        " --confidence {params.confidence} --sweep {params.sweep} 2>&1 | tee {log}"
