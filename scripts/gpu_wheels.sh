#!/usr/bin/env bash
# Wheels a GPU machine without a package index needs to run this project (it has Python 3.12
# and torch/torchvision preinstalled): detectron2 and the pure-Python pins of requirements.txt.
# Usage, from the repository root, on a machine that reaches PyPI:   bash scripts/gpu_wheels.sh .whl
# Then on the GPU machine:   python3 -m pip install -q --no-index --no-deps --no-compile \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
set -euo pipefail
out=${1:-.whl}
mkdir -p "$out"
plat="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
dl() { python3 -m pip download -q --no-deps --only-binary=:all: "$@" -d "$out"; }
# detectron2 as sal-detectron2 (upstream a59f0563 + one fix; tagged cp310, pure Python apart from
# an optional extension that these models do not need)
dl --python-version 3.10 sal-detectron2==0.7.2
dl --python-version 3.12 --implementation cp $plat pycocotools==2.0.11
dl --python-version 3.12 yacs==0.1.8 omegaconf==2.3.0 hydra-core==1.3.2 termcolor==2.4.0 "setuptools<81"
# published only as source distributions: build them into wheels here
python3 -m pip wheel -q --no-deps -w "$out" fvcore==0.1.5.post20221221 iopath==0.1.10 \
  antlr4-python3-runtime==4.9.3
# pip on 3.12 refuses a cp310 tag: the wheel is pure Python, so retag it
for f in "$out"/sal_detectron2-*-cp310-none-any.whl; do
  [ -e "$f" ] && mv "$f" "${f/cp310-none-any/py3-none-any}"
done
ls -1 "$out"; du -sh "$out"
