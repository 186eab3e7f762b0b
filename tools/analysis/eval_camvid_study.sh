#!/usr/bin/env bash
# Re-evaluate one CamVid study run's final checkpoint on val with changed
# test-time options (the "T eval" ablation: more EM iterations at test time
# than in training) and keep the log and metrics next to the run:
# docs/results/camvid/RUN/eval/LABEL/{test.log,test_metrics.json}.
#   bash tools/analysis/eval_camvid_study.sh RUN LABEL [--cfg-options ...]
# e.g. (HEMNet trained with T = 3, evaluated with T = 6)
#   bash tools/analysis/eval_camvid_study.sh hemnet_seed0 T6 \
#       --cfg-options model.decode_head.num_stages_eval=6
# It uses the config the training run dumped into its work dir (so the run's
# own --cfg-options hold) and that run's last checkpoint, both made by
# tools/analysis/run_camvid_study.sh on this machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
NAME=$1; LABEL=$2; shift 2
WORK=work_dirs/camvid_study/$NAME
CONFIG=$(ls "$WORK"/*.py 2>/dev/null | head -n 1 || true)
CKPT=$(cat "$WORK/last_checkpoint" 2>/dev/null || true)  # MMEngine's record
if [ -z "$CONFIG" ] || [ ! -f "$CKPT" ]; then
  echo "eval_camvid_study.sh: no config or checkpoint in $WORK;" \
       "train it first with tools/analysis/run_camvid_study.sh $NAME ..." >&2
  exit 2
fi
EVAL_WORK=$WORK/eval/$LABEL
$PY tools/test.py "$CONFIG" "$CKPT" --work-dir "$EVAL_WORK" "$@"
run=$(ls -td "$EVAL_WORK"/2*/ | head -n 1)
OUT=docs/results/camvid/$NAME/eval/$LABEL
mkdir -p "$OUT"
cp "$run"/*.log "$OUT/test.log"
cp "$run"/test_metrics.json "$OUT/test_metrics.json"
echo "$NAME/$LABEL -> $OUT"
