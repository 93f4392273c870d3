# `make` sets up everything and runs the default study to paper/build/paper.pdf;
# `make test` sets up everything and runs the tests (what CI runs).
VENV ?= .venv
export VENV
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all setup paper test lint bench mutation clean

all: paper

setup:
	bash workflow/scripts/setup.sh

paper: setup
	snakemake --cores all

test: setup
	python -m pytest

lint: setup
	ruff check src tests
	ruff format --check src tests
	snakemake --lint

# The engine the pipeline benchmark compares against: one job per seed, validation every epoch.
PREVIOUS_ENGINE ?= d960b20

bench: setup
	python -m poolstudy bench
	python -m poolstudy bench --pipeline --against $(PREVIOUS_ENGINE)

# Mutation testing of the modules that produce results (not in CI; hours for every group on
# 2 cores): `make mutation MUTATE="metrics stats"` runs some groups (tests/mutation.py lists
# them); survivors need a killing test or a reviewed line in tests/mutation_survivors.txt.
MUTATE ?=

mutation: setup
	python tests/mutation.py $(MUTATE)

clean:
	rm -rf results paper/build paper/generated logs .snakemake/metadata
