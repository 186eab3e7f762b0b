"""hemnet_mmseg: HEMNet (Highway Expectation Maximization Networks) for
MMSegmentation 1.x.

Importing the package registers ``HEMHead`` (and the project's data sets) in
mmseg's registries, makes ``hemnet_mmseg::`` config paths resolve, and makes
torch's weights-only loader MMEngine's loader for local checkpoint files and
model zoo URLs (``weights_only=True`` passed explicitly, the globals genuine
MMEngine checkpoints need allow-listed for those loads only, and the config
text stored in a checkpoint never executed).

Paper: Song, Kim, Shim, *Improving Gradient Flow with Unrolled Highway
Expectation Maximization*, AAAI 2021, https://arxiv.org/abs/2012.04926.
"""
from .checkpoint import register_checkpoint_loader
from .utils import register_config_prefix
from .version import __version__

# what makes mmseg's own tools and hemnet_mmseg:: configs work through
# custom_imports: the weights-only loader (with its allow-list in force for
# its own loads only) and the config scope
register_checkpoint_loader()
register_config_prefix()

from . import engine, registry  # noqa: E402,F401
from .datasets import CamVidDataset, ToyShapesDataset  # noqa: E402,F401
from .models import HEMHead, HEMModule  # noqa: E402,F401

__all__ = ['__version__', 'HEMHead', 'HEMModule']
