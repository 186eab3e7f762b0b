# EMANet baseline: mmseg's EMANet model on mmseg's pascal_context_59 recipe
# (the HEMNet twin differs only in the decode head).
_base_ = [
    'mmseg::_base_/models/emanet_r50-d8.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
crop_size = (480, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=59),
    auxiliary_head=dict(num_classes=59),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(320, 320)))
optimizer = dict(type='SGD', lr=0.004, momentum=0.9, weight_decay=0.0001)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)
# atomic checkpoint saves: a kill during a save loses nothing
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
