"""Starting HEMNet from the model zoo's EMANet, offline: a checkpoint of the
zoo's shapes, in the layout mmcv 1.x wrote in 2020, loads through the
plugin's weights-only loader and strictly into the fine-tune config's
HEMNet, which at eta 1 with no gradient through the EM computes EMANet's
logits bit for bit."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

import hemnet_mmseg  # noqa: F401  (the loader)
from hemnet_mmseg.utils import replace_syncbn

pytestmark = pytest.mark.slow

#: mmseg's own EMANet config (the plugin's twin inherits it unchanged)
ZOO_CONFIG = osp.join('configs', 'emanet',
                      'emanet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
FINE_TUNE = osp.join('configs', 'hemnet',
                     'hemnet_r50-d8_4xb2-8k_cityscapes-512x1024_from-zoo.py')


def _build(cfg, **head):
    model_cfg = replace_syncbn(cfg.model.to_dict())
    model_cfg['pretrained'] = None
    model_cfg['backbone'].pop('init_cfg', None)
    model_cfg['decode_head'].update(head)
    return MODELS.build(model_cfg).eval()


def _zoo_checkpoint(model, path):
    """What mmcv 1.x's save_checkpoint wrote for the zoo (2020): meta with
    its version, the config text, CLASSES and PALETTE, and the optimizer
    state next to the weights."""
    classes = tuple(f'class{i}' for i in range(19))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.zero_grad()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    torch.save(
        dict(
            meta=dict(
                mmcv_version='1.1.1',
                time='Tue Sep  1 10:03:01 2020',
                env_info='sys.platform: linux\nPython: 3.7.7',
                config="model = dict(type='EncoderDecoder')\n",
                seed=0,
                exp_name='emanet_r50-d8_512x1024_80k_cityscapes.py',
                epoch=1,
                iter=80000,
                CLASSES=classes,
                PALETTE=[[128, 64, 128]] * 19),
            state_dict=model.state_dict(),
            optimizer=optimizer.state_dict()), path)


def test_zoo_emanet_loads_strictly_and_reproduces_emahead(repo, tmp_path):
    zoo_cfg = Config.fromfile(osp.join(repo, ZOO_CONFIG))
    torch.manual_seed(0)
    emanet = _build(zoo_cfg)
    assert type(emanet.decode_head).__name__ == 'EMAHead'
    ckpt = str(tmp_path / 'emanet_r50-d8_512x1024_80k_cityscapes.pth')
    _zoo_checkpoint(emanet, ckpt)

    cfg = Config.fromfile(osp.join(repo, FINE_TUNE))
    assert cfg.load_from.endswith('c43fcef1.pth')  # the zoo's file
    torch.manual_seed(1)  # other initial weights: all must come from ckpt
    hemnet = _build(cfg, step_size=1.0, grad_mode='none')
    loaded = load_checkpoint(hemnet, ckpt, map_location='cpu', strict=True)
    assert loaded['meta']['mmcv_version'] == '1.1.1'
    assert 'config' not in loaded['meta']  # stored config: never executed

    image = torch.rand(1, 3, 64, 128) * 2 - 1
    with torch.no_grad():
        expected = emanet(image, mode='tensor')
        got = hemnet(image, mode='tensor')
    assert torch.equal(got, expected)

    # at the fine-tune's own eta 0.5 it starts close to EMANet, not equal
    hemnet = _build(cfg)
    load_checkpoint(hemnet, ckpt, map_location='cpu', strict=True)
    with torch.no_grad():
        half = hemnet(image, mode='tensor')
    assert not torch.equal(half, expected)
    assert (half.argmax(1) == expected.argmax(1)).float().mean() > 0.9
