#!/usr/bin/env bash
# Is training bit-identical to an earlier commit's? Trains the toy HEMNet
# config for ITERS iterations with the code of REV (a git worktree) and of
# the working tree, same seed and settings, on the CPU, and compares every
# tensor of the two checkpoints.
#
#   bash tools/bit_identity.sh REV [ITERS [CFG_OPTION ...]]
#
# (default 12 iterations); further arguments are extra --cfg-options for
# both runs, e.g. model.decode_head.grad_mode=implicit.
#
# Uses .venv (make setup); REV's code is put first on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: tools/bit_identity.sh REV [ITERS [CFG_OPTION ...]]}
ITERS=${2:-12}
shift $(( $# < 2 ? $# : 2 ))
PY=${PY:-.venv/bin/python}
TMP=$(mktemp -d)
trap 'git worktree remove --force "$TMP/old" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
git worktree add -q "$TMP/old" "$REV"
CFG=configs/hemnet/hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py
OPTS=(train_cfg.max_iters="$ITERS" train_cfg.val_interval="$ITERS"
      default_hooks.checkpoint.interval="$ITERS" randomness.seed=0 "$@")
for loader in train_dataloader val_dataloader test_dataloader; do
  OPTS+=("$loader.dataset.data_root=$TMP/toy" "$loader.num_workers=0"
         "$loader.persistent_workers=False")
done
ROOT=$(pwd)
(cd "$TMP/old" && PYTHONPATH="$TMP/old" OMP_NUM_THREADS=2 "$ROOT/$PY" -m \
  hemnet_mmseg.cli.train "$CFG" --work-dir "$TMP/run_old" \
  --cfg-options "${OPTS[@]}" > "$TMP/old.log" 2>&1)
OMP_NUM_THREADS=2 "$PY" -m hemnet_mmseg.cli.train "$CFG" \
  --work-dir "$TMP/run_new" --cfg-options "${OPTS[@]}" > "$TMP/new.log" 2>&1
"$PY" - "$TMP/run_old/iter_$ITERS.pth" "$TMP/run_new/iter_$ITERS.pth" "$REV" <<'PY'
import sys
import torch
from hemnet_mmseg.checkpoint import load_from_local_weights_only as load
old, new, rev = sys.argv[1:]
a = load(old)['state_dict']
b = load(new)['state_dict']
differ = sorted(k for k in a.keys() & b.keys() if not torch.equal(a[k], b[k]))
print(f'{rev} vs working tree: {len(a)} / {len(b)} tensors, '
      f'{len(a.keys() ^ b.keys())} keys not in both, {len(differ)} differ'
      + (f': {differ[:5]}' if differ else ''))
sys.exit(1 if differ or a.keys() != b.keys() else 0)
PY
