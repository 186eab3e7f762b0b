# HEMNet: the EMANet twin's recipe with the highway-EM head.
_base_ = '../emanet/emanet_r18-d8_1xb8-600_camvid-160x192.py'
# em_backward pinned to 'autograd', the backward every recorded CamVid study
# run trained with (docs/camvid_study.md); the default 'analytic' computes
# the same gradient, different in float32 round-off. A rerun matches a
# recorded run bit for bit only on the same CPU model and torch build.
model = dict(
    decode_head=dict(type='HEMHead', step_size=0.5, em_backward='autograd'))
