from .float32_ema_module import Float32EMAModule
from .grad_modes import GRAD_MODES, em_step, em_with_grad_mode
from .hem_module import HEMModule
from .highway_em import (MIXINGS, EMResult, e_step, highway_step,
                         log_likelihood, m_step, reconstruct, unrolled_em)

__all__ = [
    'Float32EMAModule', 'GRAD_MODES', 'HEMModule', 'MIXINGS', 'EMResult',
    'e_step', 'em_step', 'em_with_grad_mode', 'highway_step', 'log_likelihood',
    'm_step', 'reconstruct', 'unrolled_em'
]
