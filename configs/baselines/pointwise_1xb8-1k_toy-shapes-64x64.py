# Per-pixel baseline on the toy data: 1x1 convolutions only (no context),
# the same data, schedule and optimizer as the toy HEMNet/EMANet configs.
_base_ = ['../emanet/emanet_r18-d8_1xb8-1k_toy-shapes-64x64.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='PointwiseNet',
        in_channels=3,
        channels=64,
        num_layers=3,
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    decode_head=dict(
        _delete_=True,
        type='FCNHead',
        in_channels=64,
        in_index=0,
        channels=64,
        num_convs=1,
        kernel_size=1,
        concat_input=False,
        dropout_ratio=0.0,
        num_classes=5,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)),
    auxiliary_head=None)
