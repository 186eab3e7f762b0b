"""tools/publish_model.py: mmseg's publish step through the weights-only
loader (mmseg's own copy fails on MMEngine checkpoints under torch >= 2.6
unless the plugin was imported first)."""
import os.path as osp

import pytest

from hemnet_mmseg.checkpoint import load_from_local_weights_only

pytestmark = pytest.mark.slow


def test_publish_drops_the_optimizer_and_names_the_hash(toy_trained, tmp_path):
    import hashlib

    from hemnet_mmseg.cli.publish_model import main
    work_dir, _ = toy_trained
    final = main(
        [osp.join(work_dir, 'iter_4.pth'),
         str(tmp_path / 'hemnet_toy.pth')])
    digest = hashlib.sha256(open(final, 'rb').read()).hexdigest()
    assert final == str(tmp_path / f'hemnet_toy-{digest[:8]}.pth')
    published = load_from_local_weights_only(final)
    assert 'optimizer' not in published and 'state_dict' in published
    assert 'config' not in published['meta']
    assert not osp.exists(tmp_path / 'hemnet_toy.pth')
