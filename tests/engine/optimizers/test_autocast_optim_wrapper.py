"""AutocastOptimWrapper: bf16 autocast on CPUs with native bf16, float32
EM units inside, and the capability check it relies on."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

import hemnet_mmseg.engine.optimizers.autocast_optim_wrapper as aow
from hemnet_mmseg.engine import (AutocastOptimWrapper, cpu_has_native_bf16,
                                 unsupported_reason)
from hemnet_mmseg.utils import replace_syncbn

native_bf16 = pytest.mark.skipif(
    not cpu_has_native_bf16(), reason='this CPU has no native bf16')
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a GPU')


@pytest.mark.parametrize(
    'flags,expected',
    [
        ('fpu avx512f avx512_bf16', True),
        ('fpu amx_bf16 amx_tile', True),
        ('fpu avx512f avx512bw avx512_vnni', False),  # plain AVX-512: emulated
        ('', False),  # not Linux, or no flags
    ])
def test_capability_check_reads_the_cpu_flags(monkeypatch, flags, expected):
    """AVX512-BF16 or AMX-BF16 in the CPU's flags (a public source, not
    torch's private ``torch.cpu._is_*`` checks); plain AVX-512, on which
    mkldnn also says yes, is not native bf16."""
    import hemnet_mmseg.engine.optimizers.precision_probe as probe_mod
    monkeypatch.setattr(probe_mod, 'cpu_info', lambda: dict(flags=flags))
    assert cpu_has_native_bf16() is expected


def test_capability_check_agrees_with_torch_here():
    private = getattr(torch.cpu, '_is_avx512_bf16_supported', None)
    if private is None:
        pytest.skip('this torch has no private check to compare with')
    assert cpu_has_native_bf16() == bool(private()
                                         or torch.cpu._is_amx_tile_supported())


def test_unsupported_reasons(monkeypatch):
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: False)
    assert 'no native bfloat16' in unsupported_reason('cpu', 'bfloat16')
    assert 'bfloat16 only' in unsupported_reason('cpu', 'float16')
    assert 'must be one of' in unsupported_reason('cpu', 'int8')
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: True)
    assert unsupported_reason('cpu', 'bfloat16') == ''


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def test_refuses_or_falls_back_without_native_bf16(monkeypatch):
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: False)
    model = torch.nn.Linear(4, 2)
    with pytest.raises(ValueError, match='no native bfloat16'):
        AutocastOptimWrapper(optimizer=_sgd(model))
    wrapper = AutocastOptimWrapper(
        optimizer=_sgd(model), fallback_float32=True)
    assert wrapper.cast_dtype is None
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4)).dtype == torch.float32


@native_bf16
def test_forward_runs_in_bf16_inside_the_context():
    model = torch.nn.Linear(4, 2)
    wrapper = AutocastOptimWrapper(optimizer=_sgd(model))
    with wrapper.optim_context(model):
        assert model(torch.randn(3, 4)).dtype == torch.bfloat16
    assert model(torch.randn(3, 4)).dtype == torch.float32


def _toy_steps(toy_config, root, dtype, steps=2, device='cpu'):
    """Training steps of the toy segmentor on 4 images in the precision
    that the CLI's ``--amp-dtype dtype`` sets; their log dicts."""
    from hemnet_mmseg.cli.train import set_precision
    cfg = Config.fromfile(toy_config)
    set_precision(cfg, dtype)
    init_default_scope('mmseg')
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.data_root = root
    dataset = DATASETS.build(ds_cfg)
    batch = pseudo_collate([dataset[i] for i in range(4)])
    torch.manual_seed(0)
    model = MODELS.build(replace_syncbn(cfg.model.to_dict())).to(device)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return [model.train_step(batch, wrapper) for _ in range(steps)]


@native_bf16
@pytest.mark.parametrize('config', ['hemnet', 'emanet'])
def test_bf16_training_step_of_the_toy_segmentor_is_finite(
        repo, tiny_toy_root, config, monkeypatch):
    """And every EM unit's E-step softmax gets float32 input inside it
    (mmseg's EMAHead would give it bf16)."""
    import os.path as osp
    toy = osp.join(repo, 'configs', config,
                   f'{config}_r18-d8_1xb8-1k_toy-shapes-64x64.py')
    import torch.nn.functional as F
    seen = []
    real_softmax = F.softmax

    def spy(x, *args, **kwargs):
        seen.append(x.dtype)
        return real_softmax(x, *args, **kwargs)

    monkeypatch.setattr(F, 'softmax', spy)
    logs = _toy_steps(toy, tiny_toy_root, 'bfloat16')
    for log in logs:
        assert all(torch.isfinite(v).all() for v in log.values())
    assert seen and all(d == torch.float32 for d in seen), set(seen)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize('dtype', ['bfloat16', 'float16', 'auto'])
def test_cuda_mixed_precision_training_step(repo, tiny_toy_root, dtype):
    """Through the CLI's own set_precision, from a config that asks for
    bf16 where supported (the first GPU run merged AmpOptimWrapper into
    that config by hand and passed it ``fallback_float32``)."""
    import os.path as osp

    from hemnet_mmseg.cli.train import set_precision
    toy = osp.join(repo, 'configs', 'hemnet',
                   'hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py')
    cfg = Config.fromfile(toy)
    set_precision(cfg, dtype)
    expected = 'AmpOptimWrapper' if dtype != 'bfloat16' else \
        'AutocastOptimWrapper'
    assert cfg.optim_wrapper.type == expected
    for log in _toy_steps(toy, tiny_toy_root, dtype, device='cuda'):
        assert all(torch.isfinite(v).all() for v in log.values())
