"""The analytic backward of the unrolled EM equals autograd's through the
plain functions (issue 26, item 1): gradcheck in float64 for every variant
of the unit, T 1 to 5, eta in (0, 1], feature scales 1e-2 to 1e2."""
import itertools

import pytest
import torch

from hemnet_mmseg.models.layers.analytic_em import analytic_unrolled_em
from hemnet_mmseg.models.layers.highway_em import unrolled_em

B, C, N, K = 2, 5, 7, 3

VARIANTS = [
    dict(normalize_bases=True, mixing='unit'),
    dict(normalize_bases=True, mixing='raw'),
    dict(normalize_bases=False, mixing='unit'),  # the Gaussian bias
]


def _inputs(seed, scale, batch_bases):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(B, C, N, generator=gen, dtype=torch.float64) * scale
    bases = torch.nn.functional.normalize(
        torch.randn(
            B if batch_bases else 1, C, K, generator=gen, dtype=torch.float64),
        dim=1)
    return feats.requires_grad_(), bases.requires_grad_()


def _sweep():
    """Every variant, T, eta and scale; one representative per variant
    stays in the fast loop, the rest are ``slow``."""
    for variant, t, eta, scale in itertools.product(VARIANTS, [1, 2, 3, 5],
                                                    [1.0, 0.5, 0.1],
                                                    [1e-2, 1.0, 1e2]):
        fast = (t, eta, scale) == (3, 0.5, 1.0)
        yield pytest.param(
            variant, t, eta, scale, marks=() if fast else pytest.mark.slow)


@pytest.mark.parametrize('variant,num_stages,step_size,scale', _sweep())
def test_gradcheck_against_the_forward(variant, num_stages, step_size, scale):
    beta = 0.7 if scale >= 1 else 3.0
    if scale == 1e2 and not variant['normalize_bases']:
        beta = 1e-4  # free bases: keep the Gaussian logits in range
    feats, bases = _inputs(num_stages, scale, batch_bases=False)

    def fn(x, mu):
        new, resp = analytic_unrolled_em(x, mu, num_stages, step_size, beta,
                                         **variant)
        return new, resp

    assert torch.autograd.gradcheck(fn, (feats, bases), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('step_size,batch_bases',
                         itertools.product([1.0, 0.3], [False, True]))
def test_equals_autograd_of_the_plain_functions(variant, step_size,
                                                batch_bases):
    """The same values forward, and the same gradients to X and mu(0) as
    backpropagation through unrolled_em, for a loss on mu(T) Z(T)^T."""
    feats, bases = _inputs(7, 3.0, batch_bases)
    weight = torch.randn(B, C, N, dtype=torch.float64)
    grads = []
    for fn in ('autograd', 'analytic'):
        x, mu = feats.detach().requires_grad_(), bases.detach().requires_grad_(
        )
        if fn == 'autograd':
            res = unrolled_em(x, mu, 4, step_size, 0.5, **variant)
            new, resp = res.bases, res.resp
        else:
            new, resp = analytic_unrolled_em(x, mu, 4, step_size, 0.5,
                                             **variant)
        (weight * torch.matmul(new, resp.transpose(1, 2))).sum().backward()
        grads.append((new.detach(), resp.detach(), x.grad, mu.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('grad_mode', ['unrolled', 'one_step'])
@pytest.mark.parametrize('learn_bases', [False, True])
def test_head_gradients_are_the_same_with_either_backward(
        grad_mode, learn_bases):
    """Through the whole HEMHead (learned mu(0) included): every
    parameter's gradient matches between em_backward='autograd' and
    'analytic' (float32 round-off only)."""
    from hemnet_mmseg.models import HEMHead
    if learn_bases and grad_mode != 'unrolled':
        pytest.skip('learned bases need the unrolled gradient')
    grads = []
    for backward in ('autograd', 'analytic'):
        torch.manual_seed(0)
        head = HEMHead(
            in_channels=16,
            in_index=0,
            channels=8,
            ema_channels=12,
            num_bases=4,
            num_stages=3,
            num_classes=3,
            norm_cfg=dict(type='BN'),
            grad_mode=grad_mode,
            learn_bases=learn_bases,
            em_backward=backward).train()
        x = [
            torch.randn(
                2, 16, 6, 7, generator=torch.Generator().manual_seed(1))
        ]
        head(x).square().mean().backward()
        grads.append({
            n: p.grad
            for n, p in head.named_parameters() if p.grad is not None
        })
    assert grads[0].keys() == grads[1].keys()
    assert any(n.startswith('ema_mid_conv') for n in grads[0])
    for name in grads[0]:
        torch.testing.assert_close(
            grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize('variant,step_size,per_iteration', [
    (VARIANTS[0], 0.5, 19),
    (VARIANTS[0], 1.0, 15),
    (VARIANTS[1], 0.5, 15),
    (VARIANTS[2], 0.5, 13),
])
def test_backward_dispatches_a_fixed_handful_of_ops_per_iteration(
        variant, step_size, per_iteration):
    """What a launch-bound GPU pays for (issue 26): the backward's ATen ops
    grow by at most ``per_iteration`` per EM iteration (4 of them bmm or
    baddbmm; autograd through the plain functions dispatches about 50)."""
    from hemnet_mmseg.analysis.timing import op_counts
    counts = []
    for num_stages in (1, 5):
        feats, bases = _inputs(0, 1.0, batch_bases=False)

        def loss(t=num_stages, x=feats, mu=bases):
            new, resp = analytic_unrolled_em(x, mu, t, step_size, 0.7,
                                             **variant)
            return new.square().sum() + resp.square().sum()

        counts.append(op_counts(loss)['backward'])
    assert (counts[1] - counts[0]) / 4 <= per_iteration
