from .em_settings import (EM_BACKWARDS, GRAD_MODES, MIXINGS, SETTINGS,
                          EMSettings, SettingError)
from .float32_ema_module import Float32EMAModule
from .grad_modes import em_with_grad_mode
from .hem_module import HEMModule
from .highway_em import (EMResult, e_step, em_iteration, highway_step,
                         log_likelihood, m_step, reconstruct, unrolled_em)

__all__ = [
    'EM_BACKWARDS', 'GRAD_MODES', 'MIXINGS', 'SETTINGS', 'EMSettings',
    'SettingError', 'Float32EMAModule', 'HEMModule', 'EMResult', 'e_step',
    'em_iteration', 'em_with_grad_mode', 'highway_step', 'log_likelihood',
    'm_step', 'reconstruct', 'unrolled_em'
]
