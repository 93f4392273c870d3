rule train:
    input:
        PREPARED,
    output:
        model=f"{RUN_DIR}/model.pt",
        history=f"{RUN_DIR}/history.csv",
        meta=f"{RUN_DIR}/meta.json",
    params:
        model=as_arg(config["model"]),
        train=as_arg(config["train"]),
        out_dir=lambda w, output: os.path.dirname(output.model),
    threads: 1
    log:
        "logs/train/{experiment}/{dataset}/{operator}/{seed}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy train --data {input} --operator {wildcards.operator}"
        " --seed {wildcards.seed} --model {params.model} --train {params.train}"
        " --out-dir {params.out_dir} --threads {threads} 2>&1 | tee {log}"


rule all_models:
    input:
        every_run(f"{RUN_DIR}/model.pt"),
