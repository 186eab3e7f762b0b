"""The four gradient estimators through the unrolled EM (issue 25): same
forward in every mode, and each backward what it claims to be."""
import pytest
import torch

from hemnet_mmseg.models.layers import (GRAD_MODES, EMSettings, em_iteration,
                                        em_with_grad_mode)

C, N, K, B = 8, 48, 4, 2


def _em(feats, bases, num_stages, grad_mode='unrolled', **kwargs):
    """em_with_grad_mode with the settings given as keywords."""
    call = {
        k: kwargs.pop(k)
        for k in ('return_history', 'on_adjoint') if k in kwargs
    }
    settings = EMSettings(num_stages, grad_mode=grad_mode, **kwargs)
    return em_with_grad_mode(feats, bases, settings, **call)


def _data(seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(B, C, N, generator=gen, dtype=torch.float64) * scale
    bases = torch.nn.functional.normalize(
        torch.randn(1, C, K, generator=gen, dtype=torch.float64), dim=1)
    weight = torch.randn(B, C, N, generator=gen, dtype=torch.float64)
    return feats, bases, weight


def _clustered(seed=0, scale=1.0, spread=3.0):
    """Pixels around K centres: EM converges in tens of iterations."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(C, K, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, K, (B, N), generator=gen)
    feats = spread * centres[:, labels].permute(1, 0, 2) + torch.randn(
        B, C, N, generator=gen, dtype=torch.float64)
    bases = torch.nn.functional.normalize(
        torch.randn(1, C, K, generator=gen, dtype=torch.float64), dim=1)
    weight = torch.randn(B, C, N, generator=gen, dtype=torch.float64)
    return feats * scale, bases, weight


def _input_grad(mode, feats, bases, weight, num_stages, **kwargs):
    """dL/dX for L = sum(weight * mu(T) Z(T)^T), the unit's output."""
    x = feats.clone().requires_grad_()
    res = _em(x, bases, num_stages, grad_mode=mode, **kwargs)
    recon = torch.matmul(res.bases, res.resp.transpose(1, 2))
    (weight * recon).sum().backward()
    return x.grad


def _cos(a, b):
    return float(
        torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0))


@pytest.mark.parametrize('num_stages', [1, 2, 3, 5])
@pytest.mark.parametrize('step_size', [1.0, 0.5])
@pytest.mark.parametrize('normalize_bases', [True, False])
def test_forward_is_the_same_in_every_mode(num_stages, step_size,
                                           normalize_bases):
    feats, bases, _ = _data()
    kw = dict(
        step_size=step_size,
        normalize_bases=normalize_bases,
        return_history=True)
    ref = _em(feats, bases, num_stages, 'unrolled', **kw)
    for mode in GRAD_MODES:
        x = feats.clone().requires_grad_()
        res = _em(x, bases, num_stages, mode, **kw)
        assert torch.equal(res.bases, ref.bases), mode
        assert torch.equal(res.resp, ref.resp), mode
        assert len(res.bases_history) == num_stages + 1
        for a, b in zip(res.bases_history, ref.bases_history):
            assert torch.equal(a.expand_as(b), b), mode


def test_none_sends_nothing_back():
    feats, bases, _ = _data()
    x = feats.clone().requires_grad_()
    res = _em(x, bases, 3, 'none')
    assert not res.bases.requires_grad and not res.resp.requires_grad


@pytest.mark.parametrize('step_size', [1.0, 0.5, 0.2])
def test_one_step_equals_unrolled_at_one_iteration(step_size):
    feats, bases, weight = _data(1)
    a = _input_grad('one_step', feats, bases, weight, 1, step_size=step_size)
    b = _input_grad('unrolled', feats, bases, weight, 1, step_size=step_size)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_only_unrolled_reaches_the_initial_bases():
    feats, bases, weight = _data(2)
    for mode in GRAD_MODES:
        mu0 = bases.clone().requires_grad_()
        x = feats.clone().requires_grad_(mode != 'none')
        res = _em(x, mu0, 3, mode)
        if mode == 'none':
            continue
        (weight *
         torch.matmul(res.bases, res.resp.transpose(1, 2))).sum().backward()
        assert (mu0.grad is not None) == (mode == 'unrolled'), mode
        assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize('inv_temperature,scale', [(1.0, 1.0), (0.1, 1.0),
                                                   (5.0, 0.5)])
@pytest.mark.parametrize('step_size', [1.0, 0.5])
def test_implicit_is_the_limit_of_unrolled_once_converged(
        inv_temperature, scale, step_size):
    """Flat (beta 0.1) and sharp (beta 5) E-steps: at a converged forward
    (T 300) the implicit gradient equals backpropagation through all
    iterations."""
    feats, bases, weight = _clustered(3, scale)
    kw = dict(
        step_size=step_size,
        inv_temperature=inv_temperature,
        implicit_iters=1000,
        implicit_tol=1e-13)
    res = _em(feats, bases, 200, 'none', **kw)
    prev = _em(feats, bases, 199, 'none', **kw)
    assert (res.bases - prev.bases).abs().max() < 1e-12  # converged
    implicit = _input_grad('implicit', feats, bases, weight, 200, **kw)
    unrolled = _input_grad('unrolled', feats, bases, weight, 200, **kw)
    torch.testing.assert_close(implicit, unrolled, rtol=1e-6, atol=1e-8)


def test_implicit_does_not_depend_on_eta_at_convergence():
    """F_eta has the same fixed points for every eta: so has the exact
    gradient there."""
    feats, bases, weight = _clustered(4)
    kw = dict(implicit_iters=1000, implicit_tol=1e-13)
    one = _input_grad(
        'implicit', feats, bases, weight, 200, step_size=1.0, **kw)
    half = _input_grad(
        'implicit', feats, bases, weight, 200, step_size=0.5, **kw)
    torch.testing.assert_close(one, half, rtol=1e-6, atol=1e-8)


@pytest.mark.slow
def test_implicit_is_the_gradient_of_the_converged_map():
    """gradcheck: at a converged forward the implicit backward is the
    derivative of the forward function itself."""
    feats, bases, _ = _clustered(6)
    feats = feats[:1, :, :16].clone().requires_grad_()
    done = _em(feats.detach(), bases, 100, 'none')
    before = _em(feats.detach(), bases, 99, 'none')
    assert (done.bases - before.bases).abs().max() < 1e-10  # converged

    def unit(x):
        res = _em(
            x, bases, 100, 'implicit', implicit_iters=1000, implicit_tol=1e-14)
        return torch.matmul(res.bases, res.resp.transpose(1, 2))

    assert torch.autograd.gradcheck(
        unit, (feats, ), atol=1e-6, rtol=1e-4, check_undefined_grad=False)


def test_implicit_reports_its_adjoint_solve():
    """At a converged forward the adjoint converges and says so; with a
    cap of 7 iterations and tolerance 0 it stops at the cap."""
    feats, bases, weight = _clustered(6)
    for iters, tol, converged in ((500, 1e-10, True), (7, 0.0, False)):
        stats = {}
        x = feats.clone().requires_grad_()
        res = _em(
            x,
            bases,
            100,
            'implicit',
            implicit_iters=iters,
            implicit_tol=tol,
            on_adjoint=stats.update)
        (weight *
         torch.matmul(res.bases, res.resp.transpose(1, 2))).sum().backward()
        assert torch.isfinite(x.grad).all()
        assert stats['iters'] <= iters
        assert (stats['change'] <= tol) == converged, stats


def test_unknown_mode_names_itself():
    feats, bases, _ = _data()
    with pytest.raises(ValueError, match='grad_mode'):
        _em(feats, bases, 3, 'exact')


def test_adjoint_converges_to_the_neumann_sum():
    from hemnet_mmseg.models.layers.grad_modes import solve_adjoint
    v = torch.randn(3, 4, dtype=torch.float64)
    w, iters, res = solve_adjoint(v, lambda x: 0.5 * x, 200, 1e-12)
    torch.testing.assert_close(w, 2 * v)  # v (I - 0.5 I)^-1
    assert res <= 1e-12 and iters < 200


def test_diverging_adjoint_returns_its_lowest_residual_iterate():
    """Spectral radius 1.5: the plain iteration grows without bound; the
    solve returns the iterate of smallest residual instead."""
    from hemnet_mmseg.models.layers.grad_modes import solve_adjoint
    v = torch.randn(3, 4, dtype=torch.float64)
    w, iters, res = solve_adjoint(v, lambda x: -1.5 * x, 30, 1e-6)
    assert iters == 0 and torch.equal(w, v)
    assert res == pytest.approx(1.5)


def _two_grads(feats, bases, weight, num_stages, **kw):
    """dL/dX of the implicit mode, and the two candidates its logged
    ratio compares, built by hand: the solve's gradient g_1 + w dF/dX
    (what X gets) and iterate 0's g_1 + v dF/dX (the same graph with the
    adjoint hook left out)."""
    stats = {}
    got = _input_grad(
        'implicit',
        feats,
        bases,
        weight,
        num_stages,
        on_adjoint=stats.update,
        **kw)
    prev = _em(feats, bases, num_stages - 1, 'none').bases
    x = feats.clone().requires_grad_()
    stepped, _ = em_iteration(x, prev)[:2]
    fixed = prev + (stepped - stepped.detach())  # no adjoint: w = v
    last, resp = em_iteration(x, fixed)[:2]
    (weight * torch.matmul(last, resp.transpose(1, 2))).sum().backward()
    return got, x.grad, stats


def test_implicit_logs_the_norm_ratio_it_claims():
    """on_adjoint's grad_ratio is ||implicit dL/dX|| / ||iterate-0
    dL/dX||, both computed here independently."""
    feats, bases, weight = _clustered(7)
    got, iterate0, stats = _two_grads(
        feats, bases, weight, 3, implicit_tol=1e-13, implicit_iters=500)
    assert stats['converged'] == 1.0
    assert set(stats) == {
        'iters', 'change', 'converged', 'fallback', 'grad_ratio'
    }
    assert stats['grad_ratio'] == pytest.approx(
        float(got.norm() / iterate0.norm()), rel=1e-9)
    assert not torch.allclose(got, iterate0)  # the ratio is not trivially 1


def test_hem_module_logs_the_adjoint_solve_to_the_message_hub():
    from mmengine.logging import MessageHub

    from hemnet_mmseg.models import HEMModule
    hub = MessageHub.get_instance('adjoint-test')
    unit = HEMModule(8, 4, 3, grad_mode='implicit')
    x = torch.randn(2, 8, 5, 6, requires_grad=True)
    unit(x).square().sum().backward()
    for key in ('iters', 'change', 'converged', 'fallback', 'grad_ratio',
                'fallbacks'):
        assert hub.get_scalar(f'train/adjoint_{key}').current() == \
            unit.adjoint_stats[key], key


def test_implicit_falls_back_to_iterate_0_far_from_the_fixed_point():
    """Unclustered pixels, T 3, beta 1: the forward is far from its fixed
    point and the adjoint iteration does not reach its tolerance; the
    backward then uses iterate 0 (w = v), not the lowest-residual iterate,
    and says so."""
    feats, bases, weight = _data(8, scale=3.0)
    got, iterate0, stats = _two_grads(feats, bases, weight, 3)
    assert stats['converged'] == 0.0 and stats['fallback'] == 1.0, stats
    assert stats['iters'] > 0  # the old policy would have used another
    assert stats['grad_ratio'] != pytest.approx(1.0, abs=1e-3)
    torch.testing.assert_close(got, iterate0, rtol=1e-12, atol=1e-12)


def _exact_implicit(feats, bases, weight, num_stages, **kw):
    """dL/dX with the adjoint solved exactly (float64, a dense solve):
    g_1 + v (I - dF/dmu)^-1 dF/dX at mu(T-1)."""
    prev = _em(feats, bases, num_stages - 1, 'none',
               **kw).bases.expand(feats.shape[0], -1, -1)

    def loss(x, mu):
        last, resp = em_iteration(x, mu, **kw)[:2]
        return (weight * torch.matmul(last, resp.transpose(1, 2))).sum()

    x = feats.clone().requires_grad_()
    mu = prev.clone().requires_grad_()
    direct, v = torch.autograd.grad(loss(x, mu), (x, mu))
    jac = torch.autograd.functional.jacobian(
        lambda m: em_iteration(feats, m, **kw).bases,
        prev).reshape(prev.numel(), prev.numel())
    eye = torch.eye(prev.numel(), dtype=jac.dtype)
    w = torch.linalg.solve((eye - jac).T, v.reshape(-1)).reshape(prev.shape)
    x = feats.clone().requires_grad_()
    step, _ = em_iteration(x, prev, **kw)[:2]
    (through, ) = torch.autograd.grad(step, x, w)
    return direct + through


def test_contractive_implicit_is_the_exact_implicit_gradient():
    """beta 0.1: dF/dmu is contractive (about 0.5 per adjoint iteration
    here), the adjoint reaches the default tolerance 1e-4 within 50
    iterations, nothing falls back, and dL/dX is the float64 reference's (a
    dense solve of the adjoint)."""
    feats, bases, weight = _data(9)
    kw = dict(inv_temperature=0.1)
    stats = {}
    got = _input_grad(
        'implicit',
        feats,
        bases,
        weight,
        3,
        on_adjoint=stats.update,
        implicit_iters=50,
        **kw)
    assert stats['converged'] == 1.0 and stats['fallback'] == 0.0, stats
    exact = _exact_implicit(feats, bases, weight, 3, **kw)
    # a residual under 1e-4 at a contraction of about 0.5: 2e-4 at most
    assert float((got - exact).norm() / exact.norm()) < 2e-4
    tight = _input_grad(
        'implicit',
        feats,
        bases,
        weight,
        3,
        implicit_iters=200,
        implicit_tol=1e-14,
        **kw)
    torch.testing.assert_close(tight, exact, rtol=1e-10, atol=1e-12)
