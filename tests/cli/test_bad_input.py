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
    proc = cli(
        [
            'tools/train.py', toy_config, '--work-dir',
            str(tmp_path), '--cfg-options'
        ] + toy_opts(missing) + ['train_dataloader.dataset.generate=None'],
        check=False)
    assert proc.returncode == 2
    assert f'data root not found: {missing}' in proc.stderr
    assert 'hemnet-make-toy-data' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_missing_mmseg_data_root_names_path(cli, repo, tmp_path):
    cfg = osp.join(repo, 'configs', 'hemnet',
                   'hemnet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    proc = cli([
        osp.join(repo, 'tools', 'train.py'), cfg, '--work-dir',
        str(tmp_path / 'w')
    ],
               cwd=str(tmp_path),
               check=False)
    assert proc.returncode == 2
    assert 'data root not found: data/cityscapes/' in proc.stderr
    assert 'CityscapesDataset' in proc.stderr


def test_missing_data_folder_inside_root_is_named(toy_config, tmp_path):
    from hemnet_mmseg.datasets import ToyShapesDataset
    (tmp_path / 'root').mkdir()
    with pytest.raises(
            FileNotFoundError,
            match=str(tmp_path / 'root' / 'img_dir' / 'val')):
        ToyShapesDataset(
            data_root=str(tmp_path / 'root'),
            generate=None,
            data_prefix=dict(
                img_path='img_dir/val', seg_map_path='ann_dir/val'),
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
    proc = cli(
        [
            'tools/test.py', toy_config,
            str(ckpt), '--work-dir',
            str(tmp_path / 'w'), '--allow-mismatched-keys', '--cfg-options'
        ] + toy_opts(root),
        check=False)
    assert proc.returncode == 2
    assert bad in proc.stderr, proc.stderr[-2000:]
    assert 'cannot read' in proc.stderr
    _one_error_line(proc, 'test')


class _Reduce:

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize('tool', ['test', 'train', 'infer'])
@pytest.mark.parametrize('kind',
                         ['missing', 'not_a_checkpoint', 'damaged', 'refused'])
def test_bad_checkpoint_is_one_line_error(cli, toy_config, tiny_toy_root,
                                          toy_opts, tmp_path, tool, kind):
    """'refused' (issue 23, item 11): a payload the weights-only loader
    refuses gave an UnpicklingError traceback, whose text advises
    ``weights_only=False``; it gets past the file checks, so other tools'
    warnings may come before the error line."""
    import os
    path = tmp_path / 'model.pth'
    marker = tmp_path / 'pwned'
    if kind == 'refused':
        torch.save(
            {'state_dict': {
                'w': _Reduce(os.system, f'touch {marker}')
            }}, str(path))
    elif kind == 'not_a_checkpoint':
        path.write_text('hello, not a checkpoint')
    elif kind == 'damaged':  # 1 KiB overwritten inside a tensor
        torch.save({'state_dict': {'w': torch.randn(512, 512)}}, str(path))
        data = bytearray(path.read_bytes())
        data[8192:9216] = b'\x00' * 1024
        path.write_bytes(bytes(data))
    img = sorted(
        glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val', '*.png')))[0]
    args = {
        'test': [
            'tools/test.py', toy_config,
            str(path), '--work-dir',
            str(tmp_path / 'w')
        ],
        'train': [
            'tools/train.py', toy_config, '--resume',
            str(path), '--work-dir',
            str(tmp_path / 'w')
        ],
        'infer': [
            'tools/infer.py', img, toy_config,
            str(path), '--out',
            str(tmp_path / 'o.png')
        ],
    }[tool]
    if tool != 'infer':
        args += ['--cfg-options'] + toy_opts(tiny_toy_root)
    proc = cli(args, check=False)
    assert proc.returncode == 2
    line = _one_error_line(proc, tool)
    if kind != 'refused':  # refused before any model is built
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(path) in line
    assert {
        'missing': 'not found',
        'not_a_checkpoint': 'not a PyTorch checkpoint',
        'damaged': 'fails its CRC-32',
        'refused': 'refused by the weights-only loader'
    }[kind] in line
    assert 'weights_only=False' not in proc.stderr and not marker.exists()


def test_missing_config_is_one_line_error(cli, tmp_path):
    proc = cli(['tools/train.py', str(tmp_path / 'nope.py')], check=False)
    assert proc.returncode == 2
    assert 'config file not found' in proc.stderr
    assert osp.basename('nope.py') in proc.stderr


def _one_error_line(proc, tool):
    """The error is the last line of stderr, one line, no traceback (the
    model's build warnings may come before it)."""
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(f'{tool}: error: '), proc.stderr[-3000:]
    return line


def _toy_copy(tiny_toy_root, tmp_path):
    root = tmp_path / 'toy'
    shutil.copytree(tiny_toy_root, root)
    return root


@pytest.mark.parametrize('tool', ['test', 'train'])
def test_label_value_outside_the_classes_is_one_line(cli, toy_config, toy_opts,
                                                     tiny_toy_root,
                                                     toy_trained, tmp_path,
                                                     tool):
    """Before: IndexError in training, a silently changed metric in test."""
    import cv2
    root = _toy_copy(tiny_toy_root, tmp_path)
    split = 'val' if tool == 'test' else 'train'
    bad = sorted(glob.glob(str(root / 'ann_dir' / split / '*.png')))[0]
    label = cv2.imread(bad, cv2.IMREAD_UNCHANGED)
    label[10, 10] = 7  # the toy data set has 5 classes
    cv2.imwrite(bad, label)
    opts = toy_opts(root, max_iters=8, interval=100, batch=16)
    if tool == 'test':
        args = [
            'tools/test.py', toy_config,
            osp.join(toy_trained[0], 'iter_4.pth')
        ]
    else:
        args = ['tools/train.py', toy_config]
    proc = cli(
        args +
        ['--work-dir', str(tmp_path / 'w'), '--cfg-options'] + opts,
        check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = _one_error_line(proc, tool)
    assert bad in line and 'value 7' in line and 'outside [0, 5)' in line


def test_label_of_another_size_names_both_files(cli, toy_config, toy_opts,
                                                tiny_toy_root, toy_trained,
                                                tmp_path):
    import cv2
    root = _toy_copy(tiny_toy_root, tmp_path)
    bad = sorted(glob.glob(str(root / 'ann_dir' / 'val' / '*.png')))[0]
    cv2.imwrite(bad, cv2.imread(bad, cv2.IMREAD_UNCHANGED)[:40, :50])
    proc = cli(
        [
            'tools/test.py', toy_config,
            osp.join(toy_trained[0], 'iter_4.pth'), '--work-dir',
            str(tmp_path / 'w'), '--cfg-options'
        ] + toy_opts(root),
        check=False)
    assert proc.returncode == 2
    line = _one_error_line(proc, 'test')
    img = bad.replace('ann_dir', 'img_dir')
    assert bad in line and img in line and '(40, 50)' in line


def test_checkpoint_of_another_model_is_refused(cli, repo, toy_trained,
                                                tiny_toy_root, toy_opts,
                                                tmp_path):
    """The HEMNet toy checkpoint with the per-pixel baseline config was
    evaluated with exit 0 before; now refused unless asked for. An EMANet
    config takes the HEMNet checkpoint (same keys)."""
    ckpt = osp.join(toy_trained[0], 'iter_4.pth')
    pointwise = osp.join(repo, 'configs', 'baselines',
                         'pointwise_1xb8-1k_toy-shapes-64x64.py')
    opts = ['--cfg-options'] + toy_opts(tiny_toy_root)
    proc = cli(
        ['tools/test.py', pointwise, ckpt, '--work-dir',
         str(tmp_path / 'a')] + opts,
        check=False)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert 'does not match the model' in line and ckpt in line
    assert 'missing' in line and 'unexpected' in line
    assert '--allow-mismatched-keys' in line
    cli([
        'tools/test.py', pointwise, ckpt, '--work-dir',
        str(tmp_path / 'b'), '--allow-mismatched-keys'
    ] + opts)
    emanet = osp.join(repo, 'configs', 'emanet',
                      'emanet_r18-d8_1xb8-1k_toy-shapes-64x64.py')
    cli(['tools/test.py', emanet, ckpt, '--work-dir',
         str(tmp_path / 'c')] + opts)
    img = sorted(
        glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val', '*.png')))[0]
    proc = cli([
        'tools/infer.py', img, pointwise, ckpt, '--out',
        str(tmp_path / 'o.png')
    ],
               check=False)
    assert proc.returncode == 2 and 'does not match' in proc.stderr


@pytest.mark.parametrize('case', ['empty_image', 'bad_out', 'huge_image'])
def test_infer_refuses_bad_input_before_inference(cli, toy_config, toy_trained,
                                                  tmp_path, case):
    import cv2
    import numpy as np
    ckpt = osp.join(toy_trained[0], 'iter_4.pth')
    img, out = tmp_path / 'img.png', tmp_path / 'o.png'
    if case == 'empty_image':
        img.write_bytes(b'')
    elif case == 'bad_out':
        cv2.imwrite(str(img), np.zeros((8, 8, 3), np.uint8))
        out = tmp_path / 'o.xyz'
    else:  # 4200 x 4200 > 4096 x 4096, and the toy config does not resize
        cv2.imwrite(str(img), np.zeros((4200, 4200, 3), np.uint8))
    proc = cli(
        ['tools/infer.py',
         str(img), toy_config, ckpt, '--out',
         str(out)],
        check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    expected = {
        'empty_image': f'image is empty (0 bytes): {img}',
        'bad_out': 'cannot write this file type',
        'huge_image': '--max-pixels'
    }[case]
    assert expected in lines[0]
    assert not out.exists()


def test_infer_test_time_size_follows_the_resize(repo):
    from hemnet_mmseg.cli.infer import test_time_size
    from hemnet_mmseg.utils import load_config
    camvid = load_config(
        osp.join(repo, 'configs', 'hemnet',
                 'hemnet_r50-d8_1xb8-20k_camvid-360x480.py'))
    assert test_time_size(camvid, 3600, 4800) == (360, 480)
    toy = load_config(
        osp.join(repo, 'configs', 'hemnet',
                 'hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py'))
    assert test_time_size(toy, 8000, 8000) == (8000, 8000)


@pytest.mark.parametrize('where', ['config', 'base'])
def test_config_syntax_error_names_file_and_line(cli, repo, tmp_path, where):
    broken = tmp_path / 'broken.py'
    broken.write_text("model = dict(\n    type='X',\n    a=1 +\n)\n")
    path = broken
    if where == 'base':
        path = tmp_path / 'child.py'
        path.write_text("_base_ = ['./broken.py']\n")
    proc = cli(['tools/train.py', str(path)], check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f'config {broken} line 4: syntax error' in lines[0]


def test_one_pixel_image_is_segmented(cli, toy_config, toy_trained, tmp_path):
    """Issue 23, item 11: mmseg's visualiser indexed with a one-element
    tensor (IndexError) on a 1x1 image."""
    import cv2
    import numpy as np
    img, out = tmp_path / 'one.png', tmp_path / 'o.png'
    cv2.imwrite(str(img), np.full((1, 1, 3), 200, np.uint8))
    cli([
        'tools/infer.py',
        str(img), toy_config,
        osp.join(toy_trained[0], 'iter_4.pth'), '--out',
        str(out)
    ])
    assert cv2.imread(str(out)).shape == (1, 1, 3)


def test_rank_outside_the_world_is_refused_without_a_hang(
        cli, toy_config, tmp_path):
    """Issue 23, item 11: RANK=3 WORLD_SIZE=2 waited in the process group
    until killed (60 s)."""
    import os
    env = dict(
        os.environ,
        RANK='3',
        WORLD_SIZE='2',
        LOCAL_RANK='0',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT='29511')
    proc = cli([
        'tools/train.py', toy_config, '--launcher', 'pytorch', '--work-dir',
        str(tmp_path / 'w')
    ],
               env=env,
               timeout=120,
               check=False)
    assert proc.returncode == 2
    line = _one_error_line(proc, 'train')
    assert '$RANK=3 is outside the world of $WORLD_SIZE=2' in line
