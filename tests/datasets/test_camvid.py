"""CamVid: 11 classes, unlabelled (11) -> 255 everywhere; a short real run.

Reads ../shared/data/camvid; skipped when it is absent (never copied here).
"""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import hemnet_mmseg  # noqa: F401
from hemnet_mmseg.datasets import CamVidDataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ROOT = osp.normpath(osp.join(REPO, '..', 'shared', 'data', 'camvid'))
CPU_CFG = osp.join(REPO, 'configs', 'hemnet',
                   'hemnet_r18-d8_1xb8-600_camvid-160x192.py')
needs_camvid = pytest.mark.skipif(
    not osp.isdir(osp.join(ROOT, 'train')), reason=f'no CamVid at {ROOT}')


def test_label_map_sends_unlabelled_to_ignore():
    assert len(CamVidDataset.METAINFO['classes']) == 11
    assert CamVidDataset.get_label_map() == {11: 255}
    # a class subset keeps mmseg's mapping and still ignores unlabelled
    subset = CamVidDataset.get_label_map(['road', 'car'])
    assert subset[3] == 0 and subset[8] == 1 and subset[0] == 255
    assert subset[11] == 255


def test_missing_root_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'val')):
        CamVidDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='val', seg_map_path='valannot'),
            pipeline=[])


@needs_camvid
def test_loaded_labels_have_no_11_and_padding_is_ignore():
    init_default_scope('mmseg')
    cfg = Config.fromfile(CPU_CFG)
    ds_cfg = cfg.val_dataloader.dataset.to_dict()
    ds_cfg.pop('type')
    ds_cfg['data_root'] = ROOT
    dataset = CamVidDataset(**ds_cfg)
    assert len(dataset) == 101
    seen = set()
    # every val sample passes the label checks (the test pipeline resizes
    # the image before it loads the label at its original size)
    for i in range(101):
        seg = dataset[i]['data_samples'].gt_sem_seg.data.numpy()
        seen |= set(np.unique(seg).tolist())
    assert 11 not in seen and 255 in seen and seen - {255} <= set(range(11))
    assert cfg.model.data_preprocessor.seg_pad_val == 255
    assert cfg.model.decode_head.get('ignore_index', 255) == 255
    assert cfg.val_evaluator.ignore_index == 255


@needs_camvid
@pytest.mark.slow
def test_cpu_config_trains_on_shared_images(cli, tmp_path):
    opts = [
        'train_cfg.max_iters=2', 'train_cfg.val_begin=1000',
        'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2'
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={ROOT}', f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False'
        ]
    cli([
        'tools/train.py', CPU_CFG, '--work-dir',
        str(tmp_path), '--cfg-options'
    ] + opts)
    assert (tmp_path / 'iter_2.pth').is_file()
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'Iter(train) [2/2]' in log and 'CamVidDataset' in log
