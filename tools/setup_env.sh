#!/usr/bin/env bash
# Set up the environment the Makefile's targets use, idempotently: the
# pinned stack, mmcv with its compiled ops, and the plugin (editable).
#
# Environment (all optional):
#   PYTHON         interpreter to use (default python3.11, else python3)
#   HEMNET_VENV    virtual environment to create and use (default .venv), or
#                  "none": install into PYTHON's own environment (a conda env
#                  or a venv that already holds a CUDA torch)
#   HEMNET_TORCH   "pinned" (default): install torch from requirements/torch.txt
#                  (the CPU build); "installed": reuse the torch PYTHON already
#                  imports (refused if it imports none)
#   MMCV_CUDA_OPS  1: build mmcv's CUDA kernels too (for other heads; long,
#                  and pip's cached CPU-only wheel is bypassed). Default: the
#                  build hides the GPU (CUDA_VISIBLE_DEVICES=), so mmcv gets
#                  CPU ops only: HEMNet and EMANet call no mmcv CUDA op.
#   HEMNET_NO_DEPS 1: install with pip --no-deps, naming everything the stack
#                  imports (requirements/deps.txt) instead of letting pip
#                  resolve it: for an offline image that supplies the
#                  heavy ones under other names (opencv-python-headless where
#                  mmengine asks for opencv-python), e.g. the GPU machines
#   PIP_FIND_LINKS, PIP_NO_INDEX  pip's own: local wheels, no network
#
# mmcv 2.1.0 needs its compiled ops; pip takes a matching wheel from
# PIP_FIND_LINKS (CI points it at ../shared/wheelhouse), otherwise it is built
# from source once per machine (about 20 minutes on 2 cores, a few on 16).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${HEMNET_VENV:-.venv}
TORCH=${HEMNET_TORCH:-pinned}
case "$TORCH" in pinned|installed) ;; *)
  echo "setup: HEMNET_TORCH must be pinned or installed, got '$TORCH'" >&2
  exit 2;; esac
if [ "$TORCH" = installed ] && \
   ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "setup: HEMNET_TORCH=installed, but $PY imports no torch" >&2
  exit 2
fi
if [ "$VENV" = none ]; then
  ENVPY=$PY
  STAMP=.hemnet-setup-stamp
else
  ENVPY=$VENV/bin/python
  STAMP=$VENV/.hemnet-setup-stamp
fi
NODEPS=${HEMNET_NO_DEPS:-0}
case "$NODEPS" in 0|1) ;; *)
  echo "setup: HEMNET_NO_DEPS must be 0 or 1, got '$NODEPS'" >&2
  exit 2;; esac
want=$( (cat requirements/*.txt setup.cfg; echo "$TORCH $VENV ${MMCV_CUDA_OPS:-0} $NODEPS") \
  | sha1sum | cut -c1-40)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
if [ "$VENV" != none ] && [ ! -x "$ENVPY" ]; then
  if [ "$TORCH" = installed ]; then
    # a venv sees the base interpreter's packages, not another venv's
    if "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
      echo "setup: $PY runs inside a virtual environment; a new venv cannot" \
           "see its torch. Use HEMNET_VENV=none to install into it." >&2
      exit 2
    fi
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
INSTALL="$ENVPY -m pip --disable-pip-version-check install"
[ "$NODEPS" = 1 ] && INSTALL="$INSTALL --no-deps"
$INSTALL -q 'setuptools<82' wheel ninja
REQS=(-r requirements/runtime.txt -r requirements/tests.txt)
[ "$TORCH" = pinned ] && REQS+=(-r requirements/torch.txt)
[ "$NODEPS" = 1 ] && REQS+=(-r requirements/deps.txt)
$INSTALL -q "${REQS[@]}"
# the deploy extra (ONNX export and ONNX Runtime): its tests skip without it,
# as on an offline image that lacks onnxscript
$INSTALL -q -r requirements/deploy.txt || echo "setup: the deploy extra" \
  "(requirements/deploy.txt) could not be installed; the ONNX tests will" \
  "skip" >&2
if ! $ENVPY -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  if [ "${MMCV_CUDA_OPS:-0}" = 1 ]; then
    echo "setup: building mmcv 2.1.0 with its CUDA kernels (long)" >&2
    FORCE_CUDA=1 MMCV_WITH_OPS=1 $INSTALL --no-cache-dir --no-build-isolation mmcv==2.1.0
  elif ! $INSTALL -q --only-binary=mmcv mmcv==2.1.0 2>/dev/null; then
    echo "setup: no mmcv 2.1.0 wheel found on PIP_FIND_LINKS; building its" \
         "CPU ops from source (about 20 minutes on 2 cores, once)" >&2
    CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 $INSTALL --no-build-isolation mmcv==2.1.0
  fi
fi
$INSTALL -q --no-deps --no-build-isolation -e .
$ENVPY -c 'import hemnet_mmseg, mmcv.ops; from mmseg.registry import MODELS; assert MODELS.get("HEMHead")'
echo "$want" > "$STAMP"
echo "setup: ready ($ENVPY, torch $($ENVPY -c 'import torch; print(torch.__version__)'))"
