# EMANet on CamVid at full resolution (480x360, crop 360x480), one GPU,
# ImageNet-pretrained ResNet-50-D8. The HEMNet twin differs only in the head.
_base_ = [
    'mmseg::_base_/models/emanet_r50-d8.py', '../_base_/datasets/camvid.py',
    '../_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py'
]
crop_size = (360, 480)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    decode_head=dict(num_classes=11),
    auxiliary_head=dict(num_classes=11))
# atomic checkpoint saves: a kill during a save loses nothing
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
