"""tools/infer.py reads an image's size from its header before deciding to
decode it (issue 23, item 11: a 20000x20000 PNG of 389 KB was decoded,
2.7 GB at peak, before --max-pixels refused it)."""
import cv2
import numpy as np
import pytest
import torch

import hemnet_mmseg.cli.infer as infer
from hemnet_mmseg.utils import UserError


def test_image_size_reads_the_header_only(tmp_path, monkeypatch):
    from PIL import Image
    path = tmp_path / 'wide.png'
    cv2.imwrite(str(path), np.zeros((300, 5000), np.uint8))

    def no_decode(*args, **kwargs):
        raise AssertionError('the pixels were decoded')

    monkeypatch.setattr(Image.Image, 'load', no_decode)
    assert infer.image_size(str(path)) == (300, 5000)


@pytest.mark.parametrize('content,match', [
    (b'', r'image is empty \(0 bytes\)'),
    (b'not an image', 'not a readable image'),
])
def test_image_size_names_a_bad_file(tmp_path, content, match):
    path = tmp_path / 'x.png'
    path.write_bytes(content)
    with pytest.raises(UserError, match=match) as err:
        infer.image_size(str(path))
    assert str(path) in str(err.value)


def test_max_pixels_refuses_before_decoding(tmp_path, monkeypatch, toy_config):
    img = tmp_path / 'big.png'
    cv2.imwrite(str(img), np.zeros((3000, 3000), np.uint8))
    ckpt = tmp_path / 'ck.pth'
    torch.save({'state_dict': {}}, str(ckpt))

    def no_decode(path):
        raise AssertionError('the image was decoded')

    monkeypatch.setattr(infer, 'read_image', no_decode)
    with pytest.raises(UserError, match='over --max-pixels 1000000'):
        infer.main([
            str(img), toy_config,
            str(ckpt), '--out',
            str(tmp_path / 'o.png'), '--max-pixels', '1000000'
        ])


def test_max_pixels_bounds_decoding_when_the_config_resizes(
        tmp_path, monkeypatch, repo):
    """Issue 32, item 12: with a config that resizes at test time (CamVid
    to 480x360) a 20000x20000 PNG passed the check on its resized size and
    was decoded in full (2.75 GB)."""
    import os.path as osp
    img = tmp_path / 'big.png'
    cv2.imwrite(str(img), np.zeros((2000, 2000), np.uint8))
    ckpt = tmp_path / 'ck.pth'
    torch.save({'state_dict': {}}, str(ckpt))
    config = osp.join(repo, 'configs', 'hemnet',
                      'hemnet_r18-d8_1xb8-600_camvid-160x192.py')

    def no_decode(path):
        raise AssertionError('the image was decoded')

    monkeypatch.setattr(infer, 'read_image', no_decode)
    with pytest.raises(UserError, match='2000x2000: 4000000 pixels'):
        infer.main([
            str(img), config,
            str(ckpt), '--out',
            str(tmp_path / 'o.png'), '--max-pixels', '1000000'
        ])
