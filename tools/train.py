"""Train a segmentor: ``python tools/train.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher pytorch]``.

The implementation lives in :mod:`hemnet_mmseg.cli.train` (also installed as
``hemnet-train``); this file keeps mmseg's ``tools/`` entry point."""
import os.path as osp
import sys

try:
    from hemnet_mmseg.cli.train import cli
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
    from hemnet_mmseg.cli.train import cli

if __name__ == '__main__':
    cli()
