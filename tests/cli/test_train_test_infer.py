"""tools/train.py, tools/test.py and tools/infer.py through real subprocesses
on the toy config (CPU, offline, a few iterations)."""
import glob
import json
import os
import os.path as osp
import signal

import cv2
import pytest
import torch

from hemnet_mmseg.checkpoint import load_from_local_weights_only

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
    ckpt = load_from_local_weights_only(osp.join(work_dir, 'iter_4.pth'))
    assert 'decode_head.ema_module.bases' in ckpt['state_dict']
    assert ckpt['meta']['dataset_meta']['classes'][0] == 'background'


@pytest.mark.parametrize('tta', [False, True])
def test_test_prints_metrics(trained, cli, toy_config, tiny_toy_root, toy_opts,
                             tmp_path, tta):
    work_dir, _ = trained
    args = [
        'tools/test.py', toy_config,
        osp.join(work_dir, 'iter_4.pth'), '--work-dir',
        str(tmp_path)
    ]
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
    cli([
        'tools/test.py', toy_config,
        osp.join(work_dir, 'iter_4.pth'), '--work-dir',
        str(tmp_path), '--out',
        str(out), '--show-dir', 'vis', '--cfg-options'
    ] + toy_opts(tiny_toy_root))
    preds = sorted(out.glob('*.png'))
    assert len(preds) == 4
    assert cv2.imread(str(preds[0]), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert glob.glob(str(tmp_path / 'vis' / '**' / '*.png'), recursive=True)


def test_infer_writes_overlay_of_input_size(trained, cli, toy_config,
                                            tiny_toy_root, tmp_path):
    work_dir, _ = trained
    img = sorted(
        glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val', '*.png')))[0]
    out = tmp_path / 'overlay.png'
    cli([
        'tools/infer.py', img, toy_config,
        osp.join(work_dir, 'iter_4.pth'), '--out',
        str(out)
    ])
    overlay = cv2.imread(str(out))
    assert overlay is not None and overlay.shape == (64, 64, 3)
    assert not (overlay == cv2.imread(img)).all()  # something was painted


def test_outputs_never_overwrite_inputs(trained, cli, toy_config,
                                        tiny_toy_root, toy_opts, tmp_path):
    """Issue 23, item 5: --out into the label folder overwrote the ground
    truth (re-evaluation then gave mIoU 100); infer --out IMG overwrote the
    image. Both are refused with one line; an existing output needs
    --overwrite."""
    work_dir, _ = trained
    ckpt = osp.join(work_dir, 'iter_4.pth')
    labels = osp.join(tiny_toy_root, 'ann_dir', 'val')
    before = {p: open(p, 'rb').read() for p in glob.glob(labels + '/*.png')}
    proc = cli(
        [
            'tools/test.py', toy_config, ckpt, '--work-dir',
            str(tmp_path), '--out', labels, '--cfg-options'
        ] + toy_opts(tiny_toy_root),
        check=False)
    assert proc.returncode == 2 and 'inside the data set' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert before == {p: open(p, 'rb').read() for p in before}
    img = sorted(
        glob.glob(osp.join(tiny_toy_root, 'img_dir', 'val', '*.png')))[0]
    data = open(img, 'rb').read()
    proc = cli(
        ['tools/infer.py', img, toy_config, ckpt, '--out', img, '--overwrite'],
        check=False)
    assert proc.returncode == 2 and 'is the input' in proc.stderr
    assert open(img, 'rb').read() == data
    out = tmp_path / 'exists.png'
    out.write_bytes(b'keep')
    proc = cli(['tools/infer.py', img, toy_config, ckpt, '--out',
                str(out)],
               check=False)
    assert proc.returncode == 2 and '--overwrite' in proc.stderr
    assert out.read_bytes() == b'keep'
    cli([
        'tools/infer.py', img, toy_config, ckpt, '--out',
        str(out), '--overwrite'
    ])
    assert cv2.imread(str(out)) is not None


KILL_PLUGIN = """
import os, signal
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


class _KillWhenPickled:
    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class KillInSaveHook(Hook):
    \"\"\"SIGKILL this process while it pickles checkpoint ``at``.\"\"\"

    def __init__(self, at):
        self.at = at

    def before_save_checkpoint(self, runner, checkpoint):
        if checkpoint['meta']['iter'] == self.at:
            checkpoint['meta']['kill'] = _KillWhenPickled()
"""


def _checkpoints_equal(ref_path, res_path):
    ref = load_from_local_weights_only(ref_path)
    res = load_from_local_weights_only(res_path)
    assert res['meta']['iter'] == ref['meta']['iter']
    assert res['param_schedulers'] == ref['param_schedulers']
    assert list(res['state_dict']) == list(ref['state_dict'])
    for key, value in ref['state_dict'].items():
        assert torch.equal(res['state_dict'][key], value), key
    ref_opt, res_opt = ref['optimizer'], res['optimizer']
    assert res_opt['param_groups'] == ref_opt['param_groups']
    for idx, state in ref_opt['state'].items():
        assert torch.equal(res_opt['state'][idx]['momentum_buffer'],
                           state['momentum_buffer']), idx


def test_kill_inside_a_save_then_resume_is_bit_exact(cli, toy_config,
                                                     tiny_toy_root, toy_opts,
                                                     tmp_path):
    """SIGKILL inside the save of iter_8 (max_keep_ckpts=1): iter_4 is kept
    and named by last_checkpoint, ``--resume`` goes on from it, and the
    final checkpoint equals an uninterrupted run's bit for bit (dropout
    on: the torch RNG state is restored; 2 threads in both runs)."""
    opts = toy_opts(
        tiny_toy_root,
        max_iters=12,
        interval=4,
        extra=[
            'default_hooks.checkpoint.max_keep_ckpts=1', 'randomness.seed=7'
        ])
    env = dict(OMP_NUM_THREADS='2')
    ref_dir, run_dir = str(tmp_path / 'ref'), str(tmp_path / 'run')
    cli(['tools/train.py', toy_config, '--work-dir', ref_dir, '--cfg-options']
        + opts,
        env=env)

    (tmp_path / 'kill_in_save.py').write_text(KILL_PLUGIN)
    killing = tmp_path / 'killing_config.py'
    killing.write_text(
        f"_base_ = ['{toy_config}']\n"
        "custom_imports = dict(imports=['hemnet_mmseg', 'kill_in_save'])\n"
        "custom_hooks = [dict(type='SafeResumeHook'), "
        "dict(type='RNGStateHook'), dict(type='KillInSaveHook', at=8)]\n")
    proc = cli(
        [
            'tools/train.py',
            str(killing), '--work-dir', run_dir, '--cfg-options'
        ] + opts,
        check=False,
        env=dict(
            env,
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(tmp_path),
                              os.environ.get('PYTHONPATH')]))))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert not osp.exists(osp.join(run_dir, 'iter_8.pth'))
    assert osp.isfile(osp.join(run_dir, 'iter_4.pth'))
    with open(osp.join(run_dir, 'last_checkpoint')) as f:
        assert f.read().strip() == osp.join(run_dir, 'iter_4.pth')

    cli([
        'tools/train.py', toy_config, '--work-dir', run_dir, '--resume',
        '--cfg-options'
    ] + opts,
        env=env)
    _checkpoints_equal(
        osp.join(ref_dir, 'iter_12.pth'), osp.join(run_dir, 'iter_12.pth'))


def test_resume_under_another_schedule_says_what_changed(
        cli, toy_config, tiny_toy_root, toy_opts, tmp_path):
    """Issue 23, item 6: a resume whose config differs from the
    checkpoint's in the model or the schedule trained on silently."""
    work_dir = str(tmp_path / 'w')
    cli([
        'tools/train.py', toy_config, '--work-dir', work_dir, '--cfg-options'
    ] + toy_opts(tiny_toy_root, max_iters=2, interval=2))
    proc = cli([
        'tools/train.py', toy_config, '--work-dir', work_dir, '--resume',
        '--cfg-options'
    ] + toy_opts(
        tiny_toy_root,
        max_iters=4,
        interval=2,
        extra=['optim_wrapper.optimizer.lr=0.03']))
    text = proc.stdout + proc.stderr
    assert 'differs from the one it was trained with in 2 setting' in text
    assert 'train_cfg.max_iters: 2 -> 4' in text
    assert 'optim_wrapper.optimizer.lr: 0.02 -> 0.03' in text
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))


STOP_IN_VAL_PLUGIN = """
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class StopInValHook(Hook):
    \"\"\"Ctrl-C at the start of the validation at iteration ``at``.\"\"\"

    def __init__(self, at):
        self.at = at

    def before_val(self, runner):
        if runner.iter == self.at:
            raise KeyboardInterrupt
"""


def test_resume_after_a_stop_in_the_final_validation_runs_it(
        cli, toy_config, tiny_toy_root, toy_opts, tmp_path):
    """Issue 32, item 5: SIGINT during the final validation (after the
    final checkpoint) exited 130; ``--resume`` then exited 0 at once with no
    validation, and scalars.json kept only the previous one."""
    (tmp_path / 'stop_in_val.py').write_text(STOP_IN_VAL_PLUGIN)
    stopping = tmp_path / 'stopping_config.py'
    stopping.write_text(
        f"_base_ = ['{toy_config}']\n"
        "custom_imports = dict(imports=['hemnet_mmseg', 'stop_in_val'])\n"
        "custom_hooks = [dict(type='StopInValHook', at=4)]\n")
    work_dir = str(tmp_path / 'w')
    opts = toy_opts(tiny_toy_root, max_iters=4, interval=2)
    proc = cli(
        [
            'tools/train.py',
            str(stopping), '--work-dir', work_dir, '--cfg-options'
        ] + opts,
        check=False,
        env=dict(PYTHONPATH=str(tmp_path)))
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert 'resume with --resume' in proc.stderr
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    cli([
        'tools/train.py', toy_config, '--work-dir', work_dir, '--resume',
        '--cfg-options'
    ] + opts)
    last = sorted(glob.glob(osp.join(work_dir, '2*')))[-1]
    with open(osp.join(last, 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f]
    assert [r['step'] for r in records if 'mIoU' in r] == [4]
    assert osp.isfile(osp.join(last, 'run.json'))


def test_metrics_that_cannot_be_written_are_printed_first(
        trained, toy_config, tiny_toy_root, toy_opts, tmp_path, monkeypatch,
        capsys):
    """Issue 32, item 6: a full disk at test_metrics.json left a 0-byte file
    and a traceback, and the summary was never printed."""
    import errno

    from hemnet_mmseg.cli import test as test_cli
    from hemnet_mmseg.cli.process import run_main

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full)
    work_dir, _ = trained
    with pytest.raises(SystemExit) as exit_:
        run_main('test', test_cli.main, [
            toy_config,
            osp.join(work_dir, 'iter_4.pth'), '--work-dir',
            str(tmp_path), '--cfg-options'
        ] + toy_opts(tiny_toy_root))
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert 'mIoU' in captured.out
    assert 'No space left on device' in captured.err.strip().splitlines()[-1]
    assert not glob.glob(str(tmp_path / '*' / 'test_metrics.json*'))
