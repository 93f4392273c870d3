rule prepare:
    input:
        # one dataset's source: editing another's remakes none of this one's data
        code=lambda w: prepare_job_code(w.dataset, "src/poolstudy"),
    output:
        PREPARED,
    params:
        # only a dataset that downloads reads them: editing them remakes no other's data
        raw=lambda w: raw_data_args(config["data"], w.dataset),
        split=as_arg(config["data"]["split"]),
        options=lambda w: as_arg(config["data"]["options"].get(w.dataset, {})),
    log:
        "logs/prepare/{dataset}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy prepare --dataset {wildcards.dataset} --out {output}"
        " {params.raw}"
        " --split {params.split} --options {params.options} 2>&1 | tee {log}"


rule all_data:
    input:
        expand(PREPARED, dataset=datasets_used(config)),
