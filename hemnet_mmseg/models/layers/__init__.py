from .hem_module import HEMModule, check_em_args
from .highway_em import (
    EMResult,
    e_step,
    highway_step,
    log_likelihood,
    m_step,
    reconstruct,
    unrolled_em,
)

__all__ = [
    'HEMModule', 'check_em_args', 'EMResult', 'e_step', 'highway_step',
    'log_likelihood', 'm_step', 'reconstruct', 'unrolled_em'
]
