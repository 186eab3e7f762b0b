"""Segment one image: ``python tools/infer.py IMAGE CONFIG CHECKPOINT
--out FILE.png [--device cpu] [--opacity 0.5]``.

The implementation lives in :mod:`hemnet_mmseg.cli.infer` (also installed as
``hemnet-infer``); this file keeps mmseg's ``tools/`` entry point. It needs the
package installed (``make setup`` installs it, editable, into ``.venv``)."""
from hemnet_mmseg.cli.infer import cli

if __name__ == '__main__':
    cli()
