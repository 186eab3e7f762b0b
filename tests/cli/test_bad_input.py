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
    assert proc.returncode == 2
    assert f'data root not found: {missing}' in proc.stderr
    assert 'hemnet-make-toy-data' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_missing_mmseg_data_root_names_path(cli, repo, tmp_path):
    cfg = osp.join(repo, 'configs', 'hemnet',
                   'hemnet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    proc = cli([osp.join(repo, 'tools', 'train.py'), cfg, '--work-dir',
                str(tmp_path / 'w')], cwd=str(tmp_path), check=False)
    assert proc.returncode == 2
    assert 'data root not found: data/cityscapes/' in proc.stderr
    assert 'CityscapesDataset' in proc.stderr


def test_missing_data_folder_inside_root_is_named(toy_config, tmp_path):
    from hemnet_mmseg.datasets import ToyShapesDataset
    (tmp_path / 'root').mkdir()
    with pytest.raises(FileNotFoundError,
                       match=str(tmp_path / 'root' / 'img_dir' / 'val')):
        ToyShapesDataset(data_root=str(tmp_path / 'root'), generate=None,
                         data_prefix=dict(img_path='img_dir/val',
                                          seg_map_path='ann_dir/val'),
                         pipeline=[])


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


@pytest.mark.parametrize('tool', ['test', 'train', 'infer'])
@pytest.mark.parametrize('kind', ['missing', 'not_a_checkpoint', 'damaged'])
def test_bad_checkpoint_is_one_line_error(cli, toy_config, tiny_toy_root,
                                          tmp_path, tool, kind):
    path = tmp_path / 'model.pth'
    if kind == 'not_a_checkpoint':
        path.write_text('hello, not a checkpoint')
    elif kind == 'damaged':  # 1 KiB overwritten inside a tensor
        torch.save({'state_dict': {'w': torch.randn(512, 512)}}, str(path))
        data = bytearray(path.read_bytes())
        data[8192:9216] = b'\x00' * 1024
        path.write_bytes(bytes(data))
    img = sorted(glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val',
                                    '*.png')))[0]
    args = {
        'test': ['tools/test.py', toy_config, str(path), '--work-dir',
                 str(tmp_path / 'w')],
        'train': ['tools/train.py', toy_config, '--resume', str(path),
                  '--work-dir', str(tmp_path / 'w')],
        'infer': ['tools/infer.py', img, toy_config, str(path), '--out',
                  str(tmp_path / 'o.png')],
    }[tool]
    proc = cli(args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0]
    assert {'missing': 'not found', 'not_a_checkpoint':
            'not a PyTorch checkpoint', 'damaged': 'fails its CRC-32'}[kind] \
        in lines[0]
    assert 'Traceback' not in proc.stderr


def test_missing_config_is_one_line_error(cli, tmp_path):
    proc = cli(['tools/train.py', str(tmp_path / 'nope.py')], check=False)
    assert proc.returncode == 2
    assert 'config file not found' in proc.stderr
    assert osp.basename('nope.py') in proc.stderr
