"""The pure highway-EM math: shapes, GEM property, stability, gradient flow."""
import pytest
import torch
import torch.nn.functional as F

from hemnet_mmseg.models.layers import (
    e_step,
    highway_step,
    log_likelihood,
    m_step,
    reconstruct,
    unrolled_em,
)

B, C, N, K = 2, 16, 50, 6


def _inputs(seed, dtype=torch.float64, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(B, C, N, generator=g, dtype=dtype) * scale
    bases = F.normalize(torch.randn(1, C, K, generator=g, dtype=dtype), dim=1)
    return feats, bases


def test_shapes_and_normalisation():
    feats, bases = _inputs(0, torch.float32)
    z = e_step(feats, bases)
    assert z.shape == (B, N, K)
    torch.testing.assert_close(z.sum(2), torch.ones(B, N))
    mu_hat = m_step(feats, z)
    assert mu_hat.shape == (B, C, K)
    mu = highway_step(bases, mu_hat, 0.5, normalize=True)
    torch.testing.assert_close(mu.norm(dim=1), torch.ones(B, K))
    assert reconstruct(mu, z).shape == (B, C, N)
    res = unrolled_em(feats, bases, 4, return_history=True)
    assert len(res.bases_history) == 5 and len(res.resp_history) == 4
    assert res.bases is res.bases_history[-1]
    assert log_likelihood(feats, res.bases).shape == (B, )


def test_m_step_is_weighted_mean():
    feats, bases = _inputs(1)
    z = e_step(feats, bases)
    mu_hat = m_step(feats, z)
    expected = torch.einsum('bcn,bnk->bck', feats, z) / z.sum(1, keepdim=True)
    torch.testing.assert_close(mu_hat, expected)


def test_step_size_one_is_plain_em():
    feats, bases = _inputs(2)
    z = e_step(feats, bases)
    mu_hat = m_step(feats, z)
    torch.testing.assert_close(
        highway_step(bases, mu_hat, 1.0), F.normalize(mu_hat, dim=1))
    half = highway_step(bases, mu_hat, 0.5, normalize=False)
    torch.testing.assert_close(half, 0.5 * bases + 0.5 * mu_hat)


def test_gaussian_bias_gives_gaussian_posterior():
    """With free means the E-step equals the exact Gaussian posterior."""
    feats, _ = _inputs(3)
    bases = torch.randn(1, C, K, dtype=torch.float64) * 2
    beta = 0.7
    z = e_step(feats, bases, beta, gaussian_bias=True)
    # -beta/2 ||x_n - mu_k||^2, softmax over k
    d2 = ((feats.unsqueeze(3) - bases.unsqueeze(2))**2).sum(1)  # (B, N, K)
    torch.testing.assert_close(z, torch.softmax(-0.5 * beta * d2, dim=2))


@pytest.mark.parametrize('normalize_bases', [True, False])
@pytest.mark.parametrize('step_size', [1.0, 0.8, 0.5, 0.2, 0.05])
@pytest.mark.parametrize('inv_temperature', [0.1, 1.0, 5.0])
def test_gem_property_log_likelihood_never_decreases(normalize_bases,
                                                     step_size,
                                                     inv_temperature):
    """GEM: the objective of the method doc never decreases, 50 inputs each.

    A counterexample is a finding to report, not a tolerance to widen: the
    tolerance here is float64 round-off only.
    """
    for seed in range(50):
        feats, bases = _inputs(seed)
        if not normalize_bases:
            # free means: start off the sphere, at another scale
            bases = bases * (0.5 + seed % 3)
        res = unrolled_em(feats, bases, 8, step_size, inv_temperature,
                          normalize_bases, return_history=True)
        ll = torch.stack([
            log_likelihood(feats, mu, inv_temperature, normalize_bases)
            for mu in res.bases_history
        ])  # (T + 1, B)
        steps = ll[1:] - ll[:-1]
        assert (steps >= -1e-9).all(), (
            f'log-likelihood decreased (seed {seed}): {steps.min().item()}')


@pytest.mark.parametrize('normalize_bases', [True, False])
@pytest.mark.parametrize('scale', [1e-4, 1.0, 1e4])
def test_finite_for_any_input_scale(normalize_bases, scale):
    feats, bases = _inputs(4, torch.float32, scale)
    feats.requires_grad_(True)
    res = unrolled_em(feats, bases, 5, 0.5, 1.0, normalize_bases)
    out = reconstruct(res.bases, res.resp)
    assert torch.isfinite(out).all()
    assert torch.isfinite(
        log_likelihood(feats, res.bases, 1.0, normalize_bases)).all()
    out.square().mean().backward()
    assert torch.isfinite(feats.grad).all()


def test_no_grad_loop_carries_no_gradient():
    feats, bases = _inputs(5)
    feats.requires_grad_(True)
    with torch.no_grad():
        res = unrolled_em(feats, bases, 3)
    assert not res.bases.requires_grad and not res.resp.requires_grad


def test_highway_keeps_gradient_to_initial_bases_alive():
    """Near-uniform E-step (beta 0.1, unit-variance features), T = 10: the
    gradient reaching mu(0) is >= 1000x larger with eta 0.5 than with 1."""
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 64, 256, generator=g, dtype=torch.float64)
    target = torch.randn(2, 64, 256, generator=g, dtype=torch.float64)
    norms = {}
    for eta in (1.0, 0.5):
        mu0 = F.normalize(
            torch.randn(1, 64, 16, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64),
            dim=1).requires_grad_(True)
        res = unrolled_em(feats, mu0, 10, eta, inv_temperature=0.1)
        loss = (reconstruct(res.bases, res.resp) - target).square().mean()
        (grad, ) = torch.autograd.grad(loss, mu0)
        norms[eta] = grad.norm().item()
    assert norms[0.5] >= 1000 * norms[1.0], norms


def test_num_stages_must_be_positive():
    feats, bases = _inputs(6)
    with pytest.raises(ValueError, match='num_stages'):
        unrolled_em(feats, bases, 0)
