# poolstudy: can pooling raise a CNN's accuracy when overfitting is not the reason?
# Thin on purpose: the logic lives in src/poolstudy and every rule calls `python -m poolstudy`.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

# This copy's library, not the one the environment installed (an editable install points at
# one checkout, while `dvc exp run --temp` and `--queue` run the pipeline in copies of it):
# for the imports below and, through PYTHONPATH, for every job's `python -m poolstudy`.
SOURCES = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SOURCES)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SOURCES, os.getenv("PYTHONPATH")])))

from poolstudy.config import check_config_files, validate_config

min_version("9.0")  # --replace-workflow-config (README, Makefile) is new in Snakemake 9.0


configfile: "config/config.yaml"


# The JSON schema in workflow/schemas/ (structure, defaults) and the registries (names):
# a bad key, type or name stops the run with one message naming the key and the choices;
# so does a key given twice in a config file (which Snakemake's YAML reader lets pass).
check_config_files(workflow.configfiles)
validate_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyze.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


# Where an executor sends jobs elsewhere (the SLURM profile: workflow/profiles/slurm), these run
# where Snakemake runs: `paper` needs TeX, which `make setup` installs there only, and the rest
# are short single-process steps that would spend longer in the queue than running.
localrules:
    analyze,
    figures,
    paper_inputs,
    paper,


rule all:
    default_target: True
    input:
        PAPER_PDF,
        METRICS,
