"""Two processes on CPU (gloo) through tools/dist_train.sh (torchrun)."""
import os
import socket
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

HOOK = '''
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpBasesHook(Hook):
    """Each rank saves its own copy of the EM bases buffer."""

    def before_run(self, runner):
        self._dump(runner, 'start')

    def after_run(self, runner):
        self._dump(runner, 'end')

    def _dump(self, runner, tag):
        model = getattr(runner.model, 'module', runner.model)
        bases = model.decode_head.ema_module.bases.detach().clone()
        torch.save(bases,
                   f'{runner.work_dir}/bases_{tag}_rank{runner.rank}.pt')
'''


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_gloo_training_keeps_bases_in_sync(repo, toy_config,
                                                       tiny_toy_root, toy_opts,
                                                       tmp_path):
    (tmp_path / 'dump_bases_hook.py').write_text(HOOK)
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(
        f'_base_ = [{toy_config!r}]\n'
        "custom_imports = dict(imports=['hemnet_mmseg', 'dump_bases_hook'],"
        ' allow_failed_imports=False)\n'
        "custom_hooks = [dict(type='DumpBasesHook')]\n")
    work_dir = tmp_path / 'work'
    env = dict(
        os.environ,
        PORT=str(_free_port()),
        OMP_NUM_THREADS='1',
        PYTHON=sys.executable,
        PYTHONPATH=f'{tmp_path}:{os.environ.get("PYTHONPATH", "")}')
    proc = subprocess.run(
        [
            'bash', 'tools/dist_train.sh',
            str(cfg), '2', '--work-dir',
            str(work_dir), '--cfg-options'
        ] + toy_opts(tiny_toy_root, max_iters=4, interval=4),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=420)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work_dir / 'iter_4.pth').exists()
    start = [torch.load(work_dir / f'bases_start_rank{r}.pt') for r in (0, 1)]
    end = [torch.load(work_dir / f'bases_end_rank{r}.pt') for r in (0, 1)]
    # the two ranks saw different images, trained, and agree exactly
    assert not torch.allclose(start[0], end[0])
    assert torch.equal(end[0], end[1])
    log = next(work_dir.glob('*/*.log')).read_text()
    assert 'gloo' in log and 'mIoU' in log


def test_the_tools_destroy_their_process_group_on_the_way_out(tmp_path):
    """run_main tears the gloo group down itself, also after an error, so
    interpreter finalisation cannot abort a finished run (the two-process
    test above died once with SIGABRT at exit before this)."""
    import torch.distributed as dist

    from hemnet_mmseg.cli.process import run_main
    from hemnet_mmseg.utils import UserError

    def main_fn(fail):
        dist.init_process_group(
            'gloo',
            init_method=f'file://{tmp_path / "store"}{fail}',
            rank=0,
            world_size=1)
        assert dist.is_initialized()
        if fail:
            raise UserError('bad input')

    run_main('train', main_fn, 0)
    assert not dist.is_initialized()
    with pytest.raises(SystemExit):
        run_main('train', main_fn, 1)
    assert not dist.is_initialized()
