#!/usr/bin/env bash
# The CamVid study (README "Results"): train the reduced CPU recipe for each
# (config, seed, extra options) and keep each run's log and metrics under
# docs/results/camvid/RUN/ (text only, no checkpoints).
#   bash tools/analysis/run_camvid_study.sh RUN_NAME CONFIG SEED [--cfg-options ...]
# e.g.
#   bash tools/analysis/run_camvid_study.sh hemnet_seed0 \
#       configs/hemnet/hemnet_r18-d8_1xb8-600_camvid-160x192.py 0
# CAMVID_ROOT (default ../shared/data/camvid) is where the images are.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
NAME=$1; CONFIG=$2; SEED=$3; shift 3
ROOT=${CAMVID_ROOT:-../shared/data/camvid}
WORK=work_dirs/camvid_study/$NAME
OUT=docs/results/camvid/$NAME
EXTRA=()
if [ $# -gt 0 ] && [ "$1" = "--cfg-options" ]; then shift; EXTRA=("$@"); fi
# the code the run trains with (the model and configs at its start)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- hemnet_mmseg configs 2>/dev/null || commit="$commit+dirty"
start=$(date +%s)
$PY tools/train.py "$CONFIG" --work-dir "$WORK" --cfg-options \
  randomness.seed="$SEED" \
  train_dataloader.dataset.data_root="$ROOT" \
  val_dataloader.dataset.data_root="$ROOT" \
  test_dataloader.dataset.data_root="$ROOT" "${EXTRA[@]}"
wall=$(( $(date +%s) - start ))
run=$(ls -td "$WORK"/2*/ | head -n 1)
mkdir -p "$OUT"
cp "$run"/*.log "$OUT/train.log"
cp "$run"/vis_data/scalars.json "$OUT/scalars.json"
cat > "$OUT/run.json" <<JSON
{"name": "$NAME", "config": "$CONFIG", "seed": $SEED, "commit": "$commit",
 "cfg_options": "$(echo "${EXTRA[@]:-}")", "wall_s": $wall,
 "device": "$(nproc)-core CPU ($(uname -m))", "date": "$(date -u +%Y-%m-%d)"}
JSON
echo "$NAME done in ${wall}s -> $OUT"
