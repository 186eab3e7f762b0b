"""TF32 for the EM matmuls on CUDA, as an explicit, scoped option.

torch's matmul precision is process-global: setting it for the EM would
change every other float32 matmul of the model, and a context manager
around the forward does not cover the backward, whose matmuls run later,
from the autograd engine. :func:`cuda_matmul_precision` sets the flag for a
block and restores it; the analytic backward
(:class:`~.analytic_em.UnrolledEMFunction`) records the precision its
forward ran in (:func:`forward_precision`) and runs its own matmuls in it.
The autograd backward cannot be scoped that way, so ``em_tf32`` needs
``em_backward='analytic'`` wherever a gradient goes through the loop
(:class:`~.hem_module.HEMModule`).

Only torch's newer API (``torch.backends.cuda.matmul.fp32_precision``) is
used: in torch 2.13, mixing it with the legacy ``allow_tf32`` /
``set_float32_matmul_precision`` makes reading the legacy one raise while
the new one is set. The previous value is restored on exit. On a CPU the
flag has no effect on any matmul.
"""
from contextlib import contextmanager
from typing import Iterator, Optional

import torch
from torch import Tensor

#: the precisions the new API accepts for CUDA float32 matmuls
PRECISIONS = ('ieee', 'tf32')


@contextmanager
def cuda_matmul_precision(precision: Optional[str]) -> Iterator[None]:
    """CUDA float32 matmuls in ``precision`` inside the block.

    Args:
        precision (str | None): ``'tf32'`` or ``'ieee'``; None leaves the
            process's setting alone.
    """
    if precision is None:
        yield
        return
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, '
                         f'got {precision!r}')
    flags = torch.backends.cuda.matmul
    previous = flags.fp32_precision
    flags.fp32_precision = precision
    try:
        yield
    finally:
        flags.fp32_precision = previous


def forward_precision(feats: Tensor) -> Optional[str]:
    """``'tf32'`` when a forward on ``feats`` runs its CUDA float32 matmuls
    in TF32 by the new API's flag (what a backward should reuse), else
    None (the backward then runs in whatever the process sets)."""
    if feats.device.type != 'cuda':
        return None
    precision = torch.backends.cuda.matmul.fp32_precision
    return 'tf32' if precision == 'tf32' else None
