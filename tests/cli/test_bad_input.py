"""Bad input gets a clear error that names the path or the file."""
import glob
import os.path as osp
import shutil

import pytest
import torch

pytestmark = pytest.mark.slow


def test_missing_data_root_names_path_and_how_to_create(
        cli, toy_config, toy_opts, tmp_path):
    missing = tmp_path / 'nowhere'
    proc = cli(['tools/train.py', toy_config, '--work-dir', str(tmp_path),
                '--cfg-options'] + toy_opts(missing) +
               ['train_dataloader.dataset.generate=None'], check=False)
    assert proc.returncode != 0
    assert str(missing / 'img_dir' / 'train') in proc.stderr
    assert 'hemnet-make-toy-data' in proc.stderr


@pytest.mark.parametrize('which', ['img_dir', 'ann_dir'])
def test_corrupt_file_is_named(cli, toy_config, toy_opts, tiny_toy_root,
                               tmp_path, which):
    root = tmp_path / 'toy'
    shutil.copytree(tiny_toy_root, root)
    bad = sorted(glob.glob(str(root / which / 'val' / '*.png')))[1]
    with open(bad, 'wb') as f:
        f.write(b'this is not a png')
    ckpt = tmp_path / 'ckpt.pth'
    torch.save({'state_dict': {}}, ckpt)
    proc = cli(['tools/test.py', toy_config, str(ckpt), '--work-dir',
                str(tmp_path / 'w'), '--cfg-options'] + toy_opts(root),
               check=False)
    assert proc.returncode != 0
    assert bad in proc.stderr, proc.stderr[-2000:]
    assert 'cannot read' in proc.stderr


@pytest.mark.parametrize('tool', ['test', 'train'])
@pytest.mark.parametrize('kind', ['missing', 'not_a_checkpoint'])
def test_bad_checkpoint_is_one_line_error(cli, toy_config, tmp_path, tool,
                                          kind):
    path = tmp_path / 'model.pth'
    if kind == 'not_a_checkpoint':
        path.write_text('hello, not a checkpoint')
    args = ['tools/test.py', toy_config, str(path)] if tool == 'test' else \
        ['tools/train.py', toy_config, '--resume', str(path)]
    proc = cli(args + ['--work-dir', str(tmp_path / 'w')], check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    assert ('not found' if kind == 'missing' else 'not a PyTorch checkpoint'
            ) in lines[0]
    assert 'Traceback' not in proc.stderr


def test_missing_config_is_one_line_error(cli, tmp_path):
    proc = cli(['tools/train.py', str(tmp_path / 'nope.py')], check=False)
    assert proc.returncode == 2
    assert 'config file not found' in proc.stderr
    assert osp.basename('nope.py') in proc.stderr
