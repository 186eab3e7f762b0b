#!/usr/bin/env bash
# Validate an install on a CUDA machine and write the GPU table, in one go.
#
#   python tools/prepare_gpu_inputs.py          # once, where ../shared exists
#   bash tools/gpu_check.sh [--rehearse] [--skip-setup] [--inputs DIR]
#                           [--out DIR] [--work DIR] [--deadline SECONDS]
#                           [--steps "NAME ..."]
#
# Target: Python 3.12 with a preinstalled CUDA torch, no network; everything
# comes from the checkout and gpu_inputs/ (git-ignored). Steps, each timed,
# most telling first (a deadline cuts the tail, not the head):
#   1. set-up: the stack from gpu_inputs/wheelhouse into python3's own
#      environment, reusing its torch, every dependency named (pip --no-deps:
#      the image's opencv-python-headless serves mmengine); mmcv's CPU ops
#      built from source (tools/setup_env.sh with HEMNET_VENV=none
#      HEMNET_TORCH=installed HEMNET_NO_DEPS=1)
#   2. the CUDA-only tests (pytest -m cuda)
#   3. tools/analysis/profile_heads.py: a torch.profiler trace of one head
#      step and one segmentor step per contender under bf16 autocast (CUDA
#      kernels launched, self device time, the costliest ops)
#   4. tools/analysis/benchmark.py on CUDA with bf16 autocast, 100 interleaved
#      repeats (50 for the segmentors), em_compile included (HEM/EMA ratios
#      of head and segmentor step time in float32 and under AMP, peak memory)
#   5. a CamVid smoke pair at full resolution: R50-D8 from scratch, 360x480
#      crops, HEMNet vs EMANet, same seed, CAMVID_ITERS iterations (bf16),
#      val mIoU at the end (JPEG inputs: not comparable with PNG runs)
#   6. a short toy training under fp16 AMP and under bf16 AMP, then its test
#   7. the benchmark's head and segmentor figures again with fp16 autocast
# Logs, JSON and summary.json land in --out (default docs/gpu/<date>_<gpu>/,
# committed); checkpoints and generated data in --work (default
# work_dirs/gpu_check, ignored). The summary is printed at the end.
# --deadline S: each step runs under `timeout` for what is left of S seconds
# from the start; steps that find none left are recorded as skipped (exit -1)
# and the summary is still written.
# --steps: run only the named steps (e.g. "setup env_info cuda_tests
# benchmark_bfloat16", to redo what failed); the others are not recorded.
# --rehearse: the same steps on a CPU with tiny sizes (no set-up, no fp16,
# a quick benchmark, 1 CamVid iteration on 4 val images), for tests.
set -uo pipefail
cd "$(dirname "$0")/.."
REHEARSE=0; SETUP=1; IN=gpu_inputs; OUT=; WORK=work_dirs/gpu_check; DEADLINE=
ONLY=
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) REHEARSE=1; SETUP=0 ;;
    --skip-setup) SETUP=0 ;;
    --inputs) IN=$2; shift ;;
    --out) OUT=$2; shift ;;
    --work) WORK=$2; shift ;;
    --steps) ONLY=" $2 "; shift ;;
    --deadline) DEADLINE=$2; shift
      case "$DEADLINE" in ''|*[!0-9]*)
        echo "gpu_check: --deadline takes whole seconds > 0, got '$DEADLINE'" >&2
        exit 2;; esac ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
PY=${PYTHON:-python3}
[ -d "$IN/camvid" ] || { echo "gpu_check: no $IN/camvid: run python tools/prepare_gpu_inputs.py" >&2; exit 2; }
if [ -z "$OUT" ]; then
  gpu=$($PY -c 'import torch; print(torch.cuda.get_device_name().replace(" ", "-"))' 2>/dev/null || echo cpu)
  OUT=docs/gpu/$(date -u +%Y-%m-%d)_$gpu
fi
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)
IN=$(cd "$IN" && pwd)
export PYTHONUNBUFFERED=1
TIMES=$OUT/steps.tsv
: > "$TIMES"
T0=$(date +%s)
step() {  # step NAME COMMAND...: run, log to OUT/NAME.log, record status and seconds
  local name=$1; shift
  [ -z "$ONLY" ] || [[ "$ONLY" == *" $name "* ]] || return 0
  local start=$(date +%s)
  if [ -n "$DEADLINE" ]; then
    local left=$(( DEADLINE - (start - T0) ))
    if [ $left -le 5 ]; then
      echo "== $name skipped: the ${DEADLINE} s deadline is reached"
      printf '%s\t%s\t%s\n' "$name" -1 0 >> "$TIMES"
      return 0
    fi
    set -- timeout -k 10 $left "$@"
  fi
  echo "== $name"
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >> "$TIMES"
  [ $rc -eq 0 ] || { echo "   $name failed (exit $rc): see $OUT/$name.log"; tail -n 5 "$OUT/$name.log"; }
  return 0
}

if [ $SETUP = 1 ]; then
  step setup env HEMNET_VENV=none HEMNET_TORCH=installed HEMNET_NO_DEPS=1 PYTHON=$PY \
    PIP_NO_INDEX=1 PIP_FIND_LINKS="$IN/wheelhouse" MAX_JOBS=${MAX_JOBS:-16} \
    bash tools/setup_env.sh
fi
step env_info $PY -c 'import json, platform, torch, mmcv, mmseg, mmengine, hemnet_mmseg; print(json.dumps(dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda, gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None, mmcv=mmcv.__version__, mmseg=mmseg.__version__, mmengine=mmengine.__version__, hemnet_mmseg=hemnet_mmseg.__version__)))'
step cuda_tests $PY -m pytest -q -m cuda tests -p no:cacheprovider
if [ $REHEARSE = 1 ]; then PROFILE=(--quick --skip-segmentor); else PROFILE=(--compile); fi
step profile $PY tools/analysis/profile_heads.py --out "$OUT/profile" \
  --amp-dtype bfloat16 "${PROFILE[@]}"

TOY=configs/hemnet/hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py
if [ $REHEARSE = 1 ]; then
  TOY_ITERS=4; DTYPES="bfloat16"; CAMVID_ITERS=1; CAMVID_LOADERS=()
  BENCH=(--quick); VAL=(val_dataloader.dataset.indices=4 test_dataloader.dataset.indices=4 train_dataloader.batch_size=1)
  LOADERS=(train_dataloader.num_workers=0 train_dataloader.persistent_workers=False val_dataloader.num_workers=0 val_dataloader.persistent_workers=False test_dataloader.num_workers=0 test_dataloader.persistent_workers=False)
else
  TOY_ITERS=${TOY_ITERS:-300}; DTYPES="float16 bfloat16"; CAMVID_ITERS=${CAMVID_ITERS:-300}
  BENCH=(--repeats 100 --compile); VAL=(); LOADERS=()
  # 16 cores feed a GPU: more workers change loading speed, not the pair's
  # comparison (both runs get the same)
  CAMVID_LOADERS=(train_dataloader.num_workers=8)
fi
WARM=$(( TOY_ITERS < 60 ? TOY_ITERS / 2 : 30 ))
step benchmark_bfloat16 $PY tools/analysis/benchmark.py \
  --out "$OUT/benchmark_bfloat16.json" --amp-dtype bfloat16 "${BENCH[@]}"
for algo in emanet hemnet; do
  CFG=configs/$algo/${algo}_r50-d8_1xb8-20k_camvid-360x480.py
  W=$WORK/camvid_$algo
  opts=(model.pretrained=None randomness.seed=0 train_cfg.max_iters=$CAMVID_ITERS
        train_cfg.val_interval=$CAMVID_ITERS default_hooks.checkpoint.interval=$CAMVID_ITERS
        default_hooks.logger.interval=20 "param_scheduler.0.end=$CAMVID_ITERS")
  for loader in train_dataloader val_dataloader test_dataloader; do
    opts+=($loader.dataset.data_root=$IN/camvid $loader.dataset.img_suffix=.jpg)
  done
  step camvid_$algo $PY tools/train.py $CFG --work-dir "$W" --amp-dtype bfloat16 \
    --cfg-options "${opts[@]}" "${VAL[@]}" "${LOADERS[@]}" "${CAMVID_LOADERS[@]}"
done
TOYDATA=$WORK/toy_data
for dtype in $DTYPES; do
  W=$WORK/toy_$dtype
  step toy_train_$dtype $PY tools/train.py $TOY --work-dir "$W" --amp-dtype $dtype \
    --cfg-options train_cfg.max_iters=$TOY_ITERS train_cfg.val_interval=$TOY_ITERS \
    default_hooks.checkpoint.interval=$TOY_ITERS param_scheduler.0.end=$WARM \
    param_scheduler.1.begin=$WARM param_scheduler.1.end=$TOY_ITERS \
    train_dataloader.dataset.data_root=$TOYDATA val_dataloader.dataset.data_root=$TOYDATA \
    test_dataloader.dataset.data_root=$TOYDATA "${LOADERS[@]}"
  step toy_test_$dtype $PY tools/test.py $TOY "$W/iter_$TOY_ITERS.pth" --work-dir "$W" \
    --cfg-options test_dataloader.dataset.data_root=$TOYDATA "${LOADERS[@]}"
done
if [[ " $DTYPES " == *" float16 "* ]]; then
  step benchmark_float16 $PY tools/analysis/benchmark.py \
    --out "$OUT/benchmark_float16.json" --amp-dtype float16 \
    --skip unit scaling "${BENCH[@]}"
fi
$PY tools/gpu_summary.py "$OUT" --work "$WORK" $([ $REHEARSE = 1 ] && echo --rehearse)
