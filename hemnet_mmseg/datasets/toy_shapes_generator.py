"""Generate the embedded "toy shapes" segmentation data set.

Deterministic from a seed, in mmseg's usual layout::

    <root>/img_dir/{train,val}/<id>.png      RGB images
    <root>/ann_dir/{train,val}/<id>.png      uint8 label maps
    <root>/meta.json                         what was generated, and how

Each image is split by a random straight line into two background regions,
each either *calm* (low-amplitude noise) or *rough* (high-amplitude noise),
around the same random grey. Two to four discs and squares are painted on it,
each with a *striped* or *checkered* two-colour texture whose colours are
drawn from the same distribution as the background. The class of a shape
pixel is its texture crossed with the kind of region the shape's centre lies
in::

    0 background, 1 stripes/calm, 2 checker/calm, 3 stripes/rough,
    4 checker/rough

No single pixel tells its class: texture needs a neighbourhood, the region
kind needs context outside the shape. A 1x1 classifier therefore stays far
below a network with a receptive field (the README gives both numbers).

Run ``hemnet-make-toy-data [ROOT]`` or ``python -m
hemnet_mmseg.datasets.toy_shapes_generator [ROOT]``; the data set class also
generates it on first use.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Optional

import cv2
import numpy as np

from ..utils.errors import UserError

CLASSES = ('background', 'stripes-calm', 'checker-calm', 'stripes-rough',
           'checker-rough')
PALETTE = [[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
           [0, 130, 200]]
DEFAULTS = dict(num_train=400, num_val=100, size=64, seed=0)
META_FILE = 'meta.json'


def _texture(kind: int, h: int, w: int, period: int,
             rng: np.random.Generator) -> np.ndarray:
    """0/1 pattern (h, w): 0 stripes (random orientation), 1 checker."""
    yy, xx = np.mgrid[0:h, 0:w]
    half = period // 2
    if kind == 0:
        coord = yy if rng.random() < 0.5 else xx
        return (coord // half) % 2
    return ((yy // half) + (xx // half)) % 2


def make_sample(size: int, rng: np.random.Generator):
    """One image (size, size, 3) uint8 and its label map (size, size)."""
    h = w = size
    grey = rng.uniform(70, 185)
    # split line through the image: points with a.x + b.y > c are region 1
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = np.cos(angle) * xx + np.sin(angle) * yy
    cut = rng.uniform(np.percentile(proj, 25), np.percentile(proj, 75))
    side = (proj > cut).astype(np.int64)
    rough = rng.permutation(2) if rng.random() < 0.7 else \
        np.array([rng.integers(2)] * 2)
    region_rough = rough[side]  # (h, w) 0 calm, 1 rough
    amplitude = np.where(region_rough == 1, 55.0, 8.0)[..., None]
    img = grey + amplitude * rng.standard_normal((h, w, 3))
    label = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(2, 5)):
        r = int(rng.integers(size // 10, size // 5 + 1))
        cy, cx = (int(v) for v in rng.integers(r, size - r, size=2))
        if rng.random() < 0.5:
            mask = (yy - cy)**2 + (xx - cx)**2 <= r * r
        else:
            mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        kind = int(rng.integers(2))
        pattern = _texture(kind, h, w, int(rng.choice([4, 6])), rng)
        base = grey + rng.uniform(-50, 50, size=3)
        # the two colours differ by at least 35 per channel: visible texture
        delta = rng.choice([-1, 1], size=3) * rng.uniform(35, 60, size=3)
        colours = np.stack([base - delta / 2, base + delta / 2])
        shape_img = np.where(pattern[..., None] == 1, colours[1], colours[0])
        img[mask] = shape_img[mask] + 4.0 * rng.standard_normal(
            (int(mask.sum()), 3))
        label[mask] = 1 + kind + 2 * int(region_rough[cy, cx])
    return np.clip(img, 0, 255).astype(np.uint8), label


def generate(root: str,
             num_train: int = DEFAULTS['num_train'],
             num_val: int = DEFAULTS['num_val'],
             size: int = DEFAULTS['size'],
             seed: int = DEFAULTS['seed']) -> str:
    """Write the data set under ``root`` (atomically); return ``root``.

    Existing data with a ``meta.json`` is kept as it is.

    Raises:
        UserError: ``root`` is a file, or a folder that holds files but no
            ``meta.json`` (something else than this data set).
    """
    if osp.isfile(osp.join(root, META_FILE)):
        return root
    if osp.exists(root) and (not osp.isdir(root) or os.listdir(root)):
        raise UserError(
            f'toy data root {root} exists and is not a toy shapes data set '
            f'(no {META_FILE}); point data_root at a new or empty folder')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.toy_shapes_', dir=parent)
    try:
        rng = np.random.default_rng(seed)
        for split, count in (('train', num_train), ('val', num_val)):
            os.makedirs(osp.join(tmp, 'img_dir', split))
            os.makedirs(osp.join(tmp, 'ann_dir', split))
            for i in range(count):
                img, label = make_sample(size, rng)
                name = f'{split}_{i:05d}.png'
                # cv2 writes BGR; mmseg reads images with cv2 as BGR too
                cv2.imwrite(osp.join(tmp, 'img_dir', split, name), img)
                cv2.imwrite(osp.join(tmp, 'ann_dir', split, name), label)
        meta = dict(
            generator='hemnet_mmseg.datasets.toy_shapes_generator',
            classes=CLASSES,
            num_train=num_train,
            num_val=num_val,
            size=size,
            seed=seed)
        with open(osp.join(tmp, META_FILE), 'w') as f:
            json.dump(meta, f, indent=2)
        try:
            os.rename(tmp, root)
        except OSError:
            # another process (a second rank) finished first: keep its copy
            if not osp.isfile(osp.join(root, META_FILE)):
                raise
    finally:
        if osp.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(
        description='Generate the toy shapes segmentation data set.')
    parser.add_argument('root', nargs='?', default='data/toy_shapes')
    for key, value in DEFAULTS.items():
        parser.add_argument(
            f'--{key.replace("_", "-")}', type=int, default=value)
    args = parser.parse_args(argv)
    try:
        generate(args.root, args.num_train, args.num_val, args.size, args.seed)
    except UserError as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    print(f'toy shapes data set at {osp.abspath(args.root)}')


if __name__ == '__main__':
    main()
