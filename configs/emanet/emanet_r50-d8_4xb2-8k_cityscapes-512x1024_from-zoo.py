# EMANet fine-tuned for 8k iterations from the model zoo's EMANet (R50-D8,
# Cityscapes 512x1024, 80k iterations, 77.59 mIoU; mmseg's metafile names it
# eemanet_r50-d8_4xb2-80k_cityscapes-512x1024). The same fine-tune as its
# HEMNet twin, so that the two compare fairly (docs/model_zoo.md).
_base_ = './emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py'
load_from = ('https://download.openmmlab.com/mmsegmentation/v0.5/emanet/'
             'emanet_r50-d8_512x1024_80k_cityscapes/'
             'emanet_r50-d8_512x1024_80k_cityscapes_20200901_100301-'
             'c43fcef1.pth')
max_iters = 8000
# the zoo checkpoint holds every weight: no ImageNet download first
model = dict(pretrained=None)
optim_wrapper = dict(optimizer=dict(lr=0.001))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
