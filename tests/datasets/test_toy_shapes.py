"""The toy data set: deterministic, mmseg layout, classes need context."""
import filecmp
import json
import os

import cv2
import numpy as np

from hemnet_mmseg.datasets import ToyShapesDataset
from hemnet_mmseg.datasets.toy_shapes_generator import (CLASSES, generate,
                                                        make_sample)


def test_generation_is_deterministic_and_in_mmseg_layout(tmp_path):
    a = generate(str(tmp_path / 'a'), num_train=6, num_val=2, size=32, seed=3)
    b = generate(str(tmp_path / 'b'), num_train=6, num_val=2, size=32, seed=3)
    for sub in ('img_dir/train', 'img_dir/val', 'ann_dir/train',
                'ann_dir/val'):
        names = sorted(os.listdir(os.path.join(a, sub)))
        assert len(names) == (6 if 'train' in sub else 2)
        match, mismatch, errors = filecmp.cmpfiles(
            os.path.join(a, sub), os.path.join(b, sub), names, shallow=False)
        assert not mismatch and not errors
    meta = json.load(open(os.path.join(a, 'meta.json')))
    assert meta['seed'] == 3 and meta['classes'] == list(CLASSES)
    label = cv2.imread(
        os.path.join(a, 'ann_dir/train/train_00000.png'), cv2.IMREAD_UNCHANGED)
    assert label.shape == (32, 32) and label.max() < len(CLASSES)


def test_pixel_colours_do_not_tell_the_class():
    """Per-pixel colour statistics of the four shape classes overlap: the
    mean colour of every class sits within one std of every other's."""
    rng = np.random.default_rng(0)
    per_class = {c: [] for c in range(1, 5)}
    for _ in range(60):
        img, label = make_sample(64, rng)
        for c in per_class:
            per_class[c].append(img[label == c].reshape(-1, 3))
    stats = {
        c: (np.concatenate(v).mean(0), np.concatenate(v).std(0))
        for c, v in per_class.items()
    }
    for c1, (m1, s1) in stats.items():
        for c2, (m2, _) in stats.items():
            assert (np.abs(m1 - m2) < s1).all(), (c1, c2)


def test_dataset_generates_on_first_use(tmp_path):
    root = tmp_path / 'toy'
    ds = ToyShapesDataset(
        data_root=str(root),
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        generate=dict(num_train=2, num_val=3, size=32),
        pipeline=[])
    assert len(ds) == 3 and (root / 'meta.json').is_file()


def test_root_holding_other_files_is_refused(tmp_path):
    """Issue 23, item 11: an OSError traceback from os.rename before."""
    import pytest

    from hemnet_mmseg.utils import UserError
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'notes.txt').write_text('mine')
    with pytest.raises(UserError, match=f'{other} exists and is not a toy'):
        generate(str(other), num_train=1, num_val=1, size=16)
    assert os.listdir(other) == ['notes.txt']
    assert not [p for p in os.listdir(tmp_path) if p.startswith('.toy')]
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert generate(str(empty), num_train=1, num_val=1, size=16) == str(empty)
