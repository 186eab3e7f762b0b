# HEMNet started from the model zoo's EMANet (its checkpoint loads strictly:
# the same parameter and buffer names) and fine-tuned like its EMANet twin.
_base_ = '../emanet/emanet_r50-d8_4xb2-8k_cityscapes-512x1024_from-zoo.py'
model = dict(decode_head=dict(type='HEMHead', step_size=0.5))
