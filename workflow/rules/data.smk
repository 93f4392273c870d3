rule prepare:
    input:
        # one dataset's source: editing another's remakes none of this one's data
        code=lambda w: prepare_job_code(w.dataset, "src/poolstudy"),
    output:
        PREPARED,
    params:
        raw_dir=config["data"]["raw_dir"],
        mirror=lambda w: (
            f"--mirror {shlex.quote(config['data']['mirror'])}" if config["data"]["mirror"] else ""
        ),
        split=as_arg(config["data"]["split"]),
        options=lambda w: as_arg(config["data"]["options"].get(w.dataset, {})),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy prepare --dataset {wildcards.dataset} --out {output}"
        " --raw-dir {params.raw_dir:q} {params.mirror}"
        " --split {params.split} --options {params.options} 2>&1 | tee {log}"


rule all_data:
    input:
        expand(PREPARED, dataset=datasets_used(config)),
