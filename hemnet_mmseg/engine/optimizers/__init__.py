from .autocast_optim_wrapper import (AutocastOptimWrapper, cpu_has_native_bf16,
                                     unsupported_reason)

__all__ = ['AutocastOptimWrapper', 'cpu_has_native_bf16', 'unsupported_reason']
