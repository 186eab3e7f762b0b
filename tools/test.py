"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT
[--work-dir DIR] [--out DIR] [--show] [--show-dir DIR] [--tta]
[--cfg-options k=v ...] [--launcher pytorch]``.

The implementation lives in :mod:`hemnet_mmseg.cli.test` (also installed as
``hemnet-test``); this file keeps mmseg's ``tools/`` entry point."""
import os.path as osp
import sys

try:
    from hemnet_mmseg.cli.test import cli
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
    from hemnet_mmseg.cli.test import cli

if __name__ == '__main__':
    cli()
