from .float32_ema_module import Float32EMAModule
from .hem_module import CHECKERS, HEMModule
from .highway_em import (MIXINGS, EMResult, e_step, highway_step,
                         log_likelihood, m_step, reconstruct, unrolled_em)

__all__ = [
    'Float32EMAModule', 'CHECKERS', 'HEMModule', 'MIXINGS', 'EMResult',
    'e_step', 'highway_step', 'log_likelihood', 'm_step', 'reconstruct',
    'unrolled_em'
]
