"""tools/train.py, tools/test.py and tools/infer.py through real subprocesses
on the toy config (CPU, offline, a few iterations)."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import cv2
import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def trained(toy_trained):
    return toy_trained


def test_train_writes_checkpoint_and_log_with_miou(trained):
    work_dir, proc = trained
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_4.pth')
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert logs
    text = open(logs[0]).read()
    assert 'mIoU' in text and 'Iter(train) [4/4]' in text
    # the progress line shows the ETA
    assert 'eta:' in text
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), weights_only=True)
    assert 'decode_head.ema_module.bases' in ckpt['state_dict']
    assert ckpt['meta']['dataset_meta']['classes'][0] == 'background'


@pytest.mark.parametrize('tta', [False, True])
def test_test_prints_metrics(trained, cli, toy_config, tiny_toy_root,
                             toy_opts, tmp_path, tta):
    work_dir, _ = trained
    args = ['tools/test.py', toy_config, osp.join(work_dir, 'iter_4.pth'),
            '--work-dir', str(tmp_path)]
    if tta:
        args.append('--tta')
    proc = cli(args + ['--cfg-options'] + toy_opts(tiny_toy_root))
    assert 'mIoU' in proc.stdout
    assert ('tta' if tta else 'single scale') in proc.stdout
    (metrics_file, ) = glob.glob(str(tmp_path / '*' / 'test_metrics.json'))
    metrics = json.load(open(metrics_file))
    assert metrics['tta'] is tta
    assert 0 <= metrics['metrics']['mIoU'] <= 100


def test_test_out_and_show_dir(trained, cli, toy_config, tiny_toy_root,
                               toy_opts, tmp_path):
    work_dir, _ = trained
    out = tmp_path / 'preds'
    cli(['tools/test.py', toy_config, osp.join(work_dir, 'iter_4.pth'),
         '--work-dir', str(tmp_path), '--out', str(out), '--show-dir', 'vis',
         '--cfg-options'] + toy_opts(tiny_toy_root))
    preds = sorted(out.glob('*.png'))
    assert len(preds) == 4
    assert cv2.imread(str(preds[0]), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert glob.glob(str(tmp_path / 'vis' / '**' / '*.png'),
                     recursive=True)


def test_infer_writes_overlay_of_input_size(trained, cli, toy_config,
                                            tiny_toy_root, tmp_path):
    work_dir, _ = trained
    img = sorted(glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val',
                                    '*.png')))[0]
    out = tmp_path / 'overlay.png'
    cli(['tools/infer.py', img, toy_config,
         osp.join(work_dir, 'iter_4.pth'), '--out', str(out)])
    overlay = cv2.imread(str(out))
    assert overlay is not None and overlay.shape == (64, 64, 3)
    assert not (overlay == cv2.imread(img)).all()  # something was painted


def _wait_for(path, proc, timeout=300):
    start = time.time()
    while not osp.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f'training ended before {path} appeared')
        if time.time() - start > timeout:
            raise AssertionError(f'{path} did not appear in {timeout}s')
        time.sleep(0.02)


def test_kill_and_resume_matches_uninterrupted_run(cli, toy_config,
                                                   tiny_toy_root, toy_opts,
                                                   tmp_path):
    """SIGKILL after the first checkpoint, --resume, compare checkpoints."""
    opts = toy_opts(tiny_toy_root, max_iters=8, interval=2, extra=[
        'model.decode_head.dropout_ratio=0.0',
        'model.auxiliary_head.dropout_ratio=0.0', 'randomness.seed=7'
    ])
    ref_dir, run_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    cli(['tools/train.py', toy_config, '--work-dir', ref_dir,
         '--cfg-options'] + opts)

    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', toy_config, '--work-dir', run_dir,
         '--cfg-options'] + opts,
        cwd=osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # last_checkpoint is written right after iter_2.pth is complete
        _wait_for(osp.join(run_dir, 'last_checkpoint'), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not osp.exists(osp.join(run_dir, 'iter_8.pth')), \
        'the run finished before it was killed: nothing was interrupted'
    cli(['tools/train.py', toy_config, '--work-dir', run_dir, '--resume',
         '--cfg-options'] + opts)

    ref = torch.load(osp.join(ref_dir, 'iter_8.pth'), weights_only=True)
    res = torch.load(osp.join(run_dir, 'iter_8.pth'), weights_only=True)
    assert res['meta']['iter'] == ref['meta']['iter'] == 8
    assert res['param_schedulers'] == ref['param_schedulers']
    for key, value in ref['state_dict'].items():
        torch.testing.assert_close(res['state_dict'][key], value, atol=1e-5,
                                   rtol=1e-5, msg=key)
    ref_opt, res_opt = ref['optimizer'], res['optimizer']
    assert res_opt['param_groups'] == ref_opt['param_groups']
    for idx, state in ref_opt['state'].items():
        torch.testing.assert_close(res_opt['state'][idx]['momentum_buffer'],
                                   state['momentum_buffer'], atol=1e-5,
                                   rtol=1e-5)
