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

from .highway_em import EPS
from .matmul_precision import cuda_matmul_precision, forward_precision


def _unit_backward(unit: Tensor, norm: Tensor, grad: Tensor) -> Tensor:
    """The backward of ``unit = x / norm`` (``F.normalize`` over dim 1,
    ``norm`` already clamped at its eps), from the saved output:
    ``dx = (g - unit (unit . g)) / norm`` (5 ops).

    Args:
        unit (Tensor): the normalised output, (B, C, K).
        norm (Tensor): the clamped norm, (B, 1, K).
        grad (Tensor): dL/dunit, (B, C, K).

    Returns:
        Tensor: dL/dx, (B, C, K).
    """
    return (grad - unit * (unit * grad).sum(dim=1, keepdim=True)) / norm


def _normalize(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``F.normalize(x, dim=1, eps=EPS)`` and its clamped norm."""
    norm = x.norm(p=2, dim=1, keepdim=True).clamp_min(EPS)
    return x / norm, norm


class UnrolledEMFunction(torch.autograd.Function):
    """``(mu(T), Z(T)) = unrolled_em(X, mu(0), T, ...)`` with an analytic
    backward to X and mu(0).

    Saved per iteration: mu(t-1) (C x K), Zn(t) (the column-normalised
    responsibilities, B x N x K) and its column masses, and the unit
    vectors and norms of the N-step (C x K); Z(t) is Zn(t) times the masses.
    """

    @staticmethod
    def forward(ctx, feats: Tensor, bases: Tensor, num_stages: int,
                step_size: float, inv_temperature: float,
                normalize_bases: bool, mixing: str) -> Tuple[Tensor, Tensor]:
        """Args: X (B, C, N), mu(0) (B|1, C, K), T, eta, beta,
        normalise, mixing. Returns mu(T) (B, C, K) and Z(T) (B, N, K)."""
        eta = step_size
        unit_mix = normalize_bases and mixing == 'unit' and eta != 1.0
        saved: List[Tensor] = []
        mu = bases
        resp = None
        # (B, N, C): a view
        feats_t = feats.transpose(1, 2)
        for _ in range(num_stages):
            # E-step (as highway_em.e_step)
            logits = torch.matmul(feats_t, mu)
            if not normalize_bases:
                logits = logits - 0.5 * (mu * mu).sum(dim=1, keepdim=True)
            if inv_temperature != 1.0:
                logits = logits * inv_temperature
            resp = torch.softmax(logits, dim=2)
            # M-step (as highway_em.m_step)
            mass = resp.norm(p=1, dim=1, keepdim=True).clamp_min(EPS)
            resp_n = resp / mass
            hat = torch.matmul(feats, resp_n)
            # N-step (as highway_em.highway_step)
            v, v_norm = _normalize(hat) if unit_mix else (hat, None)
            mixed = v if eta == 1.0 else (1.0 - eta) * mu + eta * v
            if normalize_bases:
                new, new_norm = _normalize(mixed)
            else:
                new, new_norm = mixed, None
            saved += [mu, resp_n, mass, v, new]
            saved += [v_norm] if unit_mix else []
            saved += [new_norm] if normalize_bases else []
            mu = new
        ctx.save_for_backward(feats, *saved)
        ctx.settings = (num_stages, eta, inv_temperature, normalize_bases,
                        unit_mix, bases.shape)
        # TF32 in the forward (em_tf32) holds for the backward's matmuls
        ctx.precision = forward_precision(feats)
        return mu, resp

    @staticmethod
    def backward(ctx, grad_mu: Tensor, grad_resp: Tensor):
        with cuda_matmul_precision(ctx.precision):
            return UnrolledEMFunction._backward(ctx, grad_mu, grad_resp)

    @staticmethod
    def _backward(ctx, grad_mu: Tensor, grad_resp: Tensor):
        num_stages, eta, beta, normalize, unit_mix, shape0 = ctx.settings
        feats, *saved = ctx.saved_tensors
        per = 5 + int(unit_mix) + int(normalize)
        feats_t = feats.transpose(1, 2)
        grad_x = None
        g_mu = grad_mu
        for t in range(num_stages - 1, -1, -1):
            mu, resp_n, mass, v, new, *norms = saved[t * per:(t + 1) * per]
            v_norm = norms[0] if unit_mix else None
            new_norm = norms[-1] if normalize else None
            g_prev = None
            if g_mu is None:  # only Z(T) was used
                g_hat = None
            else:
                g_mixed = _unit_backward(new, new_norm,
                                         g_mu) if normalize else g_mu
                if eta == 1.0:
                    g_hat = g_mixed
                else:
                    g_prev = (1.0 - eta) * g_mixed
                    g_hat = eta * g_mixed
                    if unit_mix:
                        g_hat = _unit_backward(v, v_norm, g_hat)
            g_resp = grad_resp if t == num_stages - 1 else None
            if g_hat is not None:
                # M-step: mu_hat = X Zn, Zn = Z / mass
                # dX += dmu_hat Zn^T: (B, C, K) @ (B, K, N)
                gx = torch.matmul(g_hat, resp_n.transpose(1, 2))
                grad_x = gx if grad_x is None else grad_x + gx
                # dZn = X^T dmu_hat: (B, N, C) @ (B, C, K)
                g_resp_n = torch.matmul(feats_t, g_hat)
                g_m = (g_resp_n -
                       (g_resp_n * resp_n).sum(dim=1, keepdim=True)) / mass
                g_resp = g_m if g_resp is None else g_resp + g_m
            if g_resp is None:
                g_mu = g_prev
                continue
            # E-step: Z = softmax(beta (X^T mu - bias))
            resp = resp_n * mass
            g_logits = resp * (
                g_resp - (g_resp * resp).sum(dim=2, keepdim=True))
            if beta != 1.0:
                g_logits = g_logits * beta
            # dX += mu dlogits^T: (B|1, C, K) @ (B, K, N)
            gx = torch.matmul(mu, g_logits.transpose(1, 2))
            grad_x = gx if grad_x is None else grad_x + gx
            # dmu += X dlogits: (B, C, N) @ (B, N, K)
            g_e = torch.matmul(feats, g_logits)
            if not normalize:
                g_e = g_e - mu * g_logits.sum(dim=1, keepdim=True)
            g_mu = g_e if g_prev is None else g_prev + g_e
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
