# HEMNet: the EMANet twin's recipe with the highway-EM head.
_base_ = '../emanet/emanet_r101-d8_4xb4-80k_coco-stuff164k-512x512.py'
model = dict(decode_head=dict(type='HEMHead', step_size=0.5))
