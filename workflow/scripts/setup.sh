#!/usr/bin/env bash
# Set up everything poolstudy needs on a fresh Debian machine:
#   1. a virtual environment (.venv, or $VENV) with exactly the versions in requirements.lock
#      (hash-checked; installed by uv, itself at the version and hashes the lock gives) and the
#      project; synced again only when requirements.lock or pyproject.toml changes;
#   2. TeX for the paper, and Python's venv module and git where they are missing, from
#      Debian's packages when we are root; otherwise a message that says what to install.
set -euo pipefail

cd "$(dirname "$0")/../.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
LOCK=requirements.lock
TEX_PACKAGES="texlive-latex-base texlive-latex-recommended texlive-fonts-recommended latexmk lmodern"
TEX_FILES="booktabs.sty natbib.sty hyperref.sty microtype.sty lmodern.sty plainnat.bst"

step() { printf '\n==> %s\n' "$*"; }

can_apt() { [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; }

apt_install() {
    step "Installing from Debian's packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# git names the commit in the paper's footer, and the tests run it.
setup_git() {
    command -v git >/dev/null && return
    if can_apt; then
        apt_install git
        return
    fi
    echo "git is missing: the paper will not name its commit, and the tests need it" \
        "(sudo apt-get install git)." >&2
}

# Debian's Python leaves out venv (python3-venv), needed once, to make the environment.
ensure_venv_module() {
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return
    if can_apt && [[ "$("$PYTHON" -c 'import sys; print(sys.executable)')" == /usr/bin/python3* ]]; then
        apt_install python3-venv
        "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return
    fi
    echo "$PYTHON cannot make a virtual environment (no venv/ensurepip module)." >&2
    echo "Install Debian's python3-venv (or your Python's venv), or set PYTHON, then run again." >&2
    exit 1
}

setup_python() {
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "poolstudy needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))." >&2
        echo "Set PYTHON=/path/to/python3.11 and run again." >&2
        exit 1
    fi
    local stamp="$VENV/.poolstudy-installed"
    local wanted
    wanted="$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
        echo "Python environment $VENV is up to date ($LOCK)."
        return
    fi
    step "Installing $LOCK into $VENV (torch, torchvision, snakemake, dvc, ...)"
    if [[ ! -x "$VENV/bin/python" ]]; then
        ensure_venv_module
        "$PYTHON" -m venv "$VENV"
    fi
    # the installer first: uv at the version and hashes the lock gives
    local uv_lock
    uv_lock="$(mktemp)"
    awk '/^uv==/ {found = 1} found {print} found && !/\\$/ {exit}' "$LOCK" > "$uv_lock"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
        --no-deps -r "$uv_lock"
    rm -f "$uv_lock"
    # then exactly the lock (packages not in it are removed), and the project itself.
    # Compiled to bytecode now, as pip does: uv does not by default, and where Python may not
    # write bytecode (PYTHONDONTWRITEBYTECODE, read-only installs) every process would compile
    # torch and snakemake again (8 s more per job start, measured).
    "$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" --require-hashes \
        --compile-bytecode "$LOCK"
    "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps \
        --no-build-isolation -e .
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
    if can_apt; then
        # shellcheck disable=SC2086
        apt_install $TEX_PACKAGES
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
setup_git
