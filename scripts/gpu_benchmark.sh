#!/usr/bin/env bash
# Pre-training cost benchmark, GPU part (docs/benchmarks.md), one command of at most 9 minutes
# (its timeouts add up to 540 s): at 224 crops in bf16, (1) encoder-only, DeCon-SL and DeCon-ML
# at the largest per-GPU batch in 32, 64, 128, 256 that fits, with MFU against the card's bf16
# peak and the GEMM roofline; (2) DeCon-ML at the recipe's 64 images/GPU: the GEMM projectors
# against the 1x1-conv reference, +ckpt, +cl, +hid1024 (encoder-only beside), the memory
# section (without / with +mem) and the EMA / batched-view probes; (3) torch.compile of the
# projectors. CUDA peak memory is reported as max allocated and max reserved. Left out for
# time: +recompute and +bbckpt alone, levels=p3,p4,p5 (python -m tools.benchmark runs them).
# Prepared on a CPU machine, not run yet. The quicker all-round check: scripts/gpu_check.sh.
#
# Prepare (on a machine that reaches PyPI, from the repository root): bash scripts/gpu_wheels.sh .whl
# Run (on the GPU machine, .whl carried with the tree):      bash scripts/gpu_benchmark.sh
# Writes $OUT/*.json and $OUT/*.log (OUT defaults to output/benchmark/gpu).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${OUT:-output/benchmark/gpu}
mkdir -p "$OUT"

# 1. Wheels (Python 3.12 and torch preinstalled, no registry), from scripts/gpu_wheels.sh.
# The detectron2 wheel's own top-level `tools` package would shadow this checkout's (install.sh).
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  rm -rf /tmp/site/tools
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv \
  | tee "$OUT/gpu.csv"
timeout 30 python3 -c "import torch, detectron2, tools.benchmark; print('torch', torch.__version__, \
  'cuda', torch.version.cuda, torch.cuda.get_device_name())" 2>&1 | tee "$OUT/env.log" \
  || { echo "imports failed: see $OUT/env.log (missing wheel?)"; exit 2; }

bench() {  # name, timeout in s, benchmark arguments...
  local name=$1 limit=$2; shift 2
  echo "== $name: $*"
  timeout "$limit" python3 -m tools.benchmark --device cuda --precision bf16 --crop 224 \
    --json "$OUT/$name.json" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v -i warn
}

# 2. The three variants, each at the largest batch in 32, 64, 128, 256 that runs a step
#    (doubling until out-of-memory, in each case's own process); achieved TFLOP/s against the
#    GEMM roofline measured in the run (fp32 and bf16) and the card's nominal bf16 peak (MFU).
bench variants_max_batch 200 --batch 32 --max-batch 256 --batch-search --steps 3 --warmup 1 \
  --memory-crop 0 --roofline-repeats 2 --variants encoder_only decon_sl decon_ml

# 3. DeCon-ML at the recipe's 64 images/GPU: the GEMM projectors against the 1x1-conv reference
#    (+conv), checkpointed decoder projectors (+ckpt), channels_last, the cost dial (hidden 1024),
#    encoder-only at the same batch for the ratios;
#    then the memory section (DeCon-ML without / with +mem at 224); probes: EMA foreach vs loop,
#    one call vs two calls for the views.
bench options_b64 210 --batch 64 --steps 3 --warmup 1 --probes --memory-crop 224 \
  --memory-steps 2 --no-flops --roofline-repeats 1 \
  --variants encoder_only decon_ml decon_ml+conv decon_ml+ckpt decon_ml+cl decon_ml+hid1024

# 4. torch.compile of the projectors (compilation happens in the warm-up steps), last and
#    separate: it is the slowest to start and the most likely to fail on a new torch.
bench compile_b64 100 --batch 64 --steps 3 --warmup 2 --no-flops --memory-crop 0 \
  --roofline-repeats 0 --variants decon_ml decon_ml+compile
echo "done: $(ls "$OUT")"
