"""Which gradient flows back through the unrolled EM: four estimators.

Every mode runs the same forward, T iterations of highway EM from mu(0)
(:func:`~.highway_em.unrolled_em`), and returns the same mu(T) and Z(T);
only the backward differs.

* ``'none'`` (EMANet, Li et al., ICCV 2019, https://arxiv.org/abs/1907.13426):
  the loop runs under ``no_grad``; nothing reaches X or mu(0) through it.
* ``'unrolled'`` (HEMNet, Song et al., AAAI 2021,
  https://arxiv.org/abs/2012.04926): backpropagation through all T
  iterations, to X and to mu(0). At eta 1 this is plain unrolled EM; at
  eta < 1 the highway.
* ``'one_step'`` (Hamburger, Geng et al., ICLR 2021,
  https://arxiv.org/abs/2109.04553): mu(T-1) is computed without gradient,
  then ``Z(T) = E(X, mu(T-1))`` and ``mu(T) = N-step(mu(T-1), M(X, Z(T)))``
  with the gradient to X only. O(1) memory and backward time in T.
* ``'implicit'`` (the implicit function theorem at the fixed point
  ``mu* = F(mu*, X)``, as deep equilibrium models, Bai et al., NeurIPS 2019,
  https://arxiv.org/abs/1909.01377): mu(T-1) is taken as the fixed point;
  the last iteration is applied to it with autograd, and the gradient that
  reaches mu(T-1) is replaced by the solution ``w`` of the adjoint equation
  ``w = v + w dF/dmu`` (v the gradient arriving there), found by fixed-point
  iteration with vector-Jacobian products of one N-step, and sent to X
  through ``dF/dX``. It is the exact gradient of the converged EM only where
  the forward has converged (mu(T-1) = F(mu(T-1), X)); at small T it is the
  exact gradient of a fixed point the forward has not reached. Where the
  adjoint does not reach its tolerance, w is its iterate 0, ``w = v`` (the
  Jacobian-free gradient), which cannot blow up.

F is one E-step plus N-step (:func:`~.highway_em.em_iteration`, the one
forward every mode runs). Which backward computes the unrolled and one-step
gradients (autograd or :mod:`.analytic_em`) is decided in one place,
:func:`use_analytic`. Shapes: B batch, C channels, N pixels, K bases;
X (B, C, N), mu (B|1, C, K), Z (B, N, K).
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from .analytic_em import analytic_unrolled_em
from .em_settings import EMSettings
from .highway_em import EMResult, em_iteration, unrolled_em


def solve_adjoint(grad: Tensor, vjp, max_iters: int,
                  tol: float) -> Tuple[Tensor, int, float]:
    """Solve ``w = grad + vjp(w)`` by fixed-point iteration.

    The iteration converges where ``dF/dmu`` has spectral radius below 1 (an
    attracting fixed point). Where it does not (a forward far from its
    fixed point: on a trained CamVid head at beta 1 and T 3 ten iterations
    grew the gradient 2.8x, thirty 67000x), the iterate with the smallest
    residual ``||grad + vjp(w) - w|| / ||w||`` is returned, as deep
    equilibrium solvers return their lowest-residual iterate.

    Args:
        grad (Tensor): v, the gradient arriving at the fixed point.
        vjp (callable): ``w -> w dF/dmu``.
        max_iters (int): at most this many iterations.
        tol (float): stop when the relative residual is at most ``tol``.

    Returns:
        tuple: w, the number of iterations whose iterate it is (0: ``grad``
        itself), and its relative residual.
    """
    adjoint = grad
    best, best_iter, best_res = grad, 0, float('inf')
    for used in range(max_iters):
        new = grad + vjp(adjoint)
        # the residual of the current iterate, measured by this step
        res = float((new - adjoint).norm() / adjoint.norm().clamp_min(1e-30))
        if res < best_res:
            best, best_iter, best_res = adjoint, used, res
        adjoint = new
        if res <= tol:
            # converged: the newest iterate is at least as good
            return new, used + 1, res
    return best, best_iter, best_res


def implicit_fixed_point(feats: Tensor,
                         bases: Tensor,
                         max_iters: int = 10,
                         tol: float = 1e-4,
                         on_adjoint: Optional[Callable[[dict], None]] = None,
                         **step_kwargs) -> Tensor:
    """mu(T-1) as a fixed point of F, carrying the implicit gradient to X.

    The value returned is ``bases`` exactly; in the backward, the gradient
    v arriving at it becomes ``w = v (I - dF/dmu)^-1`` (by
    :func:`solve_adjoint`), which then reaches X as ``w dF/dX``. Where the
    solve does not reach ``tol`` (a forward far from its fixed point, where
    the plain iteration grows without bound), w is its iterate 0, ``w = v``:
    the Jacobian-free gradient (Fung et al., AAAI 2022), the first term of
    the Neumann series of ``(I - dF/dmu)^-1``, which cannot blow up.

    After each backward ``on_adjoint`` gets the solve's statistics:
    ``iters`` (the iterate the solve returned), ``change`` (its relative
    residual), ``converged`` (1.0 where it reached ``tol``), ``fallback``
    (1.0 where iterate 0 was used instead) and ``grad_ratio``:
    ``||g_1 + w dF/dX|| / ||g_1 + v dF/dX||`` at X, the solve's gradient
    against iterate 0's, g_1 being the gradient X gets through the last
    iteration alone. It costs one more forward of F and
    two vector-Jacobian products to X per backward, on a graph of their
    own (the training gradient is computed as without it), and a hook on
    ``feats`` that reads the gradient X receives.

    Args:
        feats (Tensor): X, (B, C, N), with gradient.
        bases (Tensor): mu(T-1), (B, C, K), without gradient.
        max_iters (int): adjoint iterations at most. Defaults to 10.
        tol (float): relative tolerance of the adjoint. Defaults to 1e-4.
        on_adjoint (callable, optional): called with the statistics above
            after each backward.
        **step_kwargs: step_size, inv_temperature, normalize_bases, mixing.

    Returns:
        Tensor: (B, C, K), equal to ``bases``.
    """
    bases = bases.detach()
    stepped = em_iteration(feats, bases, **step_kwargs).bases
    # value: bases exactly (x - x == 0); gradient: through F(bases, X) to X
    fixed = bases + (stepped - stepped.detach())
    frozen = feats.detach()
    solved: dict = {}

    def adjoint_hook(grad: Tensor) -> Tensor:
        with torch.enable_grad():
            leaf = bases.clone().requires_grad_()
            out = em_iteration(frozen, leaf, **step_kwargs).bases

            def vjp(vec: Tensor) -> Tensor:
                return torch.autograd.grad(
                    out, leaf, vec, retain_graph=True)[0]

            adjoint, used, change = solve_adjoint(grad, vjp, max_iters, tol)
            fallback = change > tol
            if on_adjoint is not None:
                # w dF/dX and v dF/dX on a graph of their own
                x = frozen.clone().requires_grad_()
                out_x = em_iteration(x, bases, **step_kwargs).bases
                solved.update(
                    iters=used,
                    change=change,
                    converged=float(not fallback),
                    fallback=float(fallback),
                    to_x=[
                        torch.autograd.grad(out_x, x, vec,
                                            retain_graph=True)[0]
                        for vec in (adjoint, grad)
                    ])
        # unsolved: iterate 0, the Jacobian-free gradient, cannot blow up
        return grad if fallback else adjoint

    def input_hook(grad: Tensor) -> None:
        # grad = g_1 + (w or v) dF/dX: what X received through the unit
        if 'to_x' not in solved:
            return
        implicit, jacobian_free = solved.pop('to_x')
        direct = grad - (jacobian_free if solved['fallback'] else implicit)
        ratio = (direct + implicit).norm() / (
            direct + jacobian_free).norm().clamp_min(1e-30)
        on_adjoint(dict(solved, grad_ratio=float(ratio)))

    if fixed.requires_grad:
        fixed.register_hook(adjoint_hook)
        if on_adjoint is not None:
            feats.register_hook(input_hook)
    return fixed


def use_analytic(settings: EMSettings, return_history: bool = False) -> bool:
    """Whether a forward computes its gradient with the analytic backward:
    ``em_backward='analytic'`` for ``'unrolled'`` and ``'one_step'``, with a
    gradient to compute, and neither a history (the analysis tools trace
    every mu(t) with autograd) nor a trace (``torch.jit.trace`` and the
    TorchScript ONNX exporter record the plain ops: an exported graph has no
    backward, and torch 2.13's ONNX inlining of a two-output
    ``autograd.Function`` returned Z(T) where mu(T) belongs)."""
    return (settings.em_backward == 'analytic'
            and settings.grad_mode in ('unrolled', 'one_step')
            and not return_history and torch.is_grad_enabled()
            and not torch.jit.is_tracing())


def em_with_grad_mode(
        feats: Tensor,
        bases: Tensor,
        settings: EMSettings,
        num_stages: Optional[int] = None,
        return_history: bool = False,
        on_adjoint: Optional[Callable[[dict], None]] = None) -> EMResult:
    """T iterations of highway EM with the backward of
    ``settings.grad_mode``.

    Args:
        feats (Tensor): X, (B, C, N).
        bases (Tensor): mu(0), (B|1, C, K).
        settings (EMSettings): the unit's settings.
        num_stages (int, optional): T; defaults to ``settings.num_stages``.
        return_history (bool): also return every mu(t) and Z(t) (computed
            with autograd).
        on_adjoint (callable, optional): gets the adjoint solve's
            statistics after each implicit backward
            (:func:`implicit_fixed_point`).

    Returns:
        EMResult: mu(T) (B, C, K), Z(T) (B, N, K), optional histories; the
        values do not depend on ``grad_mode`` or ``em_backward``.
    """
    num_stages = settings.num_stages if num_stages is None else num_stages
    if num_stages < 1:
        raise ValueError(f'num_stages must be >= 1, got {num_stages}')
    kwargs = settings.iteration
    mode = settings.grad_mode
    analytic = use_analytic(settings, return_history)
    if mode == 'unrolled' and analytic:
        return EMResult(
            *analytic_unrolled_em(feats, bases, num_stages, **kwargs))
    if mode in ('none', 'unrolled'):
        with torch.set_grad_enabled(mode == 'unrolled'
                                    and torch.is_grad_enabled()):
            return unrolled_em(
                feats,
                bases,
                num_stages,
                return_history=return_history,
                **kwargs)
    bases_hist = [bases] if return_history else None
    resp_hist = [] if return_history else None
    prev = bases.detach()
    if num_stages > 1:
        with torch.no_grad():
            head = unrolled_em(
                feats,
                bases,
                num_stages - 1,
                return_history=return_history,
                **kwargs)
        prev = head.bases
        if return_history:
            bases_hist, resp_hist = head.bases_history, head.resp_history
    if mode == 'implicit' and torch.is_grad_enabled():
        prev = implicit_fixed_point(feats, prev.expand(feats.shape[0], -1, -1),
                                    settings.implicit_iters,
                                    settings.implicit_tol, on_adjoint,
                                    **kwargs)
    if analytic:
        new, resp = analytic_unrolled_em(feats, prev, 1, **kwargs)
    else:
        new, resp = em_iteration(feats, prev, **kwargs)[:2]
    if return_history:
        bases_hist.append(new)
        resp_hist.append(resp)
    return EMResult(new, resp, bases_hist, resp_hist)
