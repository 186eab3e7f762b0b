from .float32_ema_head import Float32EMAHead
from .hem_head import HEMHead

__all__ = ['Float32EMAHead', 'HEMHead']
