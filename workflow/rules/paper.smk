rule paper_inputs:
    input:
        code=CODE["paper_inputs"],
        tables=expand(f"{TABLES}/{{name}}.csv", name=PAPER_TABLES),
        records=record_inputs(RECORDS, RECORDED),
    output:
        expand(f"{GENERATED}/{{name}}.tex", name=GENERATED_NAMES),
    params:
        settings=as_arg(paper_inputs_settings()),
        tables=lambda w, input: os.path.dirname(input.tables[0]),
        out_dir=lambda w, output: os.path.dirname(output[0]),
        figures=f"../{FIGURES}",
        records=lambda w, input: record_folders(input.records),
    log:
        "logs/paper_inputs.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy paper --tables {params.tables} --out-dir {params.out_dir}"
        " --figures {params.figures} --settings {params.settings}"
        " --records {params.records} 2>&1 | tee {log}"


rule paper:
    input:
        main="paper/main.tex",
        sections=expand(
            "paper/sections/{name}.tex",
            name=glob_wildcards("paper/sections/{name}.tex").name,
        ),
        bib="paper/references.bib",
        generated=expand(f"{GENERATED}/{{name}}.tex", name=GENERATED_NAMES),
        figures=expand(f"{FIGURES}/{{name}}.pdf", name=FIGURE_NAMES),
    output:
        report(
            PAPER_PDF,
            caption="../report/paper.rst",
            category="Paper",
        ),
    log:
        "logs/paper.log",
    conda:
        "../envs/latex.yaml"
    shell:
        "cd paper && latexmk -pdf -interaction=nonstopmode -halt-on-error"
        " -outdir=build -jobname=paper main.tex > ../{log} 2>&1"
        " || (tail -n 40 ../{log}; exit 1)"
