#!/usr/bin/env bash
# The main job out of the box: generate the toy data set (if needed), train
# HEMNet on it from scratch, evaluate the checkpoint, say where things are.
#   bash tools/run_demo.sh [CONFIG] [extra train.py args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CONFIG=${1:-configs/hemnet/hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py}
shift || true
NAME=$(basename "$CONFIG" .py)
WORK_DIR=${WORK_DIR:-work_dirs/$NAME}
start=$(date +%s)

$PY -m hemnet_mmseg.datasets.toy_shapes_generator data/toy_shapes
$PY tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
CKPT=$(cat "$WORK_DIR/last_checkpoint")
$PY tools/test.py "$CONFIG" "$CKPT" --work-dir "$WORK_DIR" | tee "$WORK_DIR/test_summary.txt"

METRICS=$(ls -t "$WORK_DIR"/*/test_metrics.json | head -n 1)
LOG=$(ls -t "$WORK_DIR"/*/*.log | grep -v "$(dirname "$METRICS")" | head -n 1 || true)
cat <<MSG

== done in $(( $(date +%s) - start )) s ==
training log : ${LOG:-$WORK_DIR/<timestamp>/<timestamp>.log}
checkpoint   : $CKPT
test metrics : $METRICS
MSG
