"""Unrolled highway EM: the pure math of HEMNet on plain tensors.

HEMNet (Song, Kim, Shim, *Improving Gradient Flow with Unrolled Highway
Expectation Maximization*, AAAI 2021, https://arxiv.org/abs/2012.04926)
unrolls EM for a Gaussian mixture over pixel features and replaces the M-step
by a Newton-Raphson generalized-EM step ("N-step")::

    mu(t) = (1 - eta) * mu(t-1) + eta * M-step(X, Z(t))

With unit-norm bases (EMANet's, and the default) the step mixes unit
vectors, ``mu(t) = l2norm((1 - eta) mu(t-1) + eta l2norm(mu_hat(t)))``, so
that eta is the step taken at any feature scale (``mixing='unit'``); the
first build mixed the raw mean, ``l2norm((1 - eta) mu(t-1) + eta
mu_hat(t))``, whose effective step grows with ``||mu_hat||``
(``mixing='raw'``). See ``docs/method.md``.

EMANet (Li et al., ICCV 2019, https://arxiv.org/abs/1907.13426) is the
special case ``eta = 1`` with the loop run without gradient.

Everything here is a plain function on tensors, shared by the ``nn.Module``
(:class:`~hemnet_mmseg.models.layers.HEMModule`), the tests and the analysis
tools; :func:`em_iteration` is the one forward of an iteration that every
path runs. Only ``bmm`` and ``matmul`` are used (no ``einsum``: ONNX opset
11 has none).

Shape shorthand:
    B: batch, C: channels, N = H * W: pixels, K: bases (mixture components).
    feats ``X``: (B, C, N); bases ``mu``: (B, C, K) or (1, C, K);
    responsibilities ``Z``: (B, N, K).
"""
import math
from typing import List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .em_settings import MIXINGS

#: eps of every normalisation, as ``F.normalize``'s default (EMAHead's).
EPS = 1e-12


def e_step(feats: Tensor,
           bases: Tensor,
           inv_temperature: float = 1.0,
           gaussian_bias: bool = False) -> Tensor:
    """E-step: responsibilities of the K components for every pixel.

    ``Z = softmax_k(beta * X^T mu - beta * ||mu_k||^2 / 2 * [gaussian_bias])``.
    With unit-norm bases the bias is the same for every k and can be left
    out (EMANet); with free bases it is what makes ``Z`` the Gaussian
    posterior.

    Args:
        feats (Tensor): X, (B, C, N).
        bases (Tensor): mu, (B, C, K) or (1, C, K).
        inv_temperature (float): beta = 1 / sigma^2. Defaults to 1.0.
        gaussian_bias (bool): subtract beta * ||mu_k||^2 / 2. Defaults to
            False.

    Returns:
        Tensor: Z, (B, N, K); rows sum to one.
    """
    # (B, N, C) @ (B, C, K) -> (B, N, K); bmm, not matmul (no reshapes)
    logits = torch.bmm(
        feats.transpose(1, 2), bases.expand(feats.shape[0], -1, -1))
    if gaussian_bias:
        # (B|1, 1, K)
        logits = logits - 0.5 * (bases * bases).sum(dim=1, keepdim=True)
    if inv_temperature != 1.0:
        logits = logits * inv_temperature
    # softmax subtracts the row max: stable for inputs of any scale
    return F.softmax(logits, dim=2)


def l2_normalize(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``F.normalize(x, dim=1)`` (the same ops, the same bits) and the
    clamped norm it divided by, which the analytic backward reuses.

    Args:
        x (Tensor): (B, C, K).

    Returns:
        tuple: the unit columns (B, C, K) and their norms (B, 1, K).
    """
    norm = x.norm(p=2, dim=1, keepdim=True).clamp_min(EPS)
    return x / norm, norm


def _m_step(feats: Tensor, resp: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """mu_hat, with Zn = Z / m and the masses m (B, 1, K) it divided by:
    ``F.normalize(Z, p=1, dim=1)`` spelled out (the same bits)."""
    mass = resp.norm(p=1, dim=1, keepdim=True).clamp_min(EPS)
    resp_n = resp / mass
    # (B, C, N) @ (B, N, K) -> (B, C, K)
    return torch.bmm(feats, resp_n), resp_n, mass


def m_step(feats: Tensor, resp: Tensor) -> Tensor:
    """M-step: the responsibility-weighted mean of the pixels.

    ``mu_hat_k = sum_n z_nk x_n / max(sum_n z_nk, eps)``.

    Args:
        feats (Tensor): X, (B, C, N).
        resp (Tensor): Z, (B, N, K).

    Returns:
        Tensor: mu_hat, (B, C, K).
    """
    return _m_step(feats, resp)[0]


def _n_step(bases: Tensor, bases_hat: Tensor, step_size: float,
            normalize: bool, mixing: str) -> Tuple[Tensor, ...]:
    """mu(t), and what the analytic backward reuses: the mixed vector v
    with its norm (unit mixing below eta 1, else ``mu_hat`` and None) and
    the norm mu(t) was divided by (None without ``normalize``)."""
    unit_mix = normalize and mixing == 'unit' and step_size != 1.0
    v, v_norm = l2_normalize(bases_hat) if unit_mix else (bases_hat, None)
    # the highway: a scaled skip connection along the unrolled depth
    mixed = v if step_size == 1.0 else \
        (1.0 - step_size) * bases + step_size * v
    new, new_norm = l2_normalize(mixed) if normalize else (mixed, None)
    return new, v, v_norm, new_norm


def highway_step(bases: Tensor,
                 bases_hat: Tensor,
                 step_size: float = 0.5,
                 normalize: bool = True,
                 mixing: str = 'unit') -> Tensor:
    """N-step: a Newton-Raphson step of size eta towards the M-step.

    * ``normalize=False``: ``mu(t) = (1 - eta) mu(t-1) + eta mu_hat(t)``,
      the Gaussian Newton step (both terms in feature units).
    * ``normalize=True, mixing='unit'``:
      ``mu(t) = l2norm((1 - eta) mu(t-1) + eta l2norm(mu_hat(t)))``: each
      ``mu_k`` moves along the great circle towards the constrained
      M-step's maximiser ``l2norm(mu_hat_k)``, keeping a share ``1 - eta``
      whatever ``||mu_hat||`` is.
    * ``normalize=True, mixing='raw'``:
      ``mu(t) = l2norm((1 - eta) mu(t-1) + eta mu_hat(t))``: the share kept
      is ``(1 - eta) / ((1 - eta) + eta ||mu_hat_k||)``.

    ``eta = 1`` is plain EM, normalised once (EMANet's step exactly).

    Args:
        bases (Tensor): mu(t-1), (B|1, C, K).
        bases_hat (Tensor): mu_hat(t), (B, C, K).
        step_size (float): eta in (0, 1]. Defaults to 0.5.
        normalize (bool): L2-normalise every column. Defaults to True.
        mixing (str): ``'unit'`` or ``'raw'`` (see above); used only with
            ``normalize``. Defaults to ``'unit'``.

    Returns:
        Tensor: mu(t), (B, C, K).
    """
    if mixing not in MIXINGS:
        raise ValueError(f'mixing must be one of {MIXINGS}, got {mixing!r}')
    return _n_step(bases, bases_hat, step_size, normalize, mixing)[0]


def reconstruct(bases: Tensor, resp: Tensor) -> Tensor:
    """Low-rank reconstruction ``X_rec = mu Z^T``.

    Args:
        bases (Tensor): mu, (B, C, K).
        resp (Tensor): Z, (B, N, K).

    Returns:
        Tensor: X_rec, (B, C, N).
    """
    return torch.bmm(bases, resp.transpose(1, 2))


class Iteration(NamedTuple):
    """One iteration F of :func:`em_iteration`: what it returns and what
    the analytic backward (:mod:`.analytic_em`) keeps of it.

    Attributes:
        bases (Tensor): mu(t), (B, C, K).
        resp (Tensor): Z(t), (B, N, K).
        resp_n (Tensor): Z(t) / m, columns summing to one, (B, N, K).
        mass (Tensor): m, the clamped column masses of Z(t), (B, 1, K).
        mixed (Tensor): v, what the N-step mixes with mu(t-1), (B, C, K).
        mixed_norm (Tensor | None): the norm v was divided by (unit
            mixing below eta 1), (B, 1, K).
        norm (Tensor | None): the norm mu(t) was divided by (normalised
            bases), (B, 1, K).
    """
    bases: Tensor
    resp: Tensor
    resp_n: Tensor
    mass: Tensor
    mixed: Tensor
    mixed_norm: Optional[Tensor]
    norm: Optional[Tensor]


def em_iteration(feats: Tensor,
                 bases: Tensor,
                 step_size: float = 0.5,
                 inv_temperature: float = 1.0,
                 normalize_bases: bool = True,
                 mixing: str = 'unit') -> Iteration:
    """One iteration F, E-step then N-step: the one forward every path
    runs (the plain loop, each gradient mode, the analytic backward's
    forward), so that they all compute the same bits.

    Args:
        feats (Tensor): X, (B, C, N).
        bases (Tensor): mu(t-1), (B|1, C, K).
        step_size, inv_temperature, normalize_bases, mixing: as
            :func:`unrolled_em`.

    Returns:
        Iteration: mu(t) (B, C, K), Z(t) (B, N, K) and the intermediates.
    """
    resp = e_step(
        feats, bases, inv_temperature, gaussian_bias=not normalize_bases)
    hat, resp_n, mass = _m_step(feats, resp)
    new, v, v_norm, new_norm = _n_step(bases, hat, step_size, normalize_bases,
                                       mixing)
    return Iteration(new, resp, resp_n, mass, v, v_norm, new_norm)


class EMResult(NamedTuple):
    """What :func:`unrolled_em` returns.

    Attributes:
        bases (Tensor): mu(T), (B, C, K).
        resp (Tensor): Z(T), the last E-step, (B, N, K).
        bases_history (list[Tensor] | None): [mu(0), ..., mu(T)] when asked.
        resp_history (list[Tensor] | None): [Z(1), ..., Z(T)] when asked.
    """
    bases: Tensor
    resp: Tensor
    bases_history: Optional[List[Tensor]] = None
    resp_history: Optional[List[Tensor]] = None


def unrolled_em(feats: Tensor,
                bases: Tensor,
                num_stages: int,
                step_size: float = 0.5,
                inv_temperature: float = 1.0,
                normalize_bases: bool = True,
                mixing: str = 'unit',
                return_history: bool = False) -> EMResult:
    """Run T iterations of highway EM (:func:`em_iteration`).

    Gradient flows through every iteration unless the caller wraps this in
    ``torch.no_grad()`` (EMANet). ``Z(T)`` is computed from ``mu(T-1)``, as
    in EMANet, and :func:`reconstruct` pairs it with ``mu(T)``.

    Args:
        feats (Tensor): X, (B, C, N).
        bases (Tensor): mu(0), (B|1, C, K).
        num_stages (int): T >= 1.
        step_size (float): eta in (0, 1]. Defaults to 0.5.
        inv_temperature (float): beta > 0. Defaults to 1.0.
        normalize_bases (bool): L2-normalise mu after each step; when off,
            the E-step keeps the Gaussian ``-beta ||mu_k||^2 / 2`` term.
            Defaults to True.
        mixing (str): N-step mixing with normalised bases, ``'unit'`` or
            ``'raw'`` (see :func:`highway_step`). Defaults to ``'unit'``.
        return_history (bool): also return every mu(t) and Z(t).

    Returns:
        EMResult: mu(T) (B, C, K), Z(T) (B, N, K) and optional histories.
    """
    if num_stages < 1:
        raise ValueError(f'num_stages must be >= 1, got {num_stages}')
    if mixing not in MIXINGS:
        raise ValueError(f'mixing must be one of {MIXINGS}, got {mixing!r}')
    bases_hist = [bases] if return_history else None
    resp_hist = [] if return_history else None
    resp = None
    for _ in range(num_stages):
        bases, resp = em_iteration(feats, bases, step_size, inv_temperature,
                                   normalize_bases, mixing)[:2]
        if return_history:
            bases_hist.append(bases)
            resp_hist.append(resp)
    return EMResult(bases, resp, bases_hist, resp_hist)


def log_likelihood(feats: Tensor,
                   bases: Tensor,
                   inv_temperature: float = 1.0,
                   normalize_bases: bool = True) -> Tensor:
    """The objective EM climbs, averaged over pixels, one value per image.

    * ``normalize_bases=True``: with unit-norm means the E-step is the exact
      posterior and EM climbs, up to a constant,
      ``L(mu) = mean_n logsumexp_k(beta x_n . mu_k)`` (a von Mises-Fisher
      mixture with concentration beta, equal weights).
    * ``normalize_bases=False``: the log-likelihood of the equal-weight
      isotropic Gaussian mixture with variance 1/beta,
      ``mean_n log( 1/K sum_k N(x_n; mu_k, I / beta) )``.

    Args:
        feats (Tensor): X, (B, C, N).
        bases (Tensor): mu, (B|1, C, K).
        inv_temperature (float): beta. Defaults to 1.0.
        normalize_bases (bool): which objective. Defaults to True.

    Returns:
        Tensor: (B,) mean log-likelihood per pixel.
    """
    beta = inv_temperature
    # (B, N, K)
    logits = torch.matmul(feats.transpose(1, 2), bases) * beta
    if normalize_bases:
        return torch.logsumexp(logits, dim=2).mean(dim=1)
    channels = feats.shape[1]
    num_bases = bases.shape[2]
    logits = logits - 0.5 * beta * (bases * bases).sum(dim=1, keepdim=True)
    # (B, N)
    sq_norm = 0.5 * beta * (feats * feats).sum(dim=1)
    const = -math.log(num_bases) - 0.5 * channels * math.log(
        2 * math.pi / beta)
    return (torch.logsumexp(logits, dim=2) - sq_norm + const).mean(dim=1)
