"""Train a segmentor: ``python tools/train.py CONFIG [--work-dir DIR]
[--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher pytorch]``.

The implementation lives in :mod:`hemnet_mmseg.cli.train` (also installed as
``hemnet-train``); this file keeps mmseg's ``tools/`` entry point. It needs the
package installed (``make setup`` installs it, editable, into ``.venv``)."""
from hemnet_mmseg.cli.train import cli

if __name__ == '__main__':
    cli()
