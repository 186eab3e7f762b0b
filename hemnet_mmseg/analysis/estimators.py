"""Each gradient estimator of a head's EM unit against the exact gradient.

For a head (random or trained) and its own loss, :func:`compare_estimators`
computes, for every ``grad_mode`` that sends a gradient back
(:mod:`hemnet_mmseg.models.layers.grad_modes`), every T, eta and beta asked
for, the gradient of the loss with respect to X (the EM unit's input,
(B, C, H, W)) and to the mid conv's weight, and compares them with the
*reference*: the implicit gradient at a converged forward (T_ref
iterations at eta 1, its convergence measured as ``max |mu(T_ref) -
mu(T_ref - 1)|``, with a tight adjoint solve). A reference whose forward
has not converged (residual above ``ref_residual``) or whose adjoint did
not reach its tolerance is reported as not converged, and its rows carry
no cosine to it: the exact gradient of a forward that has not reached its
fixed point is not defined. Reported per row: cosine similarity and norm
ratio to the reference, the same to the ``'unrolled'`` gradient at the same
T and eta (the exact gradient of the truncated forward), the backward's
wall time and the bytes autograd saved for the backward in the forward.

'none' sends nothing through the unit (dL/dX = 0) and is not a row.
"""
import time
from typing import Dict, Iterable, List

import torch
from torch import Tensor

from hemnet_mmseg.models.layers import EMSettings
from .em_trace import find_hem_module
from .sources import HeadAndBatch

#: the modes compared with the reference
MODES = ('unrolled', 'one_step', 'implicit')


def _cos(a: Tensor, b: Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom > 0 else 0.0


def _ratio(a: Tensor, b: Tensor) -> float:
    ref = float(b.norm())
    return float(a.norm()) / ref if ref > 0 else float('nan')


def head_gradients(src: HeadAndBatch, **settings) -> Dict:
    """One forward and backward of ``src.head`` with the unit's settings.

    Args:
        src (HeadAndBatch): head (eval mode), inputs and loss.
        **settings: attributes of the HEMModule to set first (grad_mode,
            num_stages, step_size, inv_temperature, implicit_iters, ...);
            ``num_stages_eval`` follows ``num_stages``.

    Returns:
        dict: ``dx`` (dL/dX, (B, C, H, W)), ``dw`` (mid conv weight
        gradient), ``backward_s``, ``saved_bytes``, ``loss`` and
        ``implicit`` (the adjoint's iterations and last change, if any).
    """
    head = src.head
    unit = find_hem_module(head)
    unit.configure(**settings)
    unit.configure(num_stages_eval=unit.num_stages)
    weight = head.ema_mid_conv.conv.weight
    was = weight.requires_grad
    weight.requires_grad_(True)
    head.zero_grad(set_to_none=True)
    seen: Dict[str, Tensor] = {}

    def keep_input(module, args):
        args[0].retain_grad()
        seen['x'] = args[0]

    saved = [0]

    def pack(t: Tensor) -> Tensor:
        saved[0] += t.numel() * t.element_size()
        return t

    unit.adjoint_stats.clear()
    handle = unit.register_forward_pre_hook(keep_input)
    try:
        inputs = [x.detach() for x in src.inputs]
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = head(inputs)
        loss = src.loss(logits)
        start = time.perf_counter()
        loss.backward()
        backward_s = time.perf_counter() - start
    finally:
        handle.remove()
        weight.requires_grad_(was)
    return dict(
        dx=seen['x'].grad.detach().clone(),
        dw=weight.grad.detach().clone(),
        backward_s=backward_s,
        saved_bytes=saved[0],
        loss=float(loss.detach()),
        implicit=dict(unit.adjoint_stats))


def unit_input(src: HeadAndBatch) -> Tensor:
    """X, the EM unit's input on the head's batch, (B, C, N), float32 (one
    no-grad forward of the head; it depends on neither T nor beta)."""
    head = src.head
    unit = find_hem_module(head)
    seen: Dict[str, Tensor] = {}
    handle = unit.register_forward_pre_hook(
        lambda m, a: seen.update(x=a[0].detach()))
    try:
        with torch.no_grad():
            head([x.detach() for x in src.inputs])
    finally:
        handle.remove()
    x = seen['x']
    return x.reshape(x.shape[0], x.shape[1], -1).float()


def forward_residual(src: HeadAndBatch,
                     flat: Tensor,
                     num_stages: int,
                     inv_temperature: float,
                     step_size: float = 1.0) -> float:
    """``max |mu(T) - mu(T-1)|`` of the head's EM on its unit input
    ``flat`` (:func:`unit_input`): how far the forward is from a fixed
    point after T iterations."""
    unit = find_hem_module(src.head)
    from hemnet_mmseg.models.layers import unrolled_em
    with torch.no_grad():
        res = unrolled_em(
            flat,
            unit.initial_bases(),
            num_stages,
            step_size,
            inv_temperature,
            unit.normalize_bases,
            unit.highway_mixing,
            return_history=True)
    hist = res.bases_history
    return float((hist[-1] - hist[-2]).abs().max())


def _rows(src: HeadAndBatch, flat: Tensor, ref, beta: float, num_stages: int,
          etas: Iterable[float], keep: EMSettings) -> List[Dict]:
    """One row per eta and mode at one T; cosines to ``ref`` (None when
    there is no converged reference) and to the unrolled gradient."""
    rows = []
    residual = forward_residual(src, flat, num_stages, beta)
    for eta in etas:
        unrolled = None
        for mode in MODES:
            got = head_gradients(
                src,
                grad_mode=mode,
                num_stages=num_stages,
                step_size=eta,
                inv_temperature=beta,
                implicit_iters=keep.implicit_iters,
                implicit_tol=keep.implicit_tol)
            unrolled = unrolled or got  # MODES starts with 'unrolled'
            row = dict(
                inv_temperature=beta,
                num_stages=num_stages,
                eta=eta,
                mode=mode,
                cos_dx=None,
                ratio_dx=None,
                cos_dw=None,
                ratio_dw=None)
            if ref is not None:
                row.update(
                    cos_dx=_cos(got['dx'], ref['dx']),
                    ratio_dx=_ratio(got['dx'], ref['dx']),
                    cos_dw=_cos(got['dw'], ref['dw']),
                    ratio_dw=_ratio(got['dw'], ref['dw']))
            row.update(
                cos_dx_unrolled=_cos(got['dx'], unrolled['dx']),
                ratio_dx_unrolled=_ratio(got['dx'], unrolled['dx']),
                backward_ms=1e3 * got['backward_s'],
                saved_mb=got['saved_bytes'] / 2**20,
                forward_residual_eta1=residual,
                adjoint_iters=got['implicit'].get('iters'),
                adjoint_change=got['implicit'].get('change'))
            rows.append(row)
    return rows


def compare_estimators(src: HeadAndBatch,
                       stages: Iterable[int] = (1, 2, 3, 5, 10, 20),
                       etas: Iterable[float] = (1.0, 0.5, 0.2),
                       inv_temperatures: Iterable[float] = (1.0, ),
                       ref_stages: int = 1000,
                       ref_iters: int = 2000,
                       ref_tol: float = 1e-6,
                       ref_residual: float = 1e-5) -> Dict:
    """Every mode, T, eta and beta against the reference gradient.

    Args:
        src (HeadAndBatch): the head and its batch.
        stages, etas, inv_temperatures: the grid.
        ref_stages (int): T of the reference's converged forward.
        ref_iters (int): adjoint iterations at most, for the reference.
        ref_tol (float): adjoint tolerance of the reference.
        ref_residual (float): the largest ``max |mu(T_ref) -
            mu(T_ref - 1)|`` of a converged reference forward.

    Returns:
        dict: ``references`` (per beta: residual, adjoint iterations and
        change, whether it converged, norms) and ``rows``.
    """
    unit = find_hem_module(src.head)
    keep = unit.settings
    refs: List[Dict] = []
    rows: List[Dict] = []
    flat = unit_input(src)
    try:
        for beta in inv_temperatures:
            ref = head_gradients(
                src,
                grad_mode='implicit',
                num_stages=ref_stages,
                step_size=1.0,
                inv_temperature=beta,
                implicit_iters=ref_iters,
                implicit_tol=ref_tol)
            residual = forward_residual(src, flat, ref_stages, beta)
            change = ref['implicit'].get('change', float('inf'))
            converged = bool(residual <= ref_residual and change <= ref_tol
                             and torch.isfinite(ref['dx']).all())
            refs.append(
                dict(
                    inv_temperature=beta,
                    num_stages=ref_stages,
                    forward_residual=residual,
                    adjoint_iters=ref['implicit'].get('iters'),
                    adjoint_change=change,
                    converged=converged,
                    dx_norm=float(ref['dx'].norm()),
                    dw_norm=float(ref['dw'].norm()),
                    loss=ref['loss']))
            for num_stages in stages:
                rows += _rows(src, flat, ref if converged else None, beta,
                              num_stages, etas, keep)
    finally:
        unit.settings = keep
    return dict(references=refs, rows=rows)
