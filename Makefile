# `make` sets up everything and runs the default study to paper/build/paper.pdf;
# `make test` sets up everything and runs the tests (what CI runs).
VENV ?= .venv
export VENV
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: all setup lock paper test lint bench device-wheels mutation clean

all: paper

setup:
	bash workflow/scripts/setup.sh

paper: setup
	snakemake --cores all

# The tests run on every core (`-n auto`, pytest-xdist); tests/conftest.py keeps each file on
# one worker and hands out the end-to-end studies first. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto

test: setup
	python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# requirements.lock holds the exact version and hashes of every package `make` installs, for
# Linux x86_64 and Python 3.11. `make lock` resolves it again after a change to
# pyproject.toml, keeping every pinned version that still fits; `make lock UPGRADE=1` moves
# every package to its newest release that pyproject.toml allows. setuptools is the build
# backend of the project's own (editable) install.
LOCK_PYTHON ?= 3.11
LOCK_PLATFORM ?= x86_64-manylinux_2_28
UPGRADE ?=

lock: setup
	printf 'setuptools>=77\n' | uv pip compile --quiet pyproject.toml - --extra dev \
		--generate-hashes --python-version $(LOCK_PYTHON) --python-platform $(LOCK_PLATFORM) \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) \
		--output-file requirements.lock
	@echo "requirements.lock updated; \`make setup\` installs it."

# Every shipped config, each on its own, must plan without an error (a dry run: nothing runs).
CONFIGS ?= config/config.yaml config/paper.yaml config/bench_previous.yaml config/convergence.yaml tests/data/tiny.yaml

lint: setup
	ruff check src tests
	ruff format --check src tests
	snakefmt --check Snakefile workflow
	snakemake --lint
	@for config in $(CONFIGS); do \
		echo "snakemake --dry-run --configfile $$config"; \
		snakemake --dry-run --quiet rules --configfile $$config --replace-workflow-config \
			|| exit 1; \
	done

# The engine the pipeline benchmark compares against: one job per seed, validation every epoch;
# both engines run that revision's default study (config/bench_previous.yaml), back to back.
PREVIOUS_ENGINE ?= d960b20

bench: setup
	python -m poolstudy bench
	python -m poolstudy bench --pipeline
	python -m poolstudy bench --pipeline --against $(PREVIOUS_ENGINE) --study config/bench_previous.yaml

# Wheels of Snakemake and jsonschema (and what they need) for a GPU machine that has PyTorch
# but not them: the GPU check's tiny run (README.md, "The GPU check"). DEVICE_PYTHON: its Python.
DEVICE_PYTHON ?= 3.12
export DEVICE_PYTHON

device-wheels: setup
	bash workflow/scripts/device_wheels.sh .whl

# Mutation testing of the modules that produce results (not in CI; hours for every group on
# 2 cores): `make mutation MUTATE="metrics stats"` runs some groups (tests/mutation.py lists
# them); survivors need a killing test or a reviewed line in tests/mutation_survivors.txt.
MUTATE ?=

mutation: setup
	python tests/mutation.py $(MUTATE)

clean:
	rm -rf results paper/build paper/generated logs .snakemake/metadata
