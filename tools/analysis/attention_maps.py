"""Attention maps of HEMNet: the responsibilities Z of a few bases at every
unrolled EM iteration, over the image (the paper shows them per GEM layer).

Usage::

    python tools/analysis/attention_maps.py CONFIG CHECKPOINT IMAGE \
        --out maps.png [--bases 3 7 12] [--num-bases 4]

Rows are bases (by default the ones with the most responsibility mass at
the last iteration), columns the iterations t = 1..T; each cell is the
image with z_nk painted as a heat map (normalised per cell).
"""
import argparse
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np

from hemnet_mmseg.analysis import find_hem_module, trace_em
from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             check_output_arguments)
from hemnet_mmseg.checkpoint import check_checkpoint_file
from hemnet_mmseg.cli.process import run_main
from hemnet_mmseg.utils import UserError


def responsibilities(config: str,
                     checkpoint: str,
                     image: np.ndarray,
                     device: str = 'cpu'):
    """Run the segmentor on one BGR image; return Z(1..T) as (T, h, w, K)."""
    from mmseg.apis import inference_model, init_model
    model = init_model(config, checkpoint, device=device)
    module = find_hem_module(model.decode_head)
    with trace_em(module) as traces:
        inference_model(model, image)
    h, w = traces[0].shape
    resp = [
        z[0].reshape(h, w, -1).float().cpu().numpy()
        for z in traces[0].result.resp_history
    ]
    return np.stack(resp)


def grid(image: np.ndarray,
         resp: np.ndarray,
         bases: List[int],
         cell: int = 160) -> np.ndarray:
    """Rows: bases; columns: iterations. Returns a BGR uint8 image."""
    T = resp.shape[0]
    scale = cell / max(image.shape[:2])
    size = (int(image.shape[1] * scale), int(image.shape[0] * scale))
    base_img = cv2.resize(image, size)
    rows = []
    for k in bases:
        cells = []
        for t in range(T):
            z = cv2.resize(
                resp[t, :, :, k], size, interpolation=cv2.INTER_LINEAR)
            z = (z - z.min()) / max(z.max() - z.min(), 1e-12)
            heat = cv2.applyColorMap((255 * z).astype(np.uint8),
                                     cv2.COLORMAP_JET)
            c = cv2.addWeighted(base_img, 0.5, heat, 0.5, 0)
            cv2.putText(c, f'k={k} t={t + 1}', (4, 14),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            cells.append(np.pad(c, ((1, 1), (1, 1), (0, 0))))
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    add_output_arguments(parser, 'PNG output path', plot=False)
    parser.add_argument(
        '--bases', type=int, nargs='+', help='which bases k to show')
    parser.add_argument(
        '--num-bases',
        type=int,
        default=4,
        help='without --bases: the N with the most mass')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args(argv)
    check_output_arguments(parser, args, args.image)
    return args


def main(argv: Optional[list] = None) -> str:
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.image, 'image')):
        if not osp.isfile(path):
            raise UserError(f'{what} not found: {path}')
    check_checkpoint_file(args.checkpoint)
    image = cv2.imread(args.image)
    if image is None:
        raise UserError(f'not a readable image: {args.image}')
    resp = responsibilities(args.config, args.checkpoint, image, args.device)
    K = resp.shape[-1]
    if args.bases:
        bad = [k for k in args.bases if not 0 <= k < K]
        if bad:
            raise UserError(f'--bases must be in [0, {K - 1}], got {bad}')
        bases = args.bases
    else:
        mass = resp[-1].reshape(-1, K).sum(0)
        bases = [int(k) for k in np.argsort(-mass)[:args.num_bases]]
    out = grid(image, resp, bases)
    cv2.imwrite(args.out, out)
    print(f'wrote {args.out}: bases {bases} x {resp.shape[0]} iterations')
    return args.out


if __name__ == '__main__':
    run_main('attention_maps', main)
