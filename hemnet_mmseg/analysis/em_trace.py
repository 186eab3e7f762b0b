"""Trace the unrolled EM of a HEMModule for analysis, without changing it.

:func:`trace_em` registers a forward hook on the unit: the head runs its own
forward (mmseg's ``EMAHead.forward``, so nothing drifts when mmseg changes),
and the hook recomputes the unit's output with the same settings through
:meth:`HEMModule.em_forward`, starting from a leaf copy of mu(0) and keeping
every mu(t) and Z(t); that recomputation becomes the unit's output, so the
loss and its gradients flow through the traced graph. The module's code and
parameters are untouched (analyse in eval mode: in training mode the
module's own forward still updates the bases buffer).

Shapes: B batch, C channels, H x W feature map, N = H * W, K bases.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Tuple

import torch
from torch import Tensor

from hemnet_mmseg.models.layers import EMResult, HEMModule


@dataclass
class EMTrace:
    """One forward of the unit.

    Attributes:
        feats (Tensor): X, the unit's input, (B, C, H, W); when it requires
            grad, ``feats.grad`` is dL/dX after ``backward``.
        result (EMResult): mu(T), Z(T), ``bases_history`` [mu(0)..mu(T)]
            (mu(0) a leaf: its ``.grad`` is dL/dmu(0); for learned bases a
            copy of the unit-normalised parameter) and ``resp_history``
            [Z(1)..Z(T)].
        shape (tuple): (H, W).
    """
    feats: Tensor
    result: EMResult
    shape: Tuple[int, int]

    def flat_feats(self) -> Tensor:
        """X as (B, C, N)."""
        return self.feats.flatten(2)


def find_hem_module(head: torch.nn.Module) -> HEMModule:
    """The HEMModule of a decode head; a clear error for other heads."""
    module = getattr(head, 'ema_module', None)
    if not isinstance(module, HEMModule):
        raise TypeError(f'{type(head).__name__} has no HEMModule: the '
                        'analysis tools need a HEMHead (type="HEMHead")')
    return module


@contextmanager
def trace_em(module: HEMModule) -> Iterator[List[EMTrace]]:
    """Record every forward of ``module`` inside the ``with`` block.

    Yields:
        list[EMTrace]: appended to on each forward.
    """
    traces: List[EMTrace] = []

    def hook(mod: HEMModule, args, output):
        feats = args[0]
        if feats.requires_grad:
            feats.retain_grad()
        # only the unrolled backward reaches mu(0) and every mu(t)
        grad = mod.grad_mode == 'unrolled' and torch.is_grad_enabled()
        mu0 = mod.initial_bases().detach().clone().requires_grad_(grad)
        recon, result = mod.em_forward(feats, mu0, return_history=True)
        for mu in result.bases_history[1:]:
            if mu.requires_grad:
                mu.retain_grad()
        traces.append(EMTrace(feats, result, tuple(feats.shape[2:])))
        return recon

    handle = module.register_forward_hook(hook)
    try:
        yield traces
    finally:
        handle.remove()
