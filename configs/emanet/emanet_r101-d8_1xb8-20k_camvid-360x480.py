_base_ = './emanet_r50-d8_1xb8-20k_camvid-360x480.py'
model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
