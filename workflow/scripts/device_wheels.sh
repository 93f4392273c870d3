#!/usr/bin/env bash
# Wheels for a GPU machine that has PyTorch and the scientific Python stack but neither
# Snakemake nor jsonschema, which the GPU check's tiny run needs (README.md, "The GPU check"):
# the versions requirements.lock pins of Snakemake, jsonschema and what they need, for Python
# $DEVICE_PYTHON on Linux x86_64, less the packages such a machine already has ($DEVICE_HAS).
#
#   bash workflow/scripts/device_wheels.sh [FOLDER]       (default: .whl)
#
# On the GPU machine, in a copy of this repository with FOLDER beside it:
#   python3 -m pip install --no-index --no-deps --target /tmp/site FOLDER/*.whl
#   PYTHONPATH=$PWD/src:/tmp/site python3 -m poolstudy bench --device cuda
set -euo pipefail

cd "$(dirname "$0")/../.."
OUT="${1:-.whl}"
PYTHON="${PYTHON:-${VENV:-.venv}/bin/python}"
DEVICE_PYTHON="${DEVICE_PYTHON:-3.12}"
# in the GPU machines' image (its package list), so not carried
DEVICE_HAS="${DEVICE_HAS:-attrs certifi charset_normalizer idna jinja2 markupsafe packaging psutil pyyaml requests tabulate typing_extensions urllib3 wrapt}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# the lock's pins without their hashes, as constraints of the resolution
sed -n 's/^\([A-Za-z0-9_.-]*==[^ ]*\).*/\1/p' requirements.lock >"$work/constraints.txt"
pins="$(grep -E '^(snakemake|jsonschema)==' "$work/constraints.txt")"

# every wheel the two need, built here where a package ships only its source (pure Python)
"$PYTHON" -m pip wheel --quiet --constraint "$work/constraints.txt" --wheel-dir "$work/here" $pins

rm -rf "$OUT"
mkdir -p "$OUT"
for wheel in "$work"/here/*.whl; do
    file="$(basename "$wheel")"
    name="${file%%-*}"
    version="$(cut -d- -f2 <<<"$file")"
    if [[ " $DEVICE_HAS " == *" $(tr 'A-Z-' 'a-z_' <<<"$name") "* ]]; then
        continue
    fi
    if [[ "$file" == *-none-any.whl ]]; then
        cp "$wheel" "$OUT/"
    else
        # compiled: the same version built for the GPU machine's Python
        "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
            --python-version "$DEVICE_PYTHON" --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
            --dest "$OUT" "$name==$version"
    fi
done
echo "$(ls "$OUT" | wc -l) wheels, $(du -sh "$OUT" | cut -f1), in $OUT for Python $DEVICE_PYTHON"
