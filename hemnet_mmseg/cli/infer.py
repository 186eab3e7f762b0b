"""Segment one image and write the coloured overlay PNG (mmseg's
``init_model``, ``inference_model`` and ``SegLocalVisualizer``)."""
import argparse
import os
import os.path as osp
from typing import Optional

import mmcv

from .common import UserError, check_checkpoint_file, run_main


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Segment one image')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', required=True, help='output PNG: the overlay, image size')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--opacity',
        type=float,
        default=0.5,
        help='opacity of the painted segmentation, in (0, 1]')
    parser.add_argument(
        '--with-labels', action='store_true', help='write class names')
    return parser.parse_args(argv)


def main(argv: Optional[list] = None) -> str:
    from mmseg.apis import inference_model, init_model, show_result_pyplot
    args = parse_args(argv)
    if not osp.isfile(args.img):
        raise UserError(f'image not found: {args.img}')
    if not osp.isfile(args.config):
        raise UserError(f'config file not found: {args.config}')
    if not 0 < args.opacity <= 1:
        raise UserError(f'--opacity must be in (0, 1], got {args.opacity}')
    check_checkpoint_file(args.checkpoint)
    img = mmcv.imread(args.img)
    if img is None:
        raise UserError(f'not a readable image: {args.img}')
    model = init_model(args.config, args.checkpoint, device=args.device)
    result = inference_model(model, img)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    show_result_pyplot(
        model,
        img,
        result,
        opacity=args.opacity,
        with_labels=args.with_labels,
        show=False,
        out_file=args.out)
    print(f'overlay written to {args.out}')
    return args.out


def cli(argv: Optional[list] = None) -> None:
    run_main('infer', main, argv)


if __name__ == '__main__':
    cli()
