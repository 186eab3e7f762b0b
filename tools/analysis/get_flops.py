"""FLOPs and parameters of a segmentor, as mmseg's
``tools/analysis_tools/get_flops.py`` reports them (its 1.2.2 copy passes
both ``input_shape`` and ``inputs`` to MMEngine, which refuses: fixed
upstream after 1.2.2). Counted by MMEngine's ``get_model_complexity_info``
on one random image through the data preprocessor, the auxiliary head left
out, as mmseg does.

Usage::

    python tools/analysis/get_flops.py CONFIG [--shape H W] [--cfg-options ...]
"""
import argparse
from typing import Optional

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from hemnet_mmseg.cli.args import add_cfg_options
from hemnet_mmseg.cli.process import run_main
from hemnet_mmseg.utils import load_config, replace_syncbn


def main(argv: Optional[list] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[2048, 1024],
        metavar=('H', 'W'),
        help='input image size (default 2048 1024, as mmseg)')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model_cfg = replace_syncbn(cfg.model.to_dict())
    model_cfg['pretrained'] = None
    model = MODELS.build(model_cfg).eval()
    model.auxiliary_head = None
    shape = tuple(args.shape)
    data = model.data_preprocessor(
        dict(
            inputs=[torch.rand(3, *shape)],
            data_samples=[
                SegDataSample(metainfo=dict(ori_shape=shape, pad_shape=shape))
            ]))
    info = get_model_complexity_info(
        model, inputs=data['inputs'], show_table=False, show_arch=False)
    print(f'input shape: (3, {shape[0]}, {shape[1]})\n'
          f'flops: {info["flops_str"]}\nparams: {info["params_str"]}')
    return info


if __name__ == '__main__':
    run_main('get_flops', main)
