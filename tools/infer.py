"""Segment one image: ``python tools/infer.py IMAGE CONFIG CHECKPOINT
--out FILE.png [--device cpu] [--opacity 0.5]``.

The implementation lives in :mod:`hemnet_mmseg.cli.infer` (also installed
as ``hemnet-infer``); this file keeps mmseg's ``tools/`` entry point."""
import os.path as osp
import sys

try:
    from hemnet_mmseg.cli.infer import cli
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
    from hemnet_mmseg.cli.infer import cli

if __name__ == '__main__':
    cli()
