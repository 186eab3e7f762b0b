"""Export a segmentor to ONNX and check it against PyTorch with ONNX Runtime.

The exported graph is the whole segmentor in evaluation: the data
preprocessor's channel order and normalisation, the backbone, the decode
head, and the logits resized to the input, so that it takes what
``mmcv.imread`` gives (an image batch ``(B, 3, H, W)``, float, BGR, 0-255)
and returns per-class logits ``(B, num_classes, H, W)``; batch size and
image size are dynamic. Opset 11 through the TorchScript exporter by
default (``dynamo=False``; HEMHead uses no ``einsum``, which mmseg's
``EMAHead`` needs and opset 11 lacks), or the current default exporter with
``--dynamo`` (needs ``onnxscript``; opset 18 and up).

At the end the export is checked with ONNX Runtime (the ``deploy`` extra)
on random images of two sizes, or on ``--images``: the largest absolute
logit difference and the share of pixels whose argmax agrees are printed,
and a difference past ``--atol`` is an error (exit status 2).

Usage::

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx
"""
import argparse
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from hemnet_mmseg.checkpoint import check_checkpoint_file, init_model_checked
from hemnet_mmseg.utils import UserError, load_config, replace_syncbn
from .outputs import check_output_file
from .process import run_main


class ExportWrapper(torch.nn.Module):
    """A segmentor as ``image (B, 3, H, W) BGR 0-255 -> logits (B,
    num_classes, H, W)``: the preprocessor's channel order and
    normalisation, ``mode='tensor'``, then the logits resized to the input
    (as ``postprocess_result`` does)."""

    def __init__(self, segmentor: torch.nn.Module) -> None:
        super().__init__()
        self.segmentor = segmentor
        pre = segmentor.data_preprocessor
        self.flip = bool(getattr(pre, 'channel_conversion', False))
        self.register_buffer(
            'mean',
            getattr(pre, 'mean', torch.zeros(3, 1, 1)).clone(), False)
        self.register_buffer('std',
                             getattr(pre, 'std', torch.ones(3, 1, 1)).clone(),
                             False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.flip:
            image = image.flip(1)
        logits = self.segmentor((image - self.mean) / self.std, mode='tensor')
        return F.interpolate(
            logits,
            size=image.shape[2:],
            mode='bilinear',
            align_corners=self.segmentor.align_corners)


def build_segmentor(config: str,
                    checkpoint: str,
                    strict: bool = True) -> torch.nn.Module:
    """The config's segmentor with the checkpoint's weights, in evaluation,
    on the CPU, BN for SyncBN (checked, loaded weights-only)."""
    check_checkpoint_file(checkpoint)
    cfg = load_config(config)
    replace_syncbn(cfg.model)
    cfg.model.pretrained = None
    return init_model_checked(cfg, checkpoint, 'cpu', strict).eval()


def export(model: torch.nn.Module,
           out: str,
           shape=(64, 64),
           opset: int = 11,
           dynamo: bool = False) -> ExportWrapper:
    """Write ``model`` (a segmentor in evaluation) as ONNX to ``out``.

    Returns:
        ExportWrapper: what was exported (for the parity check).
    """
    wrapper = ExportWrapper(model).eval()
    image = torch.rand(1, 3, *shape) * 255
    dims = {0: 'batch', 2: 'height', 3: 'width'}
    kwargs = dict(
        opset_version=opset,
        input_names=['image'],
        output_names=['logits'],
        dynamo=dynamo)
    if dynamo:
        dim = torch.export.Dim.DYNAMIC
        kwargs['dynamic_shapes'] = ({0: dim, 2: dim, 3: dim}, )
    else:
        kwargs['dynamic_axes'] = dict(image=dims, logits=dims)
    with torch.no_grad():
        torch.onnx.export(wrapper, (image, ), out, **kwargs)
    return wrapper


def parity(wrapper: ExportWrapper,
           out: str,
           images: List[np.ndarray],
           threads: int = 0) -> dict:
    """ONNX Runtime against PyTorch on ``images`` ((H, W, 3) BGR arrays):
    the largest absolute logit difference and the share of pixels whose
    argmax agrees."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(
        out, options, providers=['CPUExecutionProvider'])
    worst, agree, pixels = 0.0, 0, 0
    for img in images:
        batch = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1)[None])).float()
        with torch.no_grad():
            expected = wrapper(batch).numpy()
        (got, ) = session.run(None, {'image': batch.numpy()})
        worst = max(worst, float(np.abs(got - expected).max()))
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        pixels += expected.shape[0] * expected.shape[2] * expected.shape[3]
    return dict(max_abs_diff=worst, argmax_agreement=agree / pixels)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a segmentor to ONNX and check it')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --out')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=[64, 64],
        metavar=('H', 'W'),
        help='the image size traced (sizes stay dynamic)')
    parser.add_argument(
        '--opset',
        type=int,
        default=None,
        help='ONNX opset (default 11; with --dynamo, the exporter\'s)')
    parser.add_argument(
        '--dynamo',
        action='store_true',
        help='torch\'s current default exporter (needs onnxscript)')
    parser.add_argument(
        '--images', nargs='+', help='images to check on (default: random)')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-3,
        help='largest logit difference accepted (default 1e-3)')
    parser.add_argument(
        '--allow-mismatched-keys',
        action='store_true',
        help='export a checkpoint whose keys do not match the model')
    args = parser.parse_args(argv)
    if min(args.shape) < 1:
        parser.error(f'--shape must be positive, got {args.shape}')
    if not args.atol > 0:
        parser.error(f'--atol must be > 0, got {args.atol}')
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    check_output_file(args.out, (args.config, args.checkpoint), args.overwrite)
    if args.dynamo:
        try:
            import onnxscript  # noqa: F401
        except ImportError:
            raise UserError('--dynamo needs onnxscript: pip install '
                            '"hemnet_mmseg[deploy]"') from None
    model = build_segmentor(args.config, args.checkpoint,
                            not args.allow_mismatched_keys)
    opset = args.opset or (None if args.dynamo else 11)
    wrapper = export(model, args.out, tuple(args.shape), opset, args.dynamo)
    files = [p for p in (args.out, args.out + '.data') if osp.isfile(p)]
    try:
        import onnx
        opset = onnx.load(args.out, load_external_data=False).opset_import[0]
        opset = opset.version
    except ImportError:  # the deploy extra is not installed
        pass
    print(f'exported {" and ".join(files)} (opset {opset or "default"}, '
          f'{"dynamo" if args.dynamo else "TorchScript"} exporter, '
          f'{sum(map(osp.getsize, files)) / 2**20:.1f} MiB)')
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('parity not checked: onnxruntime is not installed '
              '(pip install "hemnet_mmseg[deploy]")')
        return {}
    if args.images:
        import mmcv
        for path in args.images:
            if not osp.isfile(path):
                raise UserError(f'image not found: {path}')
        images = [mmcv.imread(p).astype(np.float32) for p in args.images]
    else:
        gen = np.random.default_rng(0)
        h, w = args.shape
        images = [
            gen.uniform(0, 255, (h, w, 3)).astype(np.float32),
            gen.uniform(0, 255, (h + 16, w * 2, 3)).astype(np.float32)
        ]
    result = parity(wrapper, args.out, images)
    print(f'ONNX Runtime against PyTorch on {len(images)} image(s): largest '
          f'logit difference {result["max_abs_diff"]:.2e}, argmax agreement '
          f'{result["argmax_agreement"]:.2%}')
    if result['max_abs_diff'] > args.atol:
        raise UserError(f'the export differs from PyTorch by '
                        f'{result["max_abs_diff"]:.2e}, more than --atol '
                        f'{args.atol:g}')
    return result


def cli(argv: Optional[list] = None) -> None:
    run_main('export_onnx', main, argv)


if __name__ == '__main__':
    cli()
