"""hemnet_mmseg: HEMNet (Highway Expectation Maximization Networks) for
MMSegmentation 1.x.

Importing the package registers ``HEMHead`` (and the project's data sets) in
mmseg's registries, makes ``hemnet_mmseg::`` config paths resolve,
allow-lists the globals genuine MMEngine checkpoints need for torch's
weights-only loader, and makes that loader (with ``weights_only=True``
passed explicitly, and the config text stored in a checkpoint never
executed) MMEngine's loader for local checkpoint files.

Paper: Song, Kim, Shim, *Improving Gradient Flow with Unrolled Highway
Expectation Maximization*, AAAI 2021, https://arxiv.org/abs/2012.04926.
"""
from .utils import (register_checkpoint_loader, register_config_prefix,
                    register_safe_globals)
from .version import __version__

# what makes mmseg's own tools and hemnet_mmseg:: configs work through
# custom_imports: the weights-only allow-list and loader, and the scope
register_safe_globals()
register_checkpoint_loader()
register_config_prefix()

from . import engine, registry  # noqa: E402,F401
from .datasets import CamVidDataset, ToyShapesDataset  # noqa: E402,F401
from .models import HEMHead, HEMModule  # noqa: E402,F401

__all__ = ['__version__', 'HEMHead', 'HEMModule']
