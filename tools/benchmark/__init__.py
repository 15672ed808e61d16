"""Pre-training cost benchmark: ``python -m tools.benchmark --help``.

Times a real training step (student and teacher forward on both views, loss, backward, LARS step,
EMA update) of each variant built from ``configs/`` on a synthetic batch in the contract format
(data loading excluded), counts FLOPs per component, and reports each variant's ratio to
encoder-only measured in the same run. Results and their reading: ``docs/benchmarks.md``.
"""
from tools.benchmark.cases import Case, bench_cfg, build_bench_model, parse_case
from tools.benchmark.flops import count_flops
from tools.benchmark.timing import time_steps

__all__ = ["Case", "parse_case", "bench_cfg", "build_bench_model", "count_flops", "time_steps"]
