"""hemnet_mmseg: HEMNet (Highway Expectation Maximization Networks) for
MMSegmentation 1.x.

Importing the package registers ``HEMHead`` (and the project's data sets) in
mmseg's registries, makes ``hemnet_mmseg::`` config paths resolve, and
allow-lists the globals genuine MMEngine checkpoints need for torch's
weights-only loader.

Paper: Song, Kim, Shim, *Improving Gradient Flow with Unrolled Highway
Expectation Maximization*, AAAI 2021, https://arxiv.org/abs/2012.04926.
"""
import warnings

# mmengine 0.10.7 imports pkg_resources, which setuptools<82 (pinned for it)
# deprecates loudly on every start; it is known and harmless here.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)

from .utils import register_config_prefix, register_safe_globals  # noqa
from .version import __version__  # noqa: E402

register_safe_globals()
register_config_prefix()

from . import engine, registry  # noqa: E402,F401
from .datasets import CamVidDataset, ToyShapesDataset  # noqa: E402,F401
from .models import HEMHead, HEMModule  # noqa: E402,F401

__all__ = ['__version__', 'HEMHead', 'HEMModule']
