# The CamVid CPU recipe on a longer schedule (the second CamVid study):
# 1600 iterations, poly LR to the end, validation every 200. Learned initial
# bases (HEMHead learn_bases=True, an ablation) are excluded from weight
# decay; while mu(0) is a buffer that key matches no parameter.
_base_ = './emanet_r18-d8_1xb8-600_camvid-160x192.py'
max_iters = 1600
# bf16 where the CPU runs it natively, as pre-registered for the CamVid
# studies of rounds 2 and 3 (not the 600-iteration recipe's 'auto' probe,
# so that a study's precision cannot depend on a measurement).
optim_wrapper = dict(
    dtype='bfloat16',
    fallback_float32=True,
    paramwise_cfg=dict(custom_keys={'ema_module.bases': dict(decay_mult=0.)}))
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
