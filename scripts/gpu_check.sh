#!/usr/bin/env bash
# One GPU check, at most 8 minutes on one GPU (docs/benchmarks.md, "GPU check"): versions, a
# world-1 NCCL group, two gloo ranks sharing the GPU against one process, CPU-vs-CUDA parity in
# fp32 (TF32 off), fp16 steps with the GradScaler, the recipe's step at 64 x 224 (images/s,
# CUDA max allocated and reserved memory) and DeCon-ML-DenseCL at 32 x 224 in fp32, TF32 off/on.
# Each section runs on its own within a 420-s budget (skipped when it would not fit).
#
# Prepare (on a machine that reaches PyPI, from the repository root): bash scripts/gpu_wheels.sh .whl
# Run (on the GPU machine, .whl carried with the tree):      bash scripts/gpu_check.sh
# Writes $OUT/gpu_check.json, $OUT/gpu_check.md, $OUT/gpu_check.log (OUT: output/gpu_check);
# extra arguments go to python -m tools.gpu_check (e.g. --tiny, --sections env nccl_world1).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-output/gpu_check}
mkdir -p "$OUT"

# Wheels (Python 3.12 and torch preinstalled, no registry), from scripts/gpu_wheels.sh; the
# detectron2 wheel's own top-level `tools` package would shadow this checkout's (install.sh).
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  rm -rf /tmp/site/tools
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}

timeout 480 python3 -m tools.gpu_check --out "$OUT" "$@" > "$OUT/gpu_check.log" 2>&1 &
pid=$!
tail -n +1 -f "$OUT/gpu_check.log" --pid "$pid" | grep --line-buffered '^\[gpu_check\]'
wait "$pid"
rc=$?
[ "$rc" = 124 ] && echo "killed after 480 s: the files keep the sections that ran"
echo
cat "$OUT/gpu_check.md" 2>/dev/null || { echo "no $OUT/gpu_check.md: see $OUT/gpu_check.log"; tail -20 "$OUT/gpu_check.log"; }
exit "$rc"
