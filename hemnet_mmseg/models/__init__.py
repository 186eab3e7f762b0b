from .backbones import PointwiseNet
from .decode_heads import HEMHead
from .layers import HEMModule

__all__ = ['HEMHead', 'HEMModule', 'PointwiseNet']
