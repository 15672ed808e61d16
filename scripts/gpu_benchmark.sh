#!/usr/bin/env bash
# Pre-training cost benchmark, GPU part (docs/benchmarks.md): cost at 224 crops, bf16, the largest per-GPU batch that fits,
# for encoder-only, DeCon-SL and DeCon-ML, then the memory/speed options on DeCon-ML. Prepared on
# a CPU machine and not yet run; about 10-14 minutes on one H100/H200. Results: docs/benchmarks.md.
#
# Prepare (on a machine that reaches PyPI, from the repository root): bash scripts/gpu_wheels.sh .whl
# Run (on the GPU machine, .whl carried with the tree):      bash scripts/gpu_benchmark.sh
# Writes $OUT/*.json and $OUT/*.log (OUT defaults to output/benchmark/gpu).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-output/benchmark/gpu}
mkdir -p "$OUT"

# 1. Wheels (Python 3.12 and torch preinstalled, no registry), from scripts/gpu_wheels.sh.
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
  | tee "$OUT/gpu.csv"
python3 -c "import torch, detectron2, tools.benchmark; print('torch', torch.__version__, \
  'cuda', torch.version.cuda, torch.cuda.get_device_name())" 2>&1 | tee "$OUT/env.log" \
  || { echo "imports failed: see $OUT/env.log (missing wheel?)"; exit 2; }

bench() {  # name, timeout in s, benchmark arguments...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  timeout "$limit" python3 -m tools.benchmark --device cuda --precision bf16 --crop 224 \
    --json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v -i warn
}

# 2. The three variants and DeCon-ML with the memory options (+mem), each at the largest batch
#    in 16, 32, 64, ... <= 512 that runs a step (doubling until out-of-memory, in each case's own
#    process); achieved TFLOP/s against the GEMM roofline measured in the run (fp32 and bf16) and
#    against the card's nominal bf16 peak (MFU).
bench variants_max_batch 360 --batch 16 --max-batch 512 --batch-search --steps 5 --warmup 2 \
  --memory-crop 0 --variants encoder_only decon_sl decon_ml decon_ml+mem

# 3. DeCon-ML at the recipe's 64 images/GPU: the GEMM projectors against the 1x1-conv reference
#    (+conv), each memory option alone (+recompute, +bbckpt, +ckpt), channels_last, the cost dial
#    (hidden 1024, no p2); then the memory section (DeCon-ML without / with +mem at 224); probes:
#    EMA foreach vs loop, one call vs two calls for the views.
bench options_b64 300 --batch 64 --steps 5 --warmup 2 --probes --memory-crop 224 \
  --variants encoder_only decon_ml decon_ml+conv decon_ml+recompute decon_ml+bbckpt \
  decon_ml+ckpt decon_ml+cl decon_ml+hid1024 "decon_ml+levels=p3,p4,p5"

# 4. torch.compile of the projectors (compilation happens in the warm-up steps), last and
#    separate: it is the slowest to start and the most likely to fail on a new torch.
bench compile_b64 150 --batch 64 --steps 5 --warmup 3 --no-flops --memory-crop 0 \
  --variants encoder_only decon_ml decon_ml+compile
echo "done: $(ls "$OUT")"
