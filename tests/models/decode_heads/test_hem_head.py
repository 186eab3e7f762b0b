"""HEMHead: shapes, gradients, EMAHead equivalence, bases buffer, arguments."""
import copy
import warnings

import pytest
import torch
from mmseg.models.decode_heads import EMAHead
from mmseg.registry import MODELS

import hemnet_mmseg  # noqa: F401  (registers HEMHead)
from hemnet_mmseg.models import HEMHead
from hemnet_mmseg.models.layers import SETTINGS

BN = dict(type='BN', requires_grad=True)


def head_cfg(**kwargs):
    cfg = dict(
        in_channels=32,
        in_index=0,
        channels=16,
        ema_channels=24,
        num_bases=8,
        num_stages=3,
        num_classes=5,
        dropout_ratio=0.0,
        norm_cfg=BN,
        align_corners=False)
    cfg.update(kwargs)
    return cfg


def inputs(batch=2, h=9, w=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 32, h, w, generator=g)]


def test_registered_in_mmseg_registry():
    head = MODELS.build(dict(type='HEMHead', **head_cfg()))
    assert isinstance(head, HEMHead) and isinstance(head, EMAHead)


@pytest.mark.parametrize('batch,h,w', [(1, 8, 8), (2, 9, 11), (3, 5, 17)])
@pytest.mark.parametrize('training', [True, False])
def test_output_shape(batch, h, w, training):
    head = HEMHead(**head_cfg())
    head.train(training)
    out = head(inputs(batch, h, w))
    assert out.shape == (batch, 5, h, w)


def test_every_parameter_gets_gradient_and_nothing_is_nan():
    torch.manual_seed(0)
    head = HEMHead(**head_cfg())
    head.train()
    out = head(inputs())
    out.square().mean().backward()
    assert head.ema_mid_conv.conv.weight.requires_grad
    for name, param in head.named_parameters():
        assert param.requires_grad, name
        assert param.grad is not None, f'{name} got no gradient'
        assert torch.isfinite(param.grad).all(), f'{name} has NaN gradient'
        assert param.grad.abs().sum() > 0, f'{name} got a zero gradient'
    # and gradient reaches the features that feed the EM unit
    x = inputs()[0].requires_grad_(True)
    head.zero_grad()
    head([x]).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_backprop_off_freezes_mid_conv_like_emahead():
    head = HEMHead(**head_cfg(grad_mode='none'))
    assert not any(p.requires_grad for p in head.ema_mid_conv.parameters())


def _pair(seed=0, **hem_kwargs):
    torch.manual_seed(seed)
    ema = EMAHead(**head_cfg())
    hem = HEMHead(**head_cfg(**hem_kwargs))
    hem.load_state_dict(ema.state_dict(), strict=True)
    return ema, hem


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_reproduces_emahead_in_train_and_eval(seed):
    ema, hem = _pair(seed, step_size=1.0, grad_mode='none')
    x = inputs(seed=seed)
    # a training step: outputs and the bases buffer after the update
    ema.train()
    hem.train()
    out_ema, out_hem = ema(x), hem(x)
    torch.testing.assert_close(out_hem, out_ema, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        hem.ema_module.bases, ema.ema_module.bases, atol=1e-5, rtol=1e-5)
    # BN running stats were updated identically too: eval agrees as well
    ema.eval()
    hem.eval()
    with torch.no_grad():
        torch.testing.assert_close(hem(x), ema(x), atol=1e-5, rtol=1e-5)


def test_emahead_state_dict_loads_strict_and_names_match():
    torch.manual_seed(0)
    ema = EMAHead(**head_cfg())
    hem = HEMHead(**head_cfg())
    assert list(ema.state_dict()) == list(hem.state_dict())
    missing = hem.load_state_dict(ema.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert torch.equal(hem.ema_module.bases, ema.ema_module.bases)


def test_same_seed_same_initial_weights_as_emahead():
    torch.manual_seed(3)
    ema = EMAHead(**head_cfg())
    torch.manual_seed(3)
    hem = HEMHead(**head_cfg())
    for (k, a), (_, b) in zip(ema.state_dict().items(),
                              hem.state_dict().items()):
        assert torch.equal(a, b), k


def test_same_seed_same_segmentor_init_as_emanet_twin(repo):
    """The RNG after the head is untouched: the aux head matches too."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from hemnet_mmseg.utils import replace_syncbn
    init_default_scope('mmseg')
    models = []
    for algo in ('emanet', 'hemnet'):
        cfg = Config.fromfile(
            osp.join(repo, 'configs', algo,
                     f'{algo}_r18-d8_1xb8-1k_toy-shapes-64x64.py'))
        torch.manual_seed(5)
        models.append(MODELS.build(replace_syncbn(cfg.model.to_dict())))
    ema, hem = (m.state_dict() for m in models)
    assert list(ema) == list(hem)
    for key in ema:
        assert torch.equal(ema[key], hem[key]), key


def test_bases_unchanged_in_eval():
    head = HEMHead(**head_cfg())
    head.eval()
    before = head.ema_module.bases.clone()
    with torch.no_grad():
        head(inputs())
    head(inputs())  # eval with grad enabled: still no update
    assert torch.equal(head.ema_module.bases, before)


def test_momentum_update_is_emahead_formula_and_detached():
    head = HEMHead(**head_cfg(momentum=0.3))
    head.train()
    module = head.ema_module
    mu0 = module.bases.clone()
    captured = {}

    def keep(mod, args, result):
        captured['feats'] = args[0].detach()

    handle = module.register_forward_hook(keep)
    head(inputs()).sum().backward()
    handle.remove()
    feats = captured['feats']
    flat = feats.flatten(2)
    module.bases.data.copy_(mu0)  # recompute mu(T) from the same start
    with torch.no_grad():
        mu_t = module.run_em(flat).bases
    expected = 0.7 * mu0 + 0.3 * torch.nn.functional.normalize(
        mu_t.mean(0, keepdim=True), dim=1)
    head.ema_module.bases.data.copy_(mu0)
    head(inputs())
    torch.testing.assert_close(module.bases, expected, atol=1e-6, rtol=1e-6)
    # not re-normalised after the update (EMAHead keeps it slightly short)
    assert (module.bases.norm(dim=1) < 1 - 1e-4).any()
    # no autograd graph held by the buffer
    assert not module.bases.requires_grad and module.bases.grad_fn is None


@pytest.mark.parametrize('step_size', [1.0, 0.5])
def test_num_stages_eval_used_only_in_eval(step_size):
    torch.manual_seed(0)
    a = HEMHead(
        **head_cfg(num_stages=2, num_stages_eval=6, step_size=step_size))
    b = HEMHead(**head_cfg(num_stages=6, step_size=step_size))
    b.load_state_dict(a.state_dict())
    a.eval()
    b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(inputs()), b(inputs()))
    assert a.ema_module.current_num_stages == 6
    a.train()
    assert a.ema_module.current_num_stages == 2


def test_em_runs_in_float32_under_autocast(monkeypatch):
    """Under bf16 autocast the unit's input is bf16; em_with_grad_mode gets and
    returns float32, and the output is close to the float32 head's."""
    import hemnet_mmseg.models.layers.hem_module as hem_module
    seen = {}
    real = hem_module.em_with_grad_mode

    def spy(feats, bases, *args, **kwargs):
        res = real(feats, bases, *args, **kwargs)
        seen.update(
            feats=feats.dtype,
            bases=bases.dtype,
            out=(res.bases.dtype, res.resp.dtype))
        return res

    monkeypatch.setattr(hem_module, 'em_with_grad_mode', spy)
    torch.manual_seed(0)
    head = HEMHead(**head_cfg()).eval()
    unit_input = {}
    head.ema_module.register_forward_pre_hook(
        lambda m, a: unit_input.update(dtype=a[0].dtype))
    with torch.no_grad():
        ref = head(inputs())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = head(inputs())
    assert unit_input['dtype'] == torch.bfloat16
    assert seen == dict(
        feats=torch.float32,
        bases=torch.float32,
        out=(torch.float32, torch.float32))
    assert torch.isfinite(out.float()).all()
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.1)


@pytest.mark.parametrize(
    'kwargs,name',
    [
        (dict(step_size=0.0), 'step_size'),
        (dict(step_size=1.5), 'step_size'),
        (dict(step_size=-0.1), 'step_size'),
        (dict(num_stages=0), 'num_stages'),
        (dict(num_stages_eval=0), 'num_stages_eval'),
        (dict(num_bases=0), 'num_bases'),
        (dict(inv_temperature=0.0), 'inv_temperature'),
        (dict(inv_temperature=-1.0), 'inv_temperature'),
        (dict(inv_temperature=float('inf')), 'inv_temperature'),
        # issue 23, item 10: finite but beyond what float32 logits can carry
        (dict(inv_temperature=1e39), 'inv_temperature'),
        (dict(momentum=1.5), 'momentum'),
        (dict(grad_mode='implicit', implicit_iters=0), 'implicit_iters'),
        (dict(grad_mode='implicit', implicit_tol=-1e-3), 'implicit_tol'),
    ])
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name) as err:
        HEMHead(**head_cfg(**kwargs))
    # the message states the allowed range
    assert any(
        s in str(err.value) for s in ('(0, 1]', '>= 1', '(0, 1e+06]', '[0, 1]',
                                      '[1, 1000]', '[1, 10000]'))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_cuda_forward_backward_amp(dtype):
    head = HEMHead(**head_cfg()).cuda().train()
    x = [t.cuda() for t in inputs()]
    with torch.autocast('cuda', dtype=dtype):
        out = head(x)
    out.float().mean().backward()
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)


def test_deepcopy_and_state_dict_roundtrip(tmp_path):
    torch.manual_seed(0)
    head = HEMHead(**head_cfg(step_size=0.3, highway_mixing='raw'))
    head.train()
    head(inputs())  # move the bases buffer off its init
    clone = copy.deepcopy(head)
    assert clone.ema_module.step_size == 0.3
    assert clone.ema_module.highway_mixing == 'raw'
    for (k, a), (_, b) in zip(head.state_dict().items(),
                              clone.state_dict().items()):
        assert torch.equal(a, b), k
    path = tmp_path / 'head.pth'
    torch.save(head.state_dict(), str(path))
    torch.manual_seed(1)  # different init, then load the saved state
    fresh = HEMHead(**head_cfg(step_size=0.3, highway_mixing='raw'))
    assert not torch.equal(fresh.ema_module.bases, head.ema_module.bases)
    fresh.load_state_dict(
        torch.load(str(path), weights_only=True), strict=True)
    head.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(inputs()), head(inputs()))


def test_settings_live_on_the_unit_as_one_value():
    head = HEMHead(**head_cfg(step_size=0.8, highway_mixing='raw'))
    module = head.ema_module
    for name in SETTINGS:
        if name not in ('num_stages', 'momentum'):  # EMAHead's own copies
            assert not hasattr(head, name), name  # stored once, on the unit
    module.configure(num_stages=5)  # what analysis code does
    assert module.current_num_stages == 5
    assert module.em_settings() == dict(
        num_stages=5,
        num_stages_eval=None,
        momentum=0.1,
        step_size=0.8,
        inv_temperature=1.0,
        grad_mode='unrolled',
        normalize_bases=True,
        highway_mixing='raw',
        learn_bases=False,
        implicit_iters=10,
        implicit_tol=1e-4,
        em_backward='analytic')


@pytest.mark.parametrize('kwargs,mode', [
    (dict(), 'unrolled'),
    (dict(backprop_em=True), 'unrolled'),
    (dict(backprop_em=False), 'none'),
    (dict(grad_mode='one_step'), 'one_step'),
    (dict(grad_mode='implicit', backprop_em=True), 'implicit'),
    (dict(grad_mode='none', backprop_em=False), 'none'),
])
def test_backprop_em_is_a_deprecated_alias_of_grad_mode(kwargs, mode):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        head = HEMHead(**head_cfg(**kwargs))
    deprecated = [w for w in caught if 'backprop_em' in str(w.message)]
    assert len(deprecated) == ('backprop_em' in kwargs)
    assert head.ema_module.grad_mode == mode
    # the mid conv trains in every mode with a gradient through the unit
    assert all(p.requires_grad == (mode != 'none')
               for p in head.ema_mid_conv.parameters())


@pytest.mark.parametrize('kwargs', [
    dict(grad_mode='unrolled', backprop_em=False),
    dict(grad_mode='none', backprop_em=True),
    dict(grad_mode='exact'),
])
def test_contradicting_or_unknown_grad_mode_is_refused(kwargs):
    with pytest.raises(ValueError, match='grad_mode'):
        HEMHead(**head_cfg(**kwargs))


@pytest.mark.parametrize('kwargs,name', [
    (dict(normalize_bases='no'), 'normalize_bases'),
    (dict(backprop_em='no'), 'backprop_em'),
    (dict(backprop_em=1), 'backprop_em'),
    (dict(step_size=True), 'step_size'),
    (dict(num_stages=3.0), 'num_stages'),
    (dict(num_stages_eval=True), 'num_stages_eval'),
    (dict(momentum=False), 'momentum'),
    (dict(learn_bases='yes'), 'learn_bases'),
    (dict(highway_mixing='Unit'), 'highway_mixing'),
])
def test_arguments_of_the_wrong_type_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HEMHead(**head_cfg(**kwargs))


def test_learned_bases_get_gradient_and_no_momentum_update():
    torch.manual_seed(0)
    head = HEMHead(**head_cfg(learn_bases=True)).train()
    bases = head.ema_module.bases
    assert isinstance(bases, torch.nn.Parameter)
    before = bases.detach().clone()
    head(inputs()).square().mean().backward()
    assert bases.grad is not None and bases.grad.abs().sum() > 0
    assert torch.isfinite(bases.grad).all()
    assert torch.equal(bases.detach(), before)  # only the optimizer moves it


@pytest.mark.parametrize('kwargs', [
    dict(grad_mode='none'),
    dict(grad_mode='none'),
    dict(grad_mode='one_step'),
    dict(grad_mode='implicit')
])
def test_learned_bases_need_the_gradient_through_the_loop(kwargs):
    with pytest.raises(ValueError, match='learn_bases'):
        HEMHead(**head_cfg(learn_bases=True, **kwargs))


def test_learned_bases_checkpoints_load_both_ways():
    """Same state-dict key: EMAHead -> learned HEMHead and learned HEMHead
    -> EMAHead load strict; the buffer path is unchanged."""
    torch.manual_seed(0)
    ema = EMAHead(**head_cfg())
    learned = HEMHead(**head_cfg(learn_bases=True))
    learned.load_state_dict(ema.state_dict(), strict=True)
    assert torch.equal(learned.ema_module.bases.detach(), ema.ema_module.bases)
    with torch.no_grad():
        learned.ema_module.bases.mul_(0.5)
    ema.load_state_dict(learned.state_dict(), strict=True)
    assert torch.equal(ema.ema_module.bases, learned.ema_module.bases.detach())
    plain = HEMHead(**head_cfg())
    assert 'bases' in dict(plain.ema_module.named_buffers())
    assert 'bases' not in dict(plain.ema_module.named_parameters())


@pytest.mark.parametrize('bad', [float('nan'), float('inf')])
def test_non_finite_batch_keeps_the_previous_bases(bad):
    """The EM unit after a batch with one non-finite pixel: HEMModule keeps
    its bases and later inputs give finite output; mmseg's EMAModule stores
    NaN and every later input gives NaN. (A head's BN running statistics
    are poisoned by such a batch too; that is BN's, not the EM's.)"""
    from mmseg.models.decode_heads.ema_head import EMAModule

    from hemnet_mmseg.models import HEMModule
    torch.manual_seed(0)
    hem = HEMModule(24, 8, 3).train()
    ema = EMAModule(24, 8, 3, 0.1).train()
    ema.bases.copy_(hem.bases)
    before = hem.bases.clone()
    x = torch.randn(2, 24, 5, 6)
    x[0, :, 3, 4] = bad
    hem(x)
    ema(x)
    assert torch.equal(hem.bases, before)
    assert not torch.isfinite(ema.bases).all()
    clean = torch.randn(2, 24, 5, 6)
    with torch.no_grad():
        assert torch.isfinite(hem.eval()(clean)).all()
        assert not torch.isfinite(ema.eval()(clean)).all()
    hem.train()(clean)  # a finite batch still updates
    assert not torch.equal(hem.bases, before)
    assert torch.isfinite(hem.bases).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_cuda_fp16_amp_skips_the_step_of_a_non_finite_batch_learned_bases():
    """Learned bases are moved by the optimizer; under fp16 AMP the loss
    scaler skips a step whose gradients are not finite, so a NaN batch
    leaves them (and every weight) as they were."""
    from mmengine.optim import AmpOptimWrapper
    torch.manual_seed(0)
    head = HEMHead(**head_cfg(learn_bases=True)).cuda().train()
    wrapper = AmpOptimWrapper(
        optimizer=torch.optim.SGD(head.parameters(), lr=0.1),
        loss_scale='dynamic')
    before = head.ema_module.bases.detach().clone()
    x = [t.cuda() for t in inputs()]
    x[0][0, :, 3, 4] = float('nan')
    with wrapper.optim_context(head):
        loss = head(x).float().square().mean()
    wrapper.update_params(loss)
    assert torch.equal(head.ema_module.bases.detach(), before)


@pytest.mark.parametrize('grad_mode',
                         ['none', 'unrolled', 'one_step', 'implicit'])
@pytest.mark.parametrize('step_size', [1.0, 0.5])
def test_every_grad_mode_trains_every_parameter(grad_mode, step_size):
    """Same forward in each mode; each trainable parameter gets a finite
    gradient (the mid conv is frozen only with grad_mode='none'), and a few
    SGD steps stay finite."""
    torch.manual_seed(0)
    head = HEMHead(**head_cfg(grad_mode=grad_mode, step_size=step_size))
    torch.manual_seed(0)
    ref = HEMHead(**head_cfg(step_size=step_size)).eval()
    head.eval()
    with torch.no_grad():
        assert torch.equal(head(inputs()), ref(inputs()))
    head.train()
    opt = torch.optim.SGD(head.parameters(), lr=0.01)
    for step in range(3):
        opt.zero_grad()
        out = head(inputs(seed=step))
        out.square().mean().backward()
        for name, param in head.named_parameters():
            if not param.requires_grad:
                assert name.startswith('ema_mid_conv') and \
                    grad_mode == 'none', name
                continue
            assert param.grad is not None, name
            assert torch.isfinite(param.grad).all(), name
        opt.step()
    assert all(torch.isfinite(p).all() for p in head.parameters())
