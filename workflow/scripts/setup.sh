#!/usr/bin/env bash
# Set up everything poolstudy needs on a fresh Debian machine:
#   1. a virtual environment (.venv, or $VENV) with the project and its dependencies from
#      pyproject.toml (reinstalled only when pyproject.toml changes);
#   2. TeX for the paper, from Debian's packages when it is missing and we are root;
#      otherwise a message that says what to install.
set -euo pipefail

cd "$(dirname "$0")/../.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TEX_PACKAGES="texlive-latex-base texlive-latex-recommended texlive-fonts-recommended latexmk lmodern"
TEX_FILES="booktabs.sty natbib.sty hyperref.sty microtype.sty lmodern.sty plainnat.bst"

step() { printf '\n==> %s\n' "$*"; }

setup_python() {
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "poolstudy needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))." >&2
        echo "Set PYTHON=/path/to/python3.11 and run again." >&2
        exit 1
    fi
    local stamp="$VENV/.poolstudy-installed"
    local wanted
    wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        echo "Python environment $VENV is up to date."
        return
    fi
    step "Creating the Python environment in $VENV (torch, torchvision, snakemake, dvc, ...)"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[dev]'
    echo "$wanted" > "$stamp"
}

tex_ready() {
    command -v latexmk >/dev/null && command -v pdflatex >/dev/null && command -v bibtex >/dev/null \
        && for f in $TEX_FILES; do kpsewhich "$f" >/dev/null || return 1; done
}

setup_tex() {
    if tex_ready; then
        echo "TeX is ready."
        return
    fi
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        step "Installing TeX from Debian's packages: $TEX_PACKAGES"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $TEX_PACKAGES >/dev/null
        tex_ready && return
    fi
    cat >&2 <<MSG
TeX is missing, and it cannot be installed from here (needs root and apt-get).
Install these Debian/Ubuntu packages, then run again:
    sudo apt-get install $TEX_PACKAGES
(elsewhere: any TeX distribution with pdflatex, bibtex, latexmk and the files $TEX_FILES)
MSG
    exit 1
}

setup_python
setup_tex
