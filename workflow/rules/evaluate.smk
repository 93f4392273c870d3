rule evaluate:
    input:
        code=CODE["evaluate"],
        data=PREPARED,
        model=f"{RUN_DIR}/model.pt",
    output:
        table=EVAL,
        correct=CORRECT,
    params:
        evaluate=condition_arg("evaluate"),
        placement=condition_arg("placement"),
        n_train=lambda w: as_arg(condition_settings(config, w.condition)["train"]["n_train"]),
    threads: 1
    log:
        "logs/evaluate/{experiment}/{dataset}/{condition}/{operator}/{seed}.log",
    conda:
        "../envs/poolstudy.yaml"
    shell:
        "python -m poolstudy evaluate --data {input.data} --model {input.model}"
        " --evaluate {params.evaluate} --placement {params.placement}"
        " --n-train {params.n_train}"
        " --experiment {wildcards.experiment}"
        " --dataset {wildcards.dataset} --condition {wildcards.condition}"
        " --operator {wildcards.operator}"
        " --seed {wildcards.seed} --out {output.table} --correct-out {output.correct}"
        " --threads {threads} 2>&1 | tee {log}"


rule all_evaluations:
    input:
        every_run(EVAL),
        every_run(CORRECT),
