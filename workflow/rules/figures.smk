rule figures:
    input:
        code=CODE["figures"],
        tables=expand(f"{TABLES}/{{name}}.csv", name=FIGURE_TABLES),
        records=record_inputs(RECORDS, RECORDED),
    output:
        [
            report(
                f"{FIGURES}/{name}.pdf",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in FIGURE_NAMES
        ],
    params:
        settings=as_arg(figure_settings()),
        tables=lambda w, input: os.path.dirname(input.tables[0]),
        out_dir=lambda w, output: os.path.dirname(output[0]),
        records=lambda w, input: record_folders(input.records),
    log:
        "logs/figures.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy figures --tables {params.tables} --out-dir {params.out_dir}"
        " --settings {params.settings} --records {params.records} 2>&1 | tee {log}"
