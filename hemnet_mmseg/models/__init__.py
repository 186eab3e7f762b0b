from .decode_heads import HEMHead
from .layers import HEMModule

__all__ = ['HEMHead', 'HEMModule']
