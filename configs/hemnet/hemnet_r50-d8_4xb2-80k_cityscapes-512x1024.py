# HEMNet: the EMANet twin's recipe with the highway-EM head.
_base_ = '../emanet/emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py'
model = dict(decode_head=dict(type='HEMHead', step_size=0.5))
