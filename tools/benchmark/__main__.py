"""``python -m tools.benchmark``: cost of a pre-training step per variant (docs/benchmarks.md).

Example (CPU; the issue's measurement: fp32 and bf16 against the GEMM roofline, memory at 224):
    python -m tools.benchmark --crop 160 --batch 4 --precision fp32
GPU, bf16, the largest batch that fits, 224 crops:
    python -m tools.benchmark --device cuda --precision bf16 --batch-search --json out.json
"""
import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import tempfile

import torch

from tools.benchmark.cases import MEMORY_OPTIONS, PRECISIONS, parse_case
from tools.benchmark.report import flop_table, memory_table, roofline_lines, timing_table
from tools.benchmark.roofline import measure_rooflines, projector_gemm_shape

DEFAULT_VARIANTS = ["slotcon", "decon_sl", "decon_ml"]
MEMORY_CASES = ["decon_ml", "decon_ml+mem"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", nargs="+", default=None,
                   help="cases, variant[+option...]; options: hid<N> (decoder projector hidden "
                        "width), levels=p3,p4,p5 (decoder levels), ckpt (checkpointed decoder "
                        "projectors / DenseCL necks), chunk<N> (DenseCL InfoNCE in row chunks), recompute (norm + GELU recomputed), bbckpt (checkpointed "
                        "ResNet stages), mem (= "
                        f"{'+'.join(MEMORY_OPTIONS)}), conv (reference 1x1-conv projectors), cl "
                        "(channels_last), compile (torch.compile projectors), fp32/bf16/fp16 "
                        "(this case's precision). Default: " + " ".join(DEFAULT_VARIANTS)
                        + ", and decon_ml+bf16 when --precision is fp32")
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--batch", type=int, default=2, help="images per step (start of --batch-search)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (0: FLOPs only)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32",
                   help="autocast dtype of the step (losses stay fp32 inside the model)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-search", action="store_true",
                   help="double the batch from --batch until a step runs out of memory (GPU)")
    p.add_argument("--max-batch", type=int, default=512)
    p.add_argument("--no-flops", dest="flops", action="store_false")
    p.add_argument("--flop-batch", type=int, default=2,
                   help="batch of the FLOP count (reported per image; 0 = --batch)")
    p.add_argument("--probes", action="store_true",
                   help="also time EMA foreach-vs-loop and one-call-vs-two-calls for the views")
    p.add_argument("--memory-crop", type=int, default=224,
                   help="then DeCon-ML without and with the memory options (+mem) at this crop and "
                        "--batch, --memory-steps timed steps after one warm-up (0: skip)")
    p.add_argument("--memory-steps", type=int, default=2)
    p.add_argument("--memory-variants", nargs="+", default=MEMORY_CASES,
                   help="cases of the memory section; the first is the reference (options off)")
    p.add_argument("--roofline-hidden", type=int, default=4096,
                   help="K = N of the roofline GEMM (M = batch x 2 views x (crop/4)^2 pixels)")
    p.add_argument("--roofline-repeats", type=int, default=3, help="0: no roofline")
    p.add_argument("--peak-tflops", type=float, default=0.0,
                   help="bf16 peak of the device for MFU (default: from the device name)")
    p.add_argument("--in-process", action="store_true",
                   help="no subprocess per case (faster; CPU peak RSS is then cumulative)")
    p.add_argument("--config-dir", default=None)
    p.add_argument("--instant-test", action="store_true",
                   help="tiny configs of configs/quick_schedules/ (smoke runs, not measurements)")
    p.add_argument("--json", default=None, help="results file (default output/benchmark/*.json)")
    p.add_argument("--quiet-flops", action="store_true", help="do not print the FLOP tables")
    p.add_argument("--_worker", nargs=2, metavar=("CASE", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, KEY VALUE ...")
    return p.parse_args(argv)


def _worker_argv(a, spec, out):
    argv = [sys.executable, "-m", "tools.benchmark", "--_worker", spec, out,
            "--crop", str(a.crop), "--batch", str(a.batch), "--steps", str(a.steps),
            "--warmup", str(a.warmup), "--precision", a.precision, "--device", a.device,
            "--max-batch", str(a.max_batch), "--flop-batch", str(a.flop_batch),
            "--peak-tflops", str(a.peak_tflops)]
    argv += ["--batch-search"] * a.batch_search + ["--no-flops"] * (not a.flops)
    argv += ["--probes"] * a.probes + (["--config-dir", a.config_dir] if a.config_dir else [])
    argv += ["--instant-test"] * a.instant_test
    return argv + list(a.opts)


def _save(a, path, results, **extra):
    meta = {k: v for k, v in vars(a).items() if not k.startswith("_")}
    meta.update(torch=torch.__version__, threads=torch.get_num_threads(),
                date=datetime.datetime.now().isoformat(timespec="seconds"),
                data_loading="excluded (synthetic batch in the contract format)")
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": results, **extra}, f, indent=1)


def run_all(a, path, specs, save=None):
    """Results of every case, each in a fresh subprocess unless ``--in-process``; ``save(results)``
    rewrites the JSON after every case, so a run cut short keeps what it measured."""
    from tools.benchmark.worker import run_case

    save = save or (lambda r: _save(a, path, r))
    results = []
    for spec in specs:
        if results:
            save(results)
        case = parse_case(spec)
        print(f"[benchmark] {case.label} ...", file=sys.stderr, flush=True)
        if a.in_process:
            results.append(run_case(case, a))
            continue
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "result.json")
            proc = subprocess.run(_worker_argv(a, case.label, out))
            if proc.returncode == 0 and os.path.exists(out):
                with open(out) as f:
                    results.append(json.load(f))
            else:
                results.append({"case": case.label, "variant": case.variant, "crop": a.crop,
                                "error": f"worker exit status {proc.returncode}"})
    return results


def main(argv=None):
    a = parse_args(argv)
    if a.opts and a.opts[0] == "--":
        a.opts = a.opts[1:]
    if a.flop_batch == 0:
        a.flop_batch = a.batch
    if a._worker:
        from tools.benchmark.worker import run_case

        spec, out = a._worker
        with open(out, "w") as f:
            json.dump(run_case(parse_case(spec), a), f)
        return 0
    path = a.json or os.path.join(
        "output", "benchmark", datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    specs = a.variants or DEFAULT_VARIANTS + ["decon_ml+bf16"] * (a.precision == "fp32")
    roof = _rooflines(a, specs)
    results = run_all(a, path, specs, save=lambda r: _save(a, path, r, roofline=roof))
    memory = []
    if a.memory_crop:
        m = copy.copy(a)
        m.crop, m.steps, m.warmup, m.flops, m.probes, m.batch_search = (
            a.memory_crop, a.memory_steps, 1, False, False, False)
        memory = run_all(m, path, a.memory_variants, save=lambda r: _save(
            a, path, results, roofline=roof, memory=r))
    if roof:  # again at the end: the best of both is the roofline (load only slows runs down)
        end = measure_rooflines(roof["shape"], list(roof["start"]), a.device, a.roofline_repeats)
        roof["end"] = end
        roof["best"] = {k: max(filter(None, (v, end.get(k))), default=None)
                        for k, v in roof["start"].items()}
    _save(a, path, results, roofline=roof, memory=memory)
    if roof:
        print(roofline_lines(roof, a.device))
    print(timing_table(results, (roof or {}).get("best")))
    if memory:
        print("\n" + memory_table(memory, a.memory_crop, MEMORY_OPTIONS))
    if not a.quiet_flops:
        for r in results:
            if "flops" in r:
                print("\n" + flop_table(r))
    print(f"\n[benchmark] results written to {path}", file=sys.stderr)
    return 0 if all("error" not in r for r in results + memory) else 1


def _rooflines(a, specs):
    """GEMM throughput at the projector's shape for fp32 and each precision of the run."""
    if not a.roofline_repeats:
        return {}
    shape = projector_gemm_shape(a.batch, a.crop, a.roofline_hidden)
    precisions = {parse_case(s).precision or a.precision for s in specs}
    print(f"[benchmark] GEMM roofline {shape} ...", file=sys.stderr, flush=True)
    return {"shape": shape, "start": measure_rooflines(shape, precisions, a.device,
                                                        a.roofline_repeats)}


if __name__ == "__main__":
    sys.exit(main())
