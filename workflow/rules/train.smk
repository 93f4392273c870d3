# One job per cell (dataset, condition, operator): it trains every seed of the cell, one after
# another, in one process. The main grid and the sweep have their own seed lists, hence one
# rule per seed group. A seed added to the config reruns its cells' jobs; their outputs are
# marked `update` (not deleted before the job runs), and the job keeps each seed whose receipt
# says its files are current (poolstudy.reuse), so only the new seed trains.
for group, (group_conditions, group_seeds) in SEED_GROUPS.items():

    rule:
        name:
            f"train_{group}"
        input:
            code=CODE["train"],
            data=PREPARED,
        output:
            models=update(cell_files(f"{RUN_DIR}/model.pt", group_seeds)),
            histories=update(cell_files(f"{RUN_DIR}/history.csv", group_seeds)),
            metas=update(cell_files(f"{RUN_DIR}/meta.json", group_seeds)),
        wildcard_constraints:
            condition=one_of(group_conditions),
        params:
            model=training_arg("model"),
            train=training_arg("train"),
            placement=training_arg("placement"),
            seeds=" ".join(map(str, group_seeds)),
            out_dirs=lambda w, output: " ".join(os.path.dirname(p) for p in output.models),
        threads: 1
        resources:
            gpu=gpus_for("train"),
        log:
            "logs/train/{experiment}/{dataset}/{condition}/{operator}.log",
        conda:
            "../envs/poolstudy.yaml"
        shell:
            "python -m poolstudy train --data {input.data} --operator {wildcards.operator}"
            " --seeds {params.seeds} --condition {wildcards.condition}"
            " --model {params.model} --train {params.train} --placement {params.placement}"
            " --out-dir {params.out_dirs} --threads {threads} 2>&1 | tee {log}"


rule all_models:
    input:
        every_run(f"{RUN_DIR}/model.pt"),
