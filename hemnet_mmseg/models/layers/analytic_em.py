"""Unrolled highway EM with a hand-written backward.

:func:`~.highway_em.unrolled_em` under autograd records about 50 small ops
per iteration for the backward (docs/analysis.md, "Cost"): on a GPU the
head's step is launch-bound. :class:`UnrolledEMFunction` runs the same
forward (:func:`~.highway_em.em_iteration`, the same bits) without recording
a graph and computes the backward by hand: per iteration 19 ops, four of
them (b)mm, and no gradient to mu(0) or X where none is asked for; it saves
only what the backward cannot cheaply recompute (Zn(t) and its column
masses for every t, and the C x K means).

The math (one iteration, X (B, C, N), mu (B|1, C, K), beta, eta):

* E-step ``Z = softmax_k(beta (X^T mu - b))`` with ``b = ||mu_k||^2 / 2``
  when the bases are not normalised (the Gaussian bias), else 0:
  ``dlogits = Z * (dZ - sum_k dZ * Z)``, ``dX += beta mu dlogits^T``,
  ``dmu += beta (X dlogits - mu * sum_n dlogits [bias])``.
* M-step ``mu_hat = X Zn``, ``Zn = Z / m``, ``m = sum_n Z``:
  ``dX += dmu_hat Zn^T``, ``dZn = X^T dmu_hat``,
  ``dZ += (dZn - sum_n dZn * Zn) / m``.
* N-step, with ``l2norm'`` the backward of ``x / ||x||``,
  ``dx = (g - y (y . g)) / ||x||``: for normalised bases
  ``mu(t) = l2norm((1 - eta) mu(t-1) + eta v)``, ``v = l2norm(mu_hat)``
  (unit mixing) or ``mu_hat`` (raw), and ``l2norm(mu_hat)`` at eta 1; for
  free bases ``mu(t) = (1 - eta) mu(t-1) + eta mu_hat``.

Fused for few kernels: with ``dmu_hat = s g`` (s = eta, or 1),
``D = X^T g - sum_n (X^T g) Zn [+ m dZ(T) / s]`` carries ``dZ = s D / m``,
and since ``Z = m Zn`` the E-step's ``dlogits = beta s Zn (D - m sum_k D
Zn)``: the masses never divide, and every scale (s, beta, 1 - eta) rides
on a ``baddbmm``'s alpha or beta.

Shapes: B batch, C channels, N pixels, K bases.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .highway_em import em_iteration


def _unit_backward(unit: Tensor, norm: Tensor, grad: Tensor) -> Tensor:
    """The backward of ``unit = x / norm`` (``F.normalize`` over dim 1,
    ``norm`` already clamped at its eps), from the saved output:
    ``dx = (g - unit (unit . g)) / norm`` (4 ops).

    Args:
        unit (Tensor): the normalised output, (B, C, K).
        norm (Tensor): the clamped norm, (B, 1, K).
        grad (Tensor): dL/dunit, (B, C, K).

    Returns:
        Tensor: dL/dx, (B, C, K).
    """
    dot = (unit * grad).sum(dim=1, keepdim=True)
    return torch.addcmul(grad, unit, dot, value=-1.0).div_(norm)


def _accumulate(acc: Optional[Tensor],
                like: Tensor,
                b1: Tensor,
                b2: Tensor,
                alpha: float,
                keep: float = 1.0) -> Tensor:
    """``keep * acc + alpha * b1 @ b2`` in one ``baddbmm`` (``acc`` None:
    ``alpha * b1 @ b2``, ``like`` standing in as the ignored input)."""
    if acc is None:
        return torch.baddbmm(like, b1, b2, beta=0.0, alpha=alpha)
    return torch.baddbmm(acc, b1, b2, beta=keep, alpha=alpha)


class UnrolledEMFunction(torch.autograd.Function):
    """``(mu(T), Z(T)) = unrolled_em(X, mu(0), T, ...)`` with an analytic
    backward to X and mu(0), each computed only where it is needed.

    The forward is :func:`~.highway_em.em_iteration`'s, bit for bit. Saved
    per iteration: mu(t-1) (C x K), Zn(t) (the column-normalised
    responsibilities, B x N x K) and its column masses m(t) (B x 1 x K),
    and the unit vectors and norms of the N-step (C x K); Z(t) = m Zn.
    There is no second derivative: a backward that would build one
    (``create_graph=True``) is refused with a one-line error.
    """

    @staticmethod
    def forward(ctx, feats: Tensor, bases: Tensor, num_stages: int,
                step_size: float, inv_temperature: float,
                normalize_bases: bool, mixing: str) -> Tuple[Tensor, Tensor]:
        """Args: X (B, C, N), mu(0) (B|1, C, K), T, eta, beta,
        normalise, mixing. Returns mu(T) (B, C, K) and Z(T) (B, N, K)."""
        unit_mix = normalize_bases and mixing == 'unit' and step_size != 1.0
        saved: List[Tensor] = []
        mu, resp = bases, None
        for _ in range(num_stages):
            it = em_iteration(feats, mu, step_size, inv_temperature,
                              normalize_bases, mixing)
            saved += [mu, it.resp_n, it.mass]
            saved += [it.bases, it.norm] if normalize_bases else []
            saved += [it.mixed, it.mixed_norm] if unit_mix else []
            mu, resp = it.bases, it.resp
        ctx.save_for_backward(feats, *saved)
        ctx.settings = (num_stages, step_size, inv_temperature,
                        normalize_bases, unit_mix, bases.shape)
        return mu, resp

    @staticmethod
    def backward(ctx, grad_mu: Optional[Tensor], grad_resp: Optional[Tensor]):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "HEMModule's analytic EM backward (em_backward='analytic', "
                'the default) has no second derivative; for gradient '
                'penalties, Hessian-vector products or create_graph=True '
                "build the unit with em_backward='autograd'")
        num_stages, eta, beta, normalize, unit_mix, shape0 = ctx.settings
        need_x, need_mu0 = ctx.needs_input_grad[:2]
        feats, *saved = ctx.saved_tensors
        per = 3 + 2 * int(normalize) + 2 * int(unit_mix)
        batch = feats.shape[0]
        feats_t = feats.transpose(1, 2)
        grad_x = None
        g_mu = grad_mu
        for t in range(num_stages - 1, -1, -1):
            mu, resp_n, mass, *rest = saved[t * per:(t + 1) * per]
            mu = mu.expand(batch, -1, -1)
            g_resp = grad_resp if t == num_stages - 1 else None
            # the N-step: g_prev (times 1 - eta) to mu(t-1), g_hat (times
            # scale) to mu_hat(t)
            g_prev, g_hat, scale = None, None, 1.0
            if g_mu is not None:
                g_hat = _unit_backward(rest[0], rest[1],
                                       g_mu) if normalize else g_mu
                if eta != 1.0:
                    g_prev, scale = g_hat, eta
                    if unit_mix:
                        g_hat = _unit_backward(rest[2], rest[3], g_hat)
            if g_hat is not None:
                if need_x:  # M-step. dX += s g Zn^T: (B, C, K) @ (B, K, N)
                    grad_x = _accumulate(grad_x, feats, g_hat,
                                         resp_n.transpose(1, 2), scale)
                # dZn = s X^T g: (B, N, C) @ (B, C, K)
                g_zn = torch.bmm(feats_t, g_hat)
                # D = dZn / s - sum_n (dZn / s) Zn, dZ = s D / m: (B, N, K)
                diff = g_zn - (g_zn * resp_n).sum(dim=1, keepdim=True)
                if g_resp is not None:
                    diff = torch.addcmul(diff, mass, g_resp, value=1 / scale)
            elif g_resp is not None:
                diff = mass * g_resp
            else:  # no gradient reaches this iteration (nor mu(0))
                continue
            # E-step: dlogits = beta s Zn (D - m sum_k D Zn): (B, N, K)
            row = (diff * resp_n).sum(dim=2, keepdim=True)
            g_logits = torch.addcmul(diff, mass, row, value=-1.0).mul_(resp_n)
            alpha = beta * scale
            if need_x:  # dX += mu dlogits^T: (B, C, K) @ (B, K, N)
                grad_x = _accumulate(grad_x, feats, mu,
                                     g_logits.transpose(1, 2), alpha)
            if t == 0 and not need_mu0:
                g_mu = None
                break
            # dmu(t-1) = (1 - eta) g_prev + X dlogits: (B, C, N) @ (B, N, K)
            g_mu = _accumulate(g_prev, mu, feats, g_logits, alpha, 1.0 - eta)
            if not normalize:  # the Gaussian bias -||mu_k||^2 / 2
                g_mu = torch.addcmul(
                    g_mu, mu, g_logits.sum(dim=1, keepdim=True), value=-alpha)
        if g_mu is not None and g_mu.shape != shape0:
            g_mu = g_mu.sum(dim=0, keepdim=True)  # mu(0) broadcast
        return grad_x, g_mu, None, None, None, None, None


def analytic_unrolled_em(feats: Tensor,
                         bases: Tensor,
                         num_stages: int,
                         step_size: float = 0.5,
                         inv_temperature: float = 1.0,
                         normalize_bases: bool = True,
                         mixing: str = 'unit') -> Tuple[Tensor, Tensor]:
    """:func:`~.highway_em.unrolled_em` (no history) with the analytic
    backward of :class:`UnrolledEMFunction`.

    Returns:
        tuple: mu(T) (B, C, K) and Z(T) (B, N, K).
    """
    if num_stages < 1:
        raise ValueError(f'num_stages must be >= 1, got {num_stages}')
    return UnrolledEMFunction.apply(feats, bases, num_stages, float(step_size),
                                    float(inv_temperature), normalize_bases,
                                    mixing)
