"""Labels and images that would be misread silently are refused before
decoding (issue 23, item 9)."""
import glob
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations
from PIL import Image

import hemnet_mmseg  # noqa: F401
from hemnet_mmseg.datasets import (BadSampleError, MissingDataError,
                                   ToyShapesDataset)
from hemnet_mmseg.datasets.toy_shapes_generator import generate


@pytest.fixture()
def toy(tmp_path):
    root = str(tmp_path / 'toy')
    generate(root, num_train=2, num_val=2, size=32, seed=0)
    return root


def _dataset(root):
    return ToyShapesDataset(
        data_root=root,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        generate=None,
        pipeline=[dict(type=LoadImageFromFile),
                  dict(type=LoadAnnotations)])


def test_intact_samples_load(toy):
    ds = _dataset(toy)
    assert ds[0]['gt_seg_map'].shape == (32, 32)


def test_16_bit_label_above_255_is_refused(toy):
    label = sorted(glob.glob(osp.join(toy, 'ann_dir', 'val', '*.png')))[0]
    seg = cv2.imread(label, cv2.IMREAD_UNCHANGED).astype(np.uint16)
    seg[0, 0] = 256 + 1  # was read as class 1 after the uint8 cast
    cv2.imwrite(label, seg)
    with pytest.raises(BadSampleError, match='16-bit PNG holding 257'):
        _dataset(toy)[0]


def test_16_bit_label_within_8_bits_loads(toy):
    label = sorted(glob.glob(osp.join(toy, 'ann_dir', 'val', '*.png')))[0]
    seg = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(label, seg.astype(np.uint16))
    np.testing.assert_array_equal(_dataset(toy)[0]['gt_seg_map'], seg)


def test_rotated_image_is_refused(toy, tmp_path):
    img = sorted(glob.glob(osp.join(toy, 'img_dir', 'val', '*.png')))[0]
    shutil.copy(img, tmp_path / 'plain.png')
    pil = Image.open(tmp_path / 'plain.png')
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    pil.save(img, exif=exif)
    with pytest.raises(BadSampleError, match='EXIF orientation 6'):
        _dataset(toy)[0]


# Issue 23, item 11: each of these ended in a traceback from deep inside
# mmseg, cv2 or the metric.


def test_empty_image_folder_is_a_user_error(toy):
    from hemnet_mmseg.utils import UserError
    for name in glob.glob(osp.join(toy, 'img_dir', 'val', '*.png')):
        os.remove(name)
    with pytest.raises(UserError, match="no images with suffix '.png' in") \
            as err:
        _dataset(toy)
    assert isinstance(err.value, (MissingDataError, FileNotFoundError))
    assert osp.join(toy, 'img_dir', 'val') in str(err.value)


def test_rgb_label_is_refused_with_its_shape(toy):
    """An RGB label passed as (H, W, 3) to IoUMetric: IndexError there."""
    label = sorted(glob.glob(osp.join(toy, 'ann_dir', 'val', '*.png')))[0]
    seg = cv2.imread(label, cv2.IMREAD_UNCHANGED)
    cv2.imwrite(label, np.stack([seg] * 3, -1))
    with pytest.raises(
            BadSampleError,
            match=r'has shape \(32, 32, 3\): a '
            'label is one channel') as err:
        _dataset(toy)[0]
    assert label in str(err.value)


def test_zero_byte_image_message_keeps_the_file_name(toy):
    """cv2's message ends in a newline; the tools printed only ')'."""
    img = sorted(glob.glob(osp.join(toy, 'img_dir', 'val', '*.png')))[0]
    open(img, 'wb').close()
    with pytest.raises(BadSampleError) as err:
        _dataset(toy)[0]
    assert '\n' not in str(err.value) and img in str(err.value)


def test_orientation_of_a_png_without_exif_chunks_decodes_nothing(
        toy, monkeypatch):
    """Pillow decodes a whole PNG to look for EXIF; the check runs on every
    sample, so a PNG whose chunks cannot hold EXIF is answered from its
    chunk headers."""
    from hemnet_mmseg.datasets.file_errors import exif_orientation
    img = sorted(glob.glob(osp.join(toy, 'img_dir', 'val', '*.png')))[0]

    def no_decode(*args, **kwargs):
        raise AssertionError('the pixels were decoded')

    monkeypatch.setattr(Image.Image, 'load', no_decode)
    assert exif_orientation(img) == 1
