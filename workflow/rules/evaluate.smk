rule evaluate:
    input:
        code=CODE["evaluate"],
        data=PREPARED,
        model=f"{RUN_DIR}/model.pt",
    output:
        EVAL,
    params:
        evaluate=condition_arg("evaluate"),
    threads: 1
    log:
        "logs/evaluate/{experiment}/{dataset}/{condition}/{operator}/{seed}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy evaluate --data {input.data} --model {input.model}"
        " --evaluate {params.evaluate} --experiment {wildcards.experiment}"
        " --dataset {wildcards.dataset} --condition {wildcards.condition}"
        " --operator {wildcards.operator}"
        " --seed {wildcards.seed} --out {output} --threads {threads} 2>&1 | tee {log}"


rule all_evaluations:
    input:
        every_run(EVAL),
