"""The contenders of the cost measurements, with the same weights: the
decode heads (EMANet's, HEMNet's variants) and the R50-D8 Cityscapes
segmentors of the paired configs. ``tools/analysis/benchmark.py`` times
them; ``tools/analysis/profile_heads.py`` profiles them.

Shapes: heads take (B, C_in, H, W) features; segmentors (B, 3, H, W)
images.
"""
import os.path as osp
from typing import Dict

import torch
from mmseg.models.decode_heads.ema_head import EMAHead

from hemnet_mmseg.models import Float32EMAHead, HEMHead
from hemnet_mmseg.utils import replace_syncbn

#: the repository's configs (the segmentor contenders are built from them)
CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'configs')
#: the autocast dtypes the measurements take
DTYPES = dict(float16=torch.float16, bfloat16=torch.bfloat16)


def make_heads(args, in_channels: int,
               device: torch.device) -> Dict[str, torch.nn.Module]:
    """The head contenders with EMAHead's weights.

    Args:
        args: ``ema_channels``, ``num_bases``, ``norm`` and ``compile``
            (add ``hem_compiled``, ``hem`` through ``torch.compile``).
        in_channels (int): C_in of the heads' input.
        device (torch.device): where they live.

    Returns:
        dict: name -> head.
    """
    cfg = dict(
        in_channels=in_channels,
        in_index=0,
        channels=256,
        ema_channels=args.ema_channels,
        num_bases=args.num_bases,
        num_stages=3,
        num_classes=19,
        dropout_ratio=0.1,
        norm_cfg=dict(type=args.norm, requires_grad=True),
        align_corners=False)
    torch.manual_seed(0)
    heads = dict(
        ema=EMAHead(**cfg),
        hem=HEMHead(**cfg),
        hem_raw=HEMHead(highway_mixing='raw', **cfg),
        unrolled=HEMHead(step_size=1.0, **cfg),
        f32ema=Float32EMAHead(**cfg),
        hem_autograd=HEMHead(em_backward='autograd', **cfg),
        hem_one_step=HEMHead(grad_mode='one_step', **cfg),
        hem_implicit=HEMHead(grad_mode='implicit', **cfg))
    if args.compile:
        heads['hem_compiled'] = HEMHead(**cfg)
    state = heads['ema'].state_dict()
    for name in heads:
        heads[name].load_state_dict(state)
    heads = {k: v.to(device) for k, v in heads.items()}
    if args.compile:
        heads['hem_compiled'] = torch.compile(heads['hem_compiled'])
    return heads


#: segmentor contenders: (config algo, decode head changes)
SEGMENTORS = dict(
    emanet=('emanet', {}),
    f32emanet=('emanet', dict(type='Float32EMAHead')),
    hemnet=('hemnet', {}),
    hemnet_autograd=('hemnet', dict(em_backward='autograd')))


def build_segmentors(args, device):
    """The R50-D8 Cityscapes segmentors of :data:`SEGMENTORS` with the same
    weights, and ``loss_fn(model)`` (a closure summing the losses of one
    random batch).

    Returns:
        tuple: ``{name: model}``, ``loss_fn``.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    init_default_scope('mmseg')
    H, W = args.seg_size
    models = {}
    for name, (algo, head) in SEGMENTORS.items():
        cfg = Config.fromfile(
            osp.join(CONFIGS, algo,
                     f'{algo}_r50-d8_4xb2-80k_cityscapes-512x1024.py'))
        mcfg = cfg.model.to_dict()
        mcfg['pretrained'] = None
        mcfg['decode_head'].update(head)
        if device.type != 'cuda' or args.norm == 'BN':
            replace_syncbn(mcfg)
        torch.manual_seed(0)
        models[name] = MODELS.build(mcfg).to(device)
    state = models['emanet'].state_dict()
    for model in models.values():
        model.load_state_dict(state)
    B = args.seg_batch
    imgs = torch.randn(B, 3, H, W, device=device)
    samples = []
    for _ in range(B):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 19, (1, H, W), device=device))
        s.set_metainfo(
            dict(img_shape=(H, W), pad_shape=(H, W), ori_shape=(H, W)))
        samples.append(s)

    def loss_fn(model):

        def fn():
            losses = model(imgs, samples, mode='loss')
            return sum(v for k, v in losses.items() if 'loss' in k)

        return fn

    loss_fn.inputs = (imgs, samples)
    return models, loss_fn
