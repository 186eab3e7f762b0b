# HEMNet: the EMANet twin's recipe with the highway-EM head.
_base_ = '../emanet/emanet_r18-d8_1xb8-1600_camvid-160x192.py'
model = dict(decode_head=dict(type='HEMHead', step_size=0.5, backprop_em=True))
