"""Unrolled highway EM with a hand-written backward.

:func:`~.highway_em.unrolled_em` under autograd records about 50 small ops
per iteration for the backward (docs/analysis.md, "Cost"): on a GPU the
head's step is launch-bound. :class:`UnrolledEMFunction` runs the same
forward without recording a graph and computes the backward by hand: per
iteration four matmuls and a few elementwise ops, saving only what the
backward cannot cheaply recompute (Z(t) for every t, and the C x K means).

The math (one iteration, X (B, C, N), mu (B|1, C, K), beta, eta):

* E-step ``Z = softmax_k(beta (X^T mu - b))`` with ``b = ||mu_k||^2 / 2``
  when the bases are not normalised (the Gaussian bias), else 0:
  ``dlogits = Z * (dZ - sum_k dZ * Z)``, ``dX += beta mu dlogits^T``,
  ``dmu += beta (X dlogits - mu * sum_n dlogits [bias])``.
* M-step ``mu_hat = X Zn``, ``Zn = Z / s``, ``s = sum_n Z``:
  ``dX += dmu_hat Zn^T``, ``dZn = X^T dmu_hat``,
  ``dZ += (dZn - sum_n dZn * Zn) / s``.
* N-step, with ``l2norm'`` the backward of ``x / ||x||``,
  ``dx = (g - y (y . g)) / ||x||``: for normalised bases
  ``mu(t) = l2norm((1 - eta) mu(t-1) + eta v)``, ``v = l2norm(mu_hat)``
  (unit mixing) or ``mu_hat`` (raw), and ``l2norm(mu_hat)`` at eta 1; for
  free bases ``mu(t) = (1 - eta) mu(t-1) + eta mu_hat``.

Shapes: B batch, C channels, N pixels, K bases.
"""
from typing import List, Tuple

import torch
from torch import Tensor

from .highway_em import EPS, e_step, highway_step, m_step


def _l2norm_backward(x: Tensor, grad: Tensor) -> Tensor:
    """The backward of ``F.normalize(x, dim=1, eps=EPS)``.

    Args:
        x (Tensor): the input, (B, C, K).
        grad (Tensor): dL/dy, (B, C, K).

    Returns:
        Tensor: dL/dx, (B, C, K).
    """
    norm = x.norm(dim=1, keepdim=True)
    small = norm <= EPS
    y = x / norm.clamp_min(EPS)
    proj = grad - y * (y * grad).sum(dim=1, keepdim=True)
    # below eps F.normalize divides by the constant eps
    return torch.where(small, grad / EPS, proj / norm.clamp_min(EPS))


class UnrolledEMFunction(torch.autograd.Function):
    """``(mu(T), Z(T)) = unrolled_em(X, mu(0), T, ...)`` with an analytic
    backward to X and mu(0)."""

    @staticmethod
    def forward(ctx, feats: Tensor, bases: Tensor, num_stages: int,
                step_size: float, inv_temperature: float,
                normalize_bases: bool, mixing: str) -> Tuple[Tensor, Tensor]:
        """Args: X (B, C, N), mu(0) (B|1, C, K), T, eta, beta,
        normalise, mixing. Returns mu(T) (B, C, K) and Z(T) (B, N, K)."""
        prevs: List[Tensor] = []
        resps: List[Tensor] = []
        hats: List[Tensor] = []
        mu = bases
        resp = None
        for _ in range(num_stages):
            resp = e_step(
                feats, mu, inv_temperature, gaussian_bias=not normalize_bases)
            hat = m_step(feats, resp)
            prevs.append(mu)
            resps.append(resp)
            hats.append(hat)
            mu = highway_step(mu, hat, step_size, normalize_bases, mixing)
        ctx.save_for_backward(feats, *prevs, *resps, *hats)
        ctx.settings = (num_stages, step_size, inv_temperature,
                        normalize_bases, mixing, bases.shape)
        return mu, resp

    @staticmethod
    def backward(ctx, grad_mu: Tensor, grad_resp: Tensor):
        num_stages, eta, beta, normalize, mixing, shape0 = ctx.settings
        saved = ctx.saved_tensors
        feats = saved[0]
        prevs = saved[1:1 + num_stages]
        resps = saved[1 + num_stages:1 + 2 * num_stages]
        hats = saved[1 + 2 * num_stages:]
        grad_x = torch.zeros_like(feats)
        g_mu = grad_mu if grad_mu is not None else torch.zeros_like(hats[-1])
        for t in range(num_stages - 1, -1, -1):
            prev, resp, hat = prevs[t], resps[t], hats[t]
            # N-step
            if normalize:
                if eta == 1.0:
                    g_hat = _l2norm_backward(hat, g_mu)
                    g_prev = None
                else:
                    unit = mixing == 'unit'
                    v = hat / hat.norm(
                        dim=1, keepdim=True).clamp_min(EPS) if unit else hat
                    mixed = (1.0 - eta) * prev + eta * v
                    g_mixed = _l2norm_backward(mixed, g_mu)
                    g_prev = (1.0 - eta) * g_mixed
                    g_hat = eta * g_mixed
                    if unit:
                        g_hat = _l2norm_backward(hat, g_hat)
            elif eta == 1.0:
                g_hat, g_prev = g_mu, None
            else:
                g_hat, g_prev = eta * g_mu, (1.0 - eta) * g_mu
            # M-step: mu_hat = X Zn, Zn = Z / max(sum_n Z, eps)
            mass = resp.sum(dim=1, keepdim=True)  # (B, 1, K)
            resp_n = resp / mass.clamp_min(EPS)
            # (B, C, K) @ (B, K, N)
            grad_x = grad_x + torch.matmul(g_hat, resp_n.transpose(1, 2))
            # (B, N, C) @ (B, C, K)
            g_resp_n = torch.matmul(feats.transpose(1, 2), g_hat)
            g_resp = (g_resp_n - (g_resp_n * resp_n).sum(
                dim=1, keepdim=True)) / mass.clamp_min(EPS)
            if t == num_stages - 1 and grad_resp is not None:
                g_resp = g_resp + grad_resp
            # E-step: Z = softmax(beta (X^T mu - bias))
            g_logits = resp * (
                g_resp - (g_resp * resp).sum(dim=2, keepdim=True))
            if beta != 1.0:
                g_logits = g_logits * beta
            # (B|1, C, K) @ (B, K, N)
            grad_x = grad_x + torch.matmul(prev, g_logits.transpose(1, 2))
            # (B, C, N) @ (B, N, K)
            g_prev_e = torch.matmul(feats, g_logits)
            if not normalize:
                g_prev_e = g_prev_e - prev * g_logits.sum(dim=1, keepdim=True)
            g_mu = g_prev_e if g_prev is None else g_prev + g_prev_e
        if g_mu.shape != shape0:  # mu(0) broadcast over the batch
            g_mu = g_mu.sum(dim=0, keepdim=True)
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
