# poolstudy: can pooling raise a CNN's accuracy when overfitting is not the reason?
# Thin on purpose: the logic lives in src/poolstudy and every rule calls `python -m poolstudy`.
from snakemake.utils import min_version, validate

from poolstudy.config import check_names

min_version("8.20")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
check_names(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        PAPER_PDF,
        METRICS,
