"""Prepare the inputs of ``tools/gpu_check.sh`` in one git-ignored folder.

A GPU machine may see only the checkout (no ``../shared``, no network), so
everything the check needs travels inside it, in ``gpu_inputs/`` (ignored by
git, about 30 MB):

* ``wheelhouse/``: the stack's wheels and mmcv's source for a machine whose
  Python already holds a CUDA torch (copied from
  ``../shared/wheelhouse-cuda-py312``, checked against its SHA256SUMS);
* ``camvid/``: CamVid train/val re-encoded as JPEG (quality 90 by default;
  labels stay PNG). Lossy: numbers from it are not comparable with PNG runs.

Usage::

    python tools/prepare_gpu_inputs.py [--out gpu_inputs] [--limit N]
"""
import argparse
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Optional

import cv2

REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
SHARED = osp.normpath(osp.join(REPO, '..', 'shared'))
SPLITS = (('train', 'trainannot'), ('val', 'valannot'))


def copy_wheelhouse(src: str, dst: str) -> int:
    """Copy the wheelhouse, verifying SHA256SUMS; returns the bytes."""
    os.makedirs(dst, exist_ok=True)
    sums = osp.join(src, 'SHA256SUMS')
    expected = {}
    if osp.isfile(sums):
        with open(sums) as f:
            for line in f:
                digest, name = line.split()
                expected[name.lstrip('*')] = digest
    total = 0
    for path in sorted(glob.glob(osp.join(src, '*'))):
        name = osp.basename(path)
        with open(path, 'rb') as f:
            data = f.read()
        if name in expected and hashlib.sha256(data).hexdigest() != \
                expected[name]:
            raise SystemExit(f'{path}: SHA256 does not match SHA256SUMS')
        shutil.copy(path, osp.join(dst, name))
        total += len(data)
    return total


def reencode_camvid(src: str, dst: str, quality: int,
                    limit: Optional[int]) -> dict:
    """JPEG images and PNG labels per split; returns counts and bytes."""
    counts, total = {}, 0
    for img_dir, ann_dir in SPLITS:
        os.makedirs(osp.join(dst, img_dir), exist_ok=True)
        os.makedirs(osp.join(dst, ann_dir), exist_ok=True)
        images = sorted(glob.glob(osp.join(src, img_dir, '*.png')))[:limit]
        for path in images:
            stem = osp.splitext(osp.basename(path))[0]
            out = osp.join(dst, img_dir, f'{stem}.jpg')
            cv2.imwrite(out, cv2.imread(path),
                        [cv2.IMWRITE_JPEG_QUALITY, quality])
            label = osp.join(dst, ann_dir, f'{stem}.png')
            shutil.copy(osp.join(src, ann_dir, f'{stem}.png'), label)
            total += osp.getsize(out) + osp.getsize(label)
        counts[img_dir] = len(images)
    return dict(images=counts, bytes=total)


def main(argv: Optional[list] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=osp.join(REPO, 'gpu_inputs'))
    parser.add_argument('--camvid', default=osp.join(SHARED, 'data', 'camvid'))
    parser.add_argument(
        '--wheelhouse', default=osp.join(SHARED, 'wheelhouse-cuda-py312'))
    parser.add_argument('--quality', type=int, default=90)
    parser.add_argument(
        '--limit',
        type=int,
        default=None,
        help='at most N images per split (for rehearsals)')
    args = parser.parse_args(argv)
    for path in (args.camvid, args.wheelhouse):
        if not osp.isdir(path):
            parser.error(f'not found: {path}')
    if not 1 <= args.quality <= 100:
        parser.error(f'--quality must be in [1, 100], got {args.quality}')
    manifest = dict(
        wheelhouse_bytes=copy_wheelhouse(args.wheelhouse,
                                         osp.join(args.out, 'wheelhouse')),
        camvid=reencode_camvid(args.camvid, osp.join(args.out, 'camvid'),
                               args.quality, args.limit),
        jpeg_quality=args.quality,
        note='CamVid images re-encoded as JPEG: numbers are not comparable '
        'with runs on the PNG originals')
    with open(osp.join(args.out, 'MANIFEST.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
    mb = (manifest['wheelhouse_bytes'] + manifest['camvid']['bytes']) / 2**20
    print(f'wrote {args.out}: {mb:.1f} MB ({manifest["camvid"]["images"]})')
    return manifest


if __name__ == '__main__':
    main()
