# EMANet on CamVid at 240x180 for 2 CPU cores (about 20 minutes): ResNet-18-D8
# from scratch (no pretrained download), crop 160x192, batch 8. Its head is
# Float32EMAHead (mmseg's EMAHead with its EM in float32 under autocast, as
# HEMHead's; identical to EMAHead in float32). The HEMNet twin differs only
# in the head; docs/camvid_study.md holds the study.
_base_ = [
    'mmseg::_base_/models/emanet_r50-d8.py',
    '../_base_/datasets/camvid_240x180.py', '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py'
]
crop_size = (160, 192)
max_iters = 600
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=crop_size),
    backbone=dict(depth=18),
    decode_head=dict(
        type='Float32EMAHead',
        in_channels=512,
        channels=128,
        ema_channels=256,
        num_bases=32,
        num_classes=11),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=11))
randomness = dict(seed=0)
# Precision by measurement: bf16 autocast where a timed probe finds it
# faster on this CPU (2.05x on the CPU of docs/benchmarks/precision_cpu.json,
# 0.99x on an Intel Xeon with AVX512-BF16; the precision pairs in
# docs/camvid_study.md found no change in mIoU), else float32; logged, and
# cached per machine. Every EM unit runs in float32 either way. --amp and
# --no-amp choose explicitly.
optim_wrapper = dict(
    type='AutocastOptimWrapper', dtype='auto', optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=50,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=200)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=200, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
