# EMANet baseline: mmseg's EMANet model on mmseg's coco-stuff164k recipe
# (the HEMNet twin differs only in the decode head).
_base_ = [
    'mmseg::_base_/models/emanet_r50-d8.py',
    'mmseg::_base_/datasets/coco-stuff164k.py', '../_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]
crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=171),
    auxiliary_head=dict(num_classes=171))
# atomic checkpoint saves: a kill during a save loses nothing
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
