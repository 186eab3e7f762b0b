#!/usr/bin/env bash
# Multi-process evaluation with torchrun, as mmseg's tools/dist_train.sh:
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
# On GPUs one process per GPU (NCCL); on a CPU-only machine the processes
# use gloo (hemnet_mmseg/cli/launcher.py). Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR and PORT on every node. PYTHON picks the interpreter.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
${PYTHON:-python} -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS \
    --master_port=$PORT \
    "$(dirname "$0")/test.py" \
    $CONFIG $CHECKPOINT \
    --launcher pytorch ${@:4}
