# HEMNet on the embedded toy data set: the EMANet twin's recipe, HEMHead.
_base_ = ['../emanet/emanet_r18-d8_1xb8-1k_toy-shapes-64x64.py']
model = dict(decode_head=dict(type='HEMHead', step_size=0.5))
