"""SafeResumeHook: resuming executes no code stored in a checkpoint."""
import os.path as osp
import shutil

import pytest
import torch

from hemnet_mmseg.checkpoint.loader import (literal_gpu_ids,
                                            load_from_local_weights_only)
from hemnet_mmseg.engine.hooks.safe_resume_hook import SafeResumeHook

PAYLOAD = "_x = __import__('os').system('touch {marker}')\n"


@pytest.mark.parametrize('text,expected', [
    ('gpu_ids = [0, 1]\nmodel = dict(type="X")\n', [0, 1]),
    ('gpu_ids = range(1)\n', None),
    ("gpu_ids = __import__('os').getpid()\n", None),
    ('gpu_ids = [True]\n', None),
    ('model = dict(\n', None),
    ('', None),
])
def test_literal_gpu_ids(text, expected):
    assert literal_gpu_ids(text) == expected


def test_hook_replaces_config_with_gpu_ids_literal_only(tmp_path):
    marker = tmp_path / 'pwned'
    meta = dict(
        config='gpu_ids = [0]\n' + PAYLOAD.format(marker=marker), iter=4)
    SafeResumeHook().after_load_checkpoint(None, dict(meta=meta))
    assert meta == dict(config='gpu_ids = [0]\n', iter=4)
    meta = dict(config=PAYLOAD.format(marker=marker))
    SafeResumeHook().after_load_checkpoint(None, dict(meta=meta))
    assert 'config' not in meta and not marker.exists()


def _crafted(trained_dir, tmp_path, marker):
    """iter_4.pth of a real toy run with a code payload as meta.config."""
    ck = load_from_local_weights_only(osp.join(trained_dir, 'iter_4.pth'))
    ck['meta']['config'] = PAYLOAD.format(marker=marker)
    path = tmp_path / 'crafted.pth'
    torch.save(ck, str(path))
    return path


@pytest.mark.slow
def test_train_resume_from_crafted_checkpoint_runs_nothing(
        toy_trained, cli, toy_config, tiny_toy_root, toy_opts, tmp_path):
    marker = tmp_path / 'PWNED'
    crafted = _crafted(toy_trained[0], tmp_path, marker)
    cli([
        'tools/train.py', toy_config, '--work-dir',
        str(tmp_path / 'w1'), '--resume',
        str(crafted), '--cfg-options'
    ] + toy_opts(tiny_toy_root))
    assert not marker.exists()
    # auto-resume through a planted last_checkpoint takes the same path
    work = tmp_path / 'w2'
    work.mkdir()
    shutil.copy(crafted, work / 'iter_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    proc = cli([
        'tools/train.py', toy_config, '--work-dir',
        str(work), '--resume', '--cfg-options'
    ] + toy_opts(tiny_toy_root))
    assert not marker.exists()
    assert 'resumed epoch' in proc.stdout + proc.stderr


@pytest.mark.slow
def test_plain_runner_from_plugin_config_is_protected(toy_trained, toy_config,
                                                      tiny_toy_root, tmp_path):
    """What mmseg's own tools/train.py does: Runner.from_cfg on a config of
    the plugin, which lists the hook in its base runtime."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    marker = tmp_path / 'PWNED'
    crafted = _crafted(toy_trained[0], tmp_path, marker)
    cfg = Config.fromfile(toy_config)
    assert dict(type='SafeResumeHook') in cfg.custom_hooks
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_toy_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_cfg.max_iters = 4  # the checkpoint's iteration: nothing to do
    cfg.work_dir = str(tmp_path / 'runner')
    cfg.resume, cfg.load_from = True, str(crafted)
    Runner.from_cfg(cfg).train()
    assert not marker.exists()


@pytest.mark.slow
def test_derived_config_without_the_hook_is_protected(toy_trained, toy_config,
                                                      tiny_toy_root, tmp_path):
    """Issue 23, item 1: a downstream config that sets its own custom_hooks
    (MMEngine replaces lists) loses SafeResumeHook; the plugin's local
    checkpoint loader strips the stored config all the same."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    marker = tmp_path / 'PWNED'
    crafted = _crafted(toy_trained[0], tmp_path, marker)
    derived = tmp_path / 'derived.py'
    derived.write_text(
        f'_base_ = [{toy_config!r}]\n'
        "custom_hooks = [dict(type='EmptyCacheHook', after_iter=False)]\n")
    cfg = Config.fromfile(str(derived))
    assert all(h['type'] != 'SafeResumeHook' for h in cfg.custom_hooks)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_toy_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_cfg.max_iters = 4
    work = tmp_path / 'derived_run'
    work.mkdir()
    shutil.copy(crafted, work / 'iter_4.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    cfg.work_dir = str(work)
    cfg.resume = True
    Runner.from_cfg(cfg).train()
    assert not marker.exists()
