#!/usr/bin/env bash
# benchmarks/gpu_check.py on a machine where t2 is not installed (the lent H200: its python3 has
# torch and transformers but no deepspeed, pydantic or optuna, and no network).
#
#   bash benchmarks/gpu_bundle.sh                 # here, once: build/gpu/ (wheels + SciQ file)
#   bash benchmarks/gpu_check.sh [ARGS...]        # there, with build/gpu carried; ARGS go to
#                                                 # gpu_check.py (--cpu-smoke, --only, --budget)
#   PYTHON=/tmp/venv/bin/python bash benchmarks/gpu_check.sh --cpu-smoke   # a dry run here
#
# 1. installs the carried wheels into a scratch folder (pip --target --no-index --no-deps, or
#    plain unzipping where pip is missing: they are all plain wheels);
# 2. makes t2 importable from this working tree without installing it: a folder holding `t2/`
#    with one link per package folder (pyproject's package-dir: t2.models -> models/, ...) and a
#    t2.dist-info whose entry_points.txt is pyproject's, so the text-source entry points resolve;
# 3. runs the check, its JSON and log in $OUT (default build/gpu-check), at most 8 minutes.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
out="${OUT:-$here/build/gpu-check}"
site="$(mktemp -d "${TMPDIR:-/tmp}/t2-gpu-site.XXXXXX")"
mkdir -p "$out" "$site/pkgs" "$site/shim/t2"

wheels=("${T2_GPU_WHEELS:-$here/build/gpu/wheels}"/*.whl)
if [[ -e "${wheels[0]}" ]]; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site/pkgs" \
      "${wheels[@]}" 2>/dev/null \
    || for w in "${wheels[@]}"; do "$py" -m zipfile -e "$w" "$site/pkgs" || exit 1; done
else
  echo "gpu_check.sh: no build/gpu/wheels (run benchmarks/gpu_bundle.sh here first)" >&2
fi

for pkg in models infra evaluation fitting flows; do ln -s "$here/$pkg" "$site/shim/t2/$pkg"; done
"$py" - "$here/pyproject.toml" "$site/shim/t2-0.0.0.dist-info" <<'EOF' || exit 1
import pathlib, sys, tomllib
project = tomllib.loads(pathlib.Path(sys.argv[1]).read_text())["project"]
info = pathlib.Path(sys.argv[2])
info.mkdir()
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: t2\nVersion: {project['version']}\n")
groups = project.get("entry-points", {}) | {"console_scripts": project.get("scripts", {})}
(info / "entry_points.txt").write_text("".join(
    f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for g, eps in groups.items()))
EOF

export PYTHONPATH="$site/shim:$site/pkgs${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export T2_CACHE="$site/cache" T2_GPU_WORK="$site/work" OUT="$out"  # $OUT: only JSON + log
# JIT-built ops (CPU DeepSpeed's shm op) in a private folder: a section killed mid-build would
# leave a lock there that makes every later build wait forever
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$site/torch_extensions}"
timeout -k 10 "${T2_GPU_CHECK_TIMEOUT:-480}" "$py" "$here/benchmarks/gpu_check.py" --out "$out" "$@" \
  2>&1 | tee "$out/gpu_check.log"
rc=${PIPESTATUS[0]}
rm -rf "$site"
echo "gpu_check.sh: exit $rc; results in $out/gpu_check.json"
exit "$rc"
