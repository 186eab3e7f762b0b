"""Prepare a checkpoint for release (mmseg's ``tools/misc/publish_model.py``
through the weights-only loader): ``python tools/publish_model.py IN OUT``.

The implementation lives in :mod:`hemnet_mmseg.cli.publish_model`."""
from hemnet_mmseg.cli.publish_model import cli

if __name__ == '__main__':
    cli()
