"""``em_tf32``: TF32 for the EM matmuls on CUDA, forward and backward, and
the process's setting restored (issue 26, item 3). The flag is global and
settable without a GPU, so its scoping is tested on the CPU; whether TF32
is used, and its error, only on a GPU."""
import pytest
import torch

import hemnet_mmseg.models.layers.analytic_em as analytic_em
from hemnet_mmseg.models.layers import HEMModule
from hemnet_mmseg.models.layers.matmul_precision import cuda_matmul_precision

FLAGS = torch.backends.cuda.matmul


@pytest.fixture
def matmul_precisions(monkeypatch):
    """The CUDA fp32 precision flag at every torch.matmul, bmm and baddbmm
    call."""
    seen = []

    def recording(fn):

        def call(*args, **kwargs):
            seen.append(FLAGS.fp32_precision)
            return fn(*args, **kwargs)

        return call

    for name in ('matmul', 'bmm', 'baddbmm'):
        monkeypatch.setattr(torch, name, recording(getattr(torch, name)))
    return seen


def test_scope_sets_and_restores_the_flag():
    before = FLAGS.fp32_precision
    with cuda_matmul_precision('tf32'):
        assert FLAGS.fp32_precision == 'tf32'
    assert FLAGS.fp32_precision == before
    with pytest.raises(RuntimeError):
        with cuda_matmul_precision('tf32'):
            raise RuntimeError('inside')
    assert FLAGS.fp32_precision == before
    with cuda_matmul_precision(None):
        assert FLAGS.fp32_precision == before
    with pytest.raises(ValueError, match='precision must be one of'):
        with cuda_matmul_precision('fast'):
            pass


def test_analytic_backward_runs_in_the_forwards_precision(
        monkeypatch, matmul_precisions):
    """The backward runs later, outside any scope around the forward: it
    sets the precision its forward recorded."""
    monkeypatch.setattr(analytic_em, 'forward_precision', lambda x: 'tf32')
    before = FLAGS.fp32_precision
    feats = torch.randn(2, 6, 10, requires_grad=True)
    bases = torch.nn.functional.normalize(torch.randn(1, 6, 4), dim=1)
    mu, resp = analytic_em.analytic_unrolled_em(feats, bases, 3)
    forward_calls = len(matmul_precisions)
    assert FLAGS.fp32_precision == before  # nothing leaks out
    (mu.sum() + resp.sum()).backward()
    backward = matmul_precisions[forward_calls:]
    assert len(backward) >= 3 * 4 and set(backward) == {'tf32'}
    assert FLAGS.fp32_precision == before


@pytest.mark.parametrize('kwargs', [
    dict(grad_mode='unrolled', em_backward='autograd'),
    dict(grad_mode='one_step', em_backward='autograd'),
    dict(grad_mode='implicit', em_backward='analytic'),
    dict(grad_mode='unrolled', em_backward='analytic', em_compile=True),
])
def test_tf32_refused_where_the_backward_escapes_the_scope(kwargs):
    with pytest.raises(ValueError, match='em_tf32=True needs'):
        HEMModule(16, 8, 3, em_tf32=True, **kwargs)


@pytest.mark.parametrize('value', [1, 'true', None])
def test_em_tf32_must_be_a_bool(value):
    with pytest.raises(ValueError, match='em_tf32 must be True or False'):
        HEMModule(16, 8, 3, em_tf32=value)


def test_on_a_cpu_tf32_changes_nothing(matmul_precisions):
    torch.manual_seed(0)
    ieee = HEMModule(16, 8, 3, em_backward='analytic')
    torch.manual_seed(0)
    tf32 = HEMModule(16, 8, 3, em_backward='analytic', em_tf32=True)
    feats = torch.randn(2, 16, 5, 5)
    assert torch.equal(ieee(feats), tf32(feats))
    assert 'tf32' not in matmul_precisions


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_tf32_on_cuda_forward_and_backward(matmul_precisions):
    before = FLAGS.fp32_precision
    torch.manual_seed(0)
    unit = HEMModule(64, 16, 3, em_backward='analytic', em_tf32=True).cuda()
    feats = torch.randn(2, 64, 32, 32, device='cuda', requires_grad=True)
    unit(feats).sum().backward()
    assert 'tf32' in matmul_precisions
    assert FLAGS.fp32_precision == before
    assert torch.isfinite(feats.grad).all()
