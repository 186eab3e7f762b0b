"""AutocastOptimWrapper: mixed precision without loss scaling, on CPUs too.

MMEngine's ``AmpOptimWrapper`` asserts a CUDA, NPU, MLU or MUSA device and
always scales the loss (what fp16 needs). bfloat16 has float32's exponent
range and needs no loss scaling, and some CPUs run it natively (whether it
is faster depends on the CPU: docs/analysis.md, "Mixed precision on the
CPU", gives the measured figures). This wrapper is a plain ``OptimWrapper``
whose ``optim_context`` enters ``mmengine.runner.amp.autocast`` with the
chosen dtype, on whatever device MMEngine runs on.

A CPU runs bf16 natively only with AVX512-BF16 or AMX
(:func:`~.precision_probe.cpu_has_native_bf16`, read from the CPU's flags);
elsewhere (plain AVX-512 included) torch emulates it, slower than float32;
and native bf16 is not always faster either. ``dtype='auto'`` measures which
is faster on the machine (:mod:`.precision_probe`, cached per machine), logs
what it picked and why, and keeps the reason in ``precision_reason`` (the
run record writes it). Without native bf16 the wrapper refuses to build, or
with ``fallback_float32=True`` (a recipe that asks for bf16 "where
supported") trains in float32 after a one-line warning.
"""
import logging
from contextlib import contextmanager
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from mmseg.registry import OPTIM_WRAPPERS

from ...utils.errors import printable
from . import precision_probe
from .precision_probe import cpu_has_native_bf16

DTYPES = dict(bfloat16=torch.bfloat16, float16=torch.float16)


def unsupported_reason(device_type: str, dtype: str) -> str:
    """Why ``dtype`` autocast cannot run well on ``device_type``; '' if it
    can."""
    if dtype not in DTYPES:
        return (f'dtype must be one of {sorted(DTYPES)}, got {dtype!r}')
    if device_type == 'cpu':
        if dtype != 'bfloat16':
            return 'CPU autocast runs bfloat16 only, not float16'
        if not cpu_has_native_bf16():
            return ('this CPU has no native bfloat16 (AVX512-BF16 or AMX): '
                    'torch would emulate it, slower than float32')
    elif device_type == 'cuda' and dtype == 'bfloat16' and \
            not torch.cuda.is_bf16_supported():
        return 'this CUDA device does not support bfloat16'
    return ''


def auto_dtype(device_type: str) -> Tuple[Optional[torch.dtype], str]:
    """The autocast dtype ``dtype='auto'`` picks on ``device_type`` (None:
    float32) and why, logged."""
    if device_type == 'cpu':
        from mmengine.dist import (broadcast_object_list, get_rank,
                                   get_world_size)
        choice = [None]
        if get_rank() == 0:  # one probe; every rank trains alike
            probe = precision_probe.probe_cpu_precision()
            reason = printable(probe['reason'])  # from a cache file
            if probe.get('cached'):
                reason += f' (probed {printable(probe["date"])}, cached)'
            choice = [(probe['dtype'], reason)]
        if get_world_size() > 1:
            broadcast_object_list(choice, src=0)
        picked, reason = choice[0]
    elif device_type == 'cuda' and torch.cuda.is_bf16_supported():
        picked, reason = 'bfloat16', 'this CUDA device supports bfloat16'
    else:
        picked = 'float32'
        reason = f'no loss-scale-free autocast dtype on {device_type}'
    print_log(
        f'precision auto: training in {picked}: {reason}',
        logger='current',
        level=logging.INFO)
    return (None if picked == 'float32' else DTYPES[picked]), reason


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that runs forward passes under autocast.

    No loss scaling: meant for bfloat16 (CPU or GPU). For float16 on CUDA
    use MMEngine's ``AmpOptimWrapper`` (dynamic loss scale), as
    ``tools/train.py --amp`` does.

    Args:
        dtype (str): ``'bfloat16'`` (or ``'float16'`` on CUDA, without
            loss scaling), or ``'auto'``: on a CPU whichever of bfloat16
            and float32 a timed probe finds faster
            (:func:`~.precision_probe.probe_cpu_precision`), on CUDA
            bfloat16 where supported, else float32. Defaults to
            ``'bfloat16'``.
        fallback_float32 (bool): where the device cannot run ``dtype``
            natively, train in float32 after a warning instead of raising.
            Defaults to False.
        **kwargs: ``OptimWrapper`` arguments (optimizer, clip_grad, ...).

    Raises:
        ValueError: the device cannot run ``dtype`` and
            ``fallback_float32`` is False.
    """

    def __init__(self,
                 dtype: str = 'bfloat16',
                 fallback_float32: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = get_device()
        if dtype == 'auto':
            self.cast_dtype, self.precision_reason = auto_dtype(
                self.device_type)
            return
        reason = unsupported_reason(self.device_type, dtype)
        if reason and not fallback_float32:
            raise ValueError(f'AutocastOptimWrapper(dtype={dtype!r}): '
                             f'{reason}')
        if reason:
            print_log(
                f'{dtype} autocast unavailable ({reason}); training '
                'in float32',
                logger='current',
                level=logging.WARNING)
        self.cast_dtype = None if reason else DTYPES[dtype]
        #: why the run trains in its precision (the run record writes it)
        self.precision_reason = reason or f'the config asks for {dtype}'

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model):
            if self.cast_dtype is None:
                yield
            else:
                with autocast(
                        device_type=self.device_type, dtype=self.cast_dtype):
                    yield
