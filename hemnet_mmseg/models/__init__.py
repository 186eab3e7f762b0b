from .backbones import PointwiseNet
from .decode_heads import Float32EMAHead, HEMHead
from .layers import Float32EMAModule, HEMModule

__all__ = [
    'Float32EMAHead', 'Float32EMAModule', 'HEMHead', 'HEMModule',
    'PointwiseNet'
]
