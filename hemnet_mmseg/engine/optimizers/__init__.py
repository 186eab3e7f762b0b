from .autocast_optim_wrapper import AutocastOptimWrapper, unsupported_reason
from .precision_probe import cpu_has_native_bf16

__all__ = ['AutocastOptimWrapper', 'cpu_has_native_bf16', 'unsupported_reason']
