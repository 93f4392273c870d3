# One job per cell: every seed's model of the cell evaluated in one process; a seed whose
# tables are current is kept (see train.smk).
for group, (group_conditions, group_seeds) in SEED_GROUPS.items():

    rule:
        name:
            f"evaluate_{group}"
        input:
            code=CODE["evaluate"],
            data=PREPARED,
            models=cell_files(f"{RUN_DIR}/model.pt", group_seeds),
        output:
            tables=update(cell_files(EVAL, group_seeds)),
            corrects=update(cell_files(CORRECT, group_seeds)),
        wildcard_constraints:
            condition=one_of(group_conditions),
        params:
            evaluate=evaluation_arg(),
            placement=placement_arg(),
            n_train=lambda w: as_arg(condition_settings(config, w.condition)["train"]["n_train"]),
            seeds=" ".join(map(str, group_seeds)),
        threads: 1
        resources:
            gpu=gpus_for("evaluate"),
        log:
            "logs/evaluate/{experiment}/{dataset}/{condition}/{operator}.log",
        conda:
            "../envs/poolstudy.yaml"
        shell:
            "python -m poolstudy evaluate --data {input.data} --model {input.models}"
            " --evaluate {params.evaluate} --placement {params.placement}"
            " --n-train {params.n_train}"
            " --experiment {wildcards.experiment}"
            " --dataset {wildcards.dataset} --condition {wildcards.condition}"
            " --operator {wildcards.operator} --seeds {params.seeds}"
            " --out {output.tables} --correct-out {output.corrects}"
            " --threads {threads} 2>&1 | tee {log}"


rule all_evaluations:
    input:
        every_run(EVAL),
        every_run(CORRECT),
