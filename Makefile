# `make` sets up everything and runs the default study to paper/build/paper.pdf;
# `make test` sets up everything and runs the tests (what CI runs).
VENV ?= .venv
export VENV
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all setup paper test lint bench clean

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

bench: setup
	python -m poolstudy bench
	python -m poolstudy bench --pipeline

clean:
	rm -rf results paper/build paper/generated logs .snakemake/metadata
