"""tools/train.py precision: --amp, --amp-dtype, --no-amp and a config's own
mixed precision, on CPU (bf16 where native) and the checks behind them."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import hemnet_mmseg.engine.optimizers.autocast_optim_wrapper as aow
from hemnet_mmseg.checkpoint import load_from_local_weights_only
from hemnet_mmseg.cli.train import set_precision
from hemnet_mmseg.engine import cpu_has_native_bf16
from hemnet_mmseg.utils import UserError

native_bf16 = pytest.mark.skipif(
    not cpu_has_native_bf16(), reason='this CPU has no native bf16')


def _cfg(**wrapper):
    return Config(
        dict(
            optim_wrapper=dict(
                dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01)),
                **wrapper)))


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


def test_amp_on_cpu_is_bf16_autocast(no_cuda, monkeypatch):
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: True)
    cfg = _cfg()
    set_precision(cfg, 'auto')
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'


def test_amp_on_cpu_without_native_bf16_is_one_line(no_cuda, monkeypatch):
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: False)
    with pytest.raises(UserError, match='no native bfloat16') as err:
        set_precision(_cfg(), 'auto')
    assert '\n' not in str(err.value)
    with pytest.raises(UserError, match='bfloat16 only'):
        set_precision(_cfg(), 'float16')


def test_config_precision_checked_up_front_and_overridable(
        no_cuda, monkeypatch):
    monkeypatch.setattr(aow, 'cpu_has_native_bf16', lambda: False)
    strict = _cfg(type='AutocastOptimWrapper', dtype='bfloat16')
    with pytest.raises(UserError, match='--no-amp'):
        set_precision(strict, None)
    # "where supported": the wrapper itself falls back, nothing to refuse
    set_precision(
        _cfg(
            type='AutocastOptimWrapper',
            dtype='bfloat16',
            fallback_float32=True), None)
    set_precision(strict, 'float32')  # --no-amp
    assert strict.optim_wrapper.type == 'OptimWrapper'
    assert 'dtype' not in strict.optim_wrapper


def test_cuda_amp_keeps_mmseg_fp16_and_amp_dtype_chooses(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda: True)
    cfg = _cfg()
    set_precision(cfg, 'auto')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    set_precision(cfg, 'bfloat16')
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


def test_other_wrapper_types_are_refused():
    with pytest.raises(UserError, match='ApexOptimWrapper'):
        set_precision(_cfg(type='ApexOptimWrapper'), 'auto')


@pytest.mark.slow
@native_bf16
def test_bf16_training_saves_and_resumes(cli, toy_config, tiny_toy_root,
                                         toy_opts, tmp_path):
    work = tmp_path / 'w'
    cli([
        'tools/train.py', toy_config, '--work-dir',
        str(work), '--amp', '--cfg-options'
    ] + toy_opts(tiny_toy_root, max_iters=4, interval=2))
    cli([
        'tools/train.py', toy_config, '--work-dir',
        str(work), '--amp', '--resume', '--cfg-options'
    ] + toy_opts(tiny_toy_root, max_iters=6, interval=2))
    assert osp.isfile(work / 'iter_6.pth')
    records = [
        json.load(open(p))
        for p in sorted(glob.glob(str(work / '*' / 'run.json')))
    ]
    assert [r['precision'] for r in records] == ['bfloat16', 'bfloat16']
    assert records[1]['resumed_at'] == 4 and records[1]['em_float32']
    ckpt = load_from_local_weights_only(str(work / 'iter_6.pth'))
    assert all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values()
        if v.is_floating_point())


def test_amp_optim_wrapper_config_on_cpu_is_one_line(no_cuda):
    """Issue 23, item 11: MMEngine's AmpOptimWrapper asserted (a traceback)
    on a machine without CUDA."""
    cfg = _cfg(type='AmpOptimWrapper', loss_scale='dynamic')
    with pytest.raises(UserError, match='AmpOptimWrapper.*--amp.*--no-amp'):
        set_precision(cfg, None)
    set_precision(cfg, 'float32')  # --no-amp turns it into float32
    assert cfg.optim_wrapper.type == 'OptimWrapper'
