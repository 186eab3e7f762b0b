"""``em_compile``: the EM loop through ``torch.compile`` (issue 26, item 2).

A counting backend (no code generation, fast) shows the loop traces as one
graph with ``fullgraph=True`` (a graph break would raise) for every grad
mode that compiles, gives the eager results, and compiles once for
training and once for evaluation at another T, reusing both afterwards.
Inductor itself (C++ code generation, tens of seconds) is the slow case."""
import shutil

import pytest
import torch

from hemnet_mmseg.models.layers import HEMModule

MODES = [('unrolled', 'autograd'), ('unrolled', 'analytic'),
         ('one_step', 'autograd'), ('one_step', 'analytic'),
         ('none', 'autograd')]


class CountingBackend:
    """A ``torch.compile`` backend that counts the graphs it is given and
    runs them as traced."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph_module, example_inputs):
        self.graphs += 1
        return graph_module.forward


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _units(grad_mode, em_backward, em_compile):
    kwargs = dict(
        channels=16,
        num_bases=8,
        num_stages=3,
        num_stages_eval=5,
        grad_mode=grad_mode,
        em_backward=em_backward)
    torch.manual_seed(0)
    eager = HEMModule(**kwargs)
    torch.manual_seed(0)
    compiled = HEMModule(em_compile=em_compile, **kwargs)
    return eager, compiled


def _step(unit, feats):
    """Recon (B, C, H, W) and dL/dX of one training forward."""
    feats = feats.clone().requires_grad_()
    recon = unit(feats)
    if not recon.requires_grad:  # 'none': no gradient through the loop
        return recon, None
    (recon *
     torch.linspace(-1, 1, recon.numel()).view_as(recon)).sum().backward()
    return recon.detach(), feats.grad


@pytest.mark.parametrize('grad_mode,em_backward', MODES)
def test_one_graph_eager_results_and_one_recompile_for_eval(
        grad_mode, em_backward):
    backend = CountingBackend()
    eager, compiled = _units(grad_mode, em_backward,
                             dict(backend=backend, fullgraph=True))
    feats = torch.randn(2, 16, 6, 5)
    ref_out, ref_grad = _step(eager, feats)
    out, grad = _step(compiled, feats)
    assert backend.graphs == 1
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    if ref_grad is None:
        assert grad is None
    else:
        torch.testing.assert_close(grad, ref_grad, rtol=0, atol=0)
    torch.testing.assert_close(compiled.bases, eager.bases, rtol=0, atol=0)
    compiled.eval()
    with torch.no_grad():
        compiled(feats)  # T 5, no grad: a second graph
        compiled(feats)
    assert backend.graphs == 2
    compiled.train()
    _step(compiled, feats)  # back to training: cached
    assert backend.graphs == 2


def test_implicit_and_history_run_eagerly():
    backend = CountingBackend()
    _, unit = _units('unrolled', 'autograd', dict(backend=backend))
    unit.run_em(torch.randn(2, 16, 30), return_history=True)
    unit.grad_mode = 'implicit'  # as the analysis tools set it
    unit.run_em(torch.randn(2, 16, 30, requires_grad=True))
    assert backend.graphs == 0


@pytest.mark.parametrize('value', [1, 'yes', dict(bogus=1)])
def test_bad_em_compile_names_itself(value):
    with pytest.raises(ValueError, match='em_compile must be True, False'):
        HEMModule(16, 8, 3, em_compile=value)


def test_implicit_is_not_compiled():
    with pytest.raises(ValueError, match="em_compile does not compile"):
        HEMModule(16, 8, 3, grad_mode='implicit', em_compile=True)


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which('g++') or shutil.which('c++')),
    reason='inductor on a CPU needs a C++ compiler')
def test_inductor_agrees_with_eager():
    eager, compiled = _units('unrolled', 'analytic', True)
    feats = torch.randn(2, 16, 8, 8)
    ref_out, ref_grad = _step(eager, feats)
    out, grad = _step(compiled, feats)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-4, atol=1e-5)
