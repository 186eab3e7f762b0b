"""Segment one image and write the coloured overlay PNG (mmseg's
``init_model``, ``inference_model`` and ``SegLocalVisualizer``).

Bad input is refused before any inference: a missing, empty or unreadable
image, an output file type cv2 cannot write, a checkpoint of another model
(unless ``--allow-mismatched-keys``), and an image larger than
``--max-pixels`` after the config's test-time resize (memory grows with
the pixel count: an 8000x8000 image took over 8 GB with the toy config),
or larger than that as a file (decoding it takes its own size first).
"""
import argparse
import os
import os.path as osp
from typing import Optional, Tuple

import cv2
import mmcv

from hemnet_mmseg.checkpoint import check_checkpoint_file, init_model_checked
from hemnet_mmseg.utils import UserError, load_config
from .config_checks import check_device
from .outputs import check_output_file
from .process import run_main

#: default --max-pixels: 4096 x 4096 after the test-time resize
MAX_PIXELS = 4096 * 4096


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Segment one image')
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', required=True, help='output PNG: the overlay, image size')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --out')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--opacity',
        type=float,
        default=0.5,
        help='opacity of the painted segmentation, in (0, 1]')
    parser.add_argument(
        '--with-labels', action='store_true', help='write class names')
    parser.add_argument(
        '--max-pixels',
        type=int,
        default=MAX_PIXELS,
        help='refuse images with more pixels than this after the '
        f'test-time resize (default {MAX_PIXELS}: 4096 x 4096)')
    parser.add_argument(
        '--allow-mismatched-keys',
        action='store_true',
        help='run a checkpoint whose keys do not match the model')
    return parser.parse_args(argv)


def test_time_size(cfg, height: int, width: int) -> Tuple[int, int]:
    """(H, W) the model sees after the config's test pipeline resizes."""
    for step in cfg.get('test_pipeline', []):
        if step.get('type') != 'Resize':
            continue
        if step.get('scale') is not None:
            if step.get('keep_ratio', False):
                w, h = mmcv.rescale_size((width, height), tuple(step['scale']))
                return h, w
            w, h = step['scale']
            return h, w
        factor = step.get('scale_factor')
        if factor is not None:
            fw, fh = (factor, factor) if isinstance(factor,
                                                    (int, float)) else factor
            return int(height * fh + 0.5), int(width * fw + 0.5)
    return height, width


def image_size(path: str) -> Tuple[int, int]:
    """(H, W) of an image read from its header, without decoding the
    pixels (a 20000x20000 PNG of 389 KB decodes to 1.2 GB); with an EXIF
    rotation by 90 degrees applied, as the decoder will. A
    :class:`UserError` naming the file when it is missing, empty or not an
    image."""
    from PIL import Image
    if not osp.isfile(path):
        raise UserError(f'image not found: {path}')
    if osp.getsize(path) == 0:
        raise UserError(f'image is empty (0 bytes): {path}')
    bomb_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the size is what we want to read
    try:
        with Image.open(path) as img:
            width, height = img.size
            # Pillow decodes a whole PNG to look for its EXIF chunk: read
            # the tag only where it precedes the pixels
            orientation = int(img.getexif().get(0x0112, 1)
                              or 1) if (img.format in ('JPEG', 'MPO', 'TIFF',
                                                       'WEBP')) else 1
    except Exception as err:  # PIL's errors on a damaged or unknown file
        raise UserError(f'not a readable image: {path} ({err})') from err
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


def read_image(path: str):
    """The image as BGR uint8; a :class:`UserError` naming the file."""
    if not osp.isfile(path):
        raise UserError(f'image not found: {path}')
    if osp.getsize(path) == 0:
        raise UserError(f'image is empty (0 bytes): {path}')
    try:
        img = mmcv.imread(path)
    except Exception as err:  # cv2/PIL errors on a damaged file
        raise UserError(f'not a readable image: {path} ({err})') from err
    if img is None or img.size == 0:
        raise UserError(f'not a readable image: {path}')
    return img


def main(argv: Optional[list] = None) -> str:
    from mmseg.apis import inference_model, show_result_pyplot
    args = parse_args(argv)
    if not 0 < args.opacity <= 1:
        raise UserError(f'--opacity must be in (0, 1], got {args.opacity}')
    if args.max_pixels < 1:
        raise UserError(f'--max-pixels must be >= 1, got {args.max_pixels}')
    check_output_file(args.out, (args.img, args.config, args.checkpoint),
                      args.overwrite)
    if not cv2.haveImageWriter(args.out):
        raise UserError(f'--out {args.out}: cv2 cannot write this file '
                        'type; use .png (or .jpg)')
    device = check_device(args.device)
    cfg = load_config(args.config)
    check_checkpoint_file(args.checkpoint)
    height, width = image_size(args.img)
    h, w = test_time_size(cfg, height, width)
    # decoding takes the file's own size, whatever the resize does after
    for what, pixels in (('', height * width),
                         (f', {w}x{h} after the test-time resize', h * w)):
        if pixels > args.max_pixels:
            raise UserError(
                f'image {args.img} is {width}x{height}{what}: {pixels} '
                f'pixels, over --max-pixels {args.max_pixels}; memory grows '
                'with the pixel count: raise --max-pixels to run it anyway')
    img = read_image(args.img)
    model = init_model_checked(cfg, args.checkpoint, device,
                               not args.allow_mismatched_keys)
    result = inference_model(model, img)
    # mmseg's visualiser indexes a numpy mask with the label map; a torch
    # tensor of one element indexes as the integer 0 or 1 (IndexError on a
    # 1x1 image), a numpy array as a boolean mask
    result.pred_sem_seg.data = result.pred_sem_seg.data.cpu().numpy()
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
