# HEMNet: the EMANet twin's recipe with the highway-EM head.
_base_ = '../emanet/emanet_r101-d8_1xb8-20k_camvid-360x480.py'
model = dict(decode_head=dict(type='HEMHead', step_size=0.5))
