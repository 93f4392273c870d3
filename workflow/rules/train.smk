rule train:
    input:
        code=CODE["train"],
        data=PREPARED,
    output:
        model=f"{RUN_DIR}/model.pt",
        history=f"{RUN_DIR}/history.csv",
        meta=f"{RUN_DIR}/meta.json",
    params:
        model=condition_arg("model"),
        train=condition_arg("train"),
        placement=condition_arg("placement"),
        out_dir=lambda w, output: os.path.dirname(output.model),
    threads: 1
    log:
        "logs/train/{experiment}/{dataset}/{condition}/{operator}/{seed}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy train --data {input.data} --operator {wildcards.operator}"
        " --seed {wildcards.seed} --condition {wildcards.condition}"
        " --model {params.model} --train {params.train} --placement {params.placement}"
        " --out-dir {params.out_dir} --threads {threads} 2>&1 | tee {log}"


rule all_models:
    input:
        every_run(f"{RUN_DIR}/model.pt"),
