"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT
[--work-dir DIR] [--out DIR] [--show] [--show-dir DIR] [--tta]
[--cfg-options k=v ...] [--launcher pytorch]``.

The implementation lives in :mod:`hemnet_mmseg.cli.test` (also installed as
``hemnet-test``); this file keeps mmseg's ``tools/`` entry point. It needs the
package installed (``make setup`` installs it, editable, into ``.venv``)."""
from hemnet_mmseg.cli.test import cli

if __name__ == '__main__':
    cli()
