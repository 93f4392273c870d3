rule analyze:
    input:
        code=CODE["analyze"],
        evals=every_run(EVAL),
        corrects=every_run(CORRECT),
        metas=every_run(f"{RUN_DIR}/meta.json"),
        histories=every_run(f"{RUN_DIR}/history.csv"),
    output:
        tables=[
            report(
                f"{TABLES}/{name}.csv", caption=f"../report/tables/{name}.rst", category="Tables"
            )
            for name in TABLE_NAMES
        ],
        metrics=METRICS,
    params:
        experiment=EXPERIMENT,
        confidence=config["stats"]["confidence"],
        samples=config["stats"]["bootstrap_samples"],
        out_dir=lambda w, output: os.path.dirname(output.tables[0]),
        sweep=as_arg(SWEEP),
        contrasts=as_arg(primary_contrasts(config)),
        margin=f"--margin {config['primary']['margin']}" if config.get("primary") else "",
        regime=as_arg(primary_regime(config)),
    log:
        "logs/analyze.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy analyze --evals {input.evals} --corrects {input.corrects}"
        " --metas {input.metas} --bootstrap-samples {params.samples}"
        " --experiment {params.experiment} --out-dir {params.out_dir} --metrics {output.metrics}"
        " --confidence {params.confidence} --sweep {params.sweep}"
        " --contrasts {params.contrasts} {params.margin}"
        " --histories {input.histories} --regime {params.regime} 2>&1 | tee {log}"
