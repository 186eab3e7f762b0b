#!/usr/bin/env bash
# Create (or reuse) .venv/ in the repository with the pinned stack and the
# plugin installed in editable mode. Idempotent: a second run with unchanged
# requirements does nothing.
#
# mmcv 2.1.0 needs its compiled ops; pip takes a matching wheel when one is
# on PIP_FIND_LINKS (.ci/run points it at ../shared/wheelhouse), otherwise it
# is built from source once per machine (about 20 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
STAMP=$VENV/.hemnet-setup-stamp
want=$(cat requirements/runtime.txt requirements/tests.txt setup.cfg | sha1sum | cut -c1-40)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
[ -x $VENV/bin/python ] || "$PY" -m venv $VENV
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q 'setuptools<82' wheel ninja
$PIP install -q -r requirements/runtime.txt -r requirements/tests.txt
if ! $VENV/bin/python -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  if ! $PIP install -q --only-binary=mmcv mmcv==2.1.0 2>/dev/null; then
    echo "setup: no mmcv 2.1.0 wheel found on PIP_FIND_LINKS;" \
         "building it from source (about 20 minutes on 2 cores, once)" >&2
    MMCV_WITH_OPS=1 $PIP install --no-build-isolation mmcv==2.1.0
  fi
fi
$PIP install -q --no-deps --no-build-isolation -e .
$VENV/bin/python -c 'import hemnet_mmseg, mmcv.ops; from mmseg.registry import MODELS; assert MODELS.get("HEMHead")'
echo "$want" > "$STAMP"
echo "setup: .venv ready"
