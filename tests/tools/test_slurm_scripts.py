"""tools/slurm_train.sh and tools/slurm_test.sh build mmseg's srun command
(no cluster here: a stand-in srun records what it is given)."""
import os
import os.path as osp
import subprocess

import pytest

SRUN = '#!/bin/sh\nfor a in "$@"; do echo "$a"; done > "$SRUN_LOG"\n'


@pytest.mark.parametrize('script,extra', [
    ('slurm_train.sh', ['--work-dir', 'w', '--resume']),
    ('slurm_test.sh', ['--out', 'preds']),
])
def test_the_srun_command_is_mmsegs(repo, tmp_path, script, extra):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(SRUN)
    (bin_dir / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    env = dict(
        {
            k: v
            for k, v in os.environ.items() if k != 'PYTHON'
        },  # make exports it
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        SRUN_LOG=str(log),
        GPUS='8',
        GPUS_PER_NODE='4',
        SRUN_ARGS='--quotatype=auto')
    args = ['bash', f'tools/{script}', 'gpu', 'hem', 'CFG.py']
    if script == 'slurm_test.sh':
        args.append('CKPT.pth')
    subprocess.run(args + extra, cwd=repo, env=env, check=True)
    got = log.read_text().split('\n')[:-1]
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    inputs = ['CFG.py'] + (['CKPT.pth'] if tool == 'test.py' else [])
    assert got == [
        '-p', 'gpu', '--job-name=hem', '--gres=gpu:4', '--ntasks=8',
        '--ntasks-per-node=4', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        '--quotatype=auto', 'python', '-u',
        osp.join('tools', tool)
    ] + inputs + ['--launcher=slurm'] + extra
