rule figures:
    input:
        code=CODE["figures"],
        tables=expand(
            f"{TABLES}/{{name}}.csv",
            name=["summary", "shift_curves", "sweep", "placement", "learning_curves", "regime"],
        ),
    output:
        expand(f"{FIGURES}/{{name}}.pdf", name=FIGURE_NAMES),
    params:
        tables=lambda w, input: os.path.dirname(input.tables[0]),
        out_dir=lambda w, output: os.path.dirname(output[0]),
    log:
        "logs/figures.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy figures --tables {params.tables} --out-dir {params.out_dir} 2>&1 | tee {log}"
