"""One GPU check, ready to run: ``python -m tools.gpu_check --out DIR`` (docs/benchmarks.md,
"GPU check").

Sections, each independent and within one time budget (``runner.py``): the environment, a
world-1 NCCL group, two gloo ranks sharing one GPU against one process, CPU-vs-CUDA parity in
fp32, fp16 steps with the GradScaler, the recipe's step at 64 x 224 in fp16 and DeCon-ML-DenseCL
at 32 x 224 in fp32 (TF32 off and on). ``--device cpu --tiny`` runs what needs no CUDA on the
instant-test configs (the CPU test); the CUDA-only sections are then skipped, saying so.
"""
