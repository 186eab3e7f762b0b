"""tools/setup_env.sh on the paths a CUDA machine takes: reuse the torch an
interpreter already has (HEMNET_TORCH=installed) and install into that
interpreter's own environment (HEMNET_VENV=none), offline-style with mmcv
from a wheelhouse. Exercised here with a temporary venv holding the CPU
torch; the GPU machines do the same with their CUDA torch."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
WHEELHOUSE = osp.normpath(osp.join(REPO, '..', 'shared', 'wheelhouse'))


def _setup(env, check=True):
    proc = subprocess.run(['bash', 'tools/setup_env.sh'],
                          cwd=REPO,
                          env=dict(os.environ, **env),
                          capture_output=True,
                          text=True,
                          timeout=1800)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr[-3000:])
    return proc


def test_installed_torch_refused_when_the_interpreter_has_none(tmp_path):
    venv = tmp_path / 'bare'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True)
    proc = _setup(
        dict(
            PYTHON=str(venv / 'bin' / 'python'),
            HEMNET_TORCH='installed',
            HEMNET_VENV='none'),
        check=False)
    assert proc.returncode == 2
    assert 'imports no torch' in proc.stderr


def test_installed_torch_inside_a_venv_needs_venv_none():
    """A new venv cannot see another venv's torch: say so, install
    nothing."""
    proc = _setup(
        dict(
            PYTHON=sys.executable,
            HEMNET_TORCH='installed',
            HEMNET_VENV='/nonexistent/.venv-x'),
        check=False)
    assert proc.returncode == 2
    assert 'HEMNET_VENV=none' in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(
    not osp.isdir(WHEELHOUSE), reason=f'no mmcv wheel at {WHEELHOUSE}')
@pytest.mark.parametrize('no_deps', ['0', '1'])
def test_reuses_installed_torch_in_its_own_environment(tmp_path, no_deps):
    """no_deps=1 is the GPU machines' path (tools/gpu_check.sh): every
    dependency named in requirements/deps.txt, none resolved by pip."""
    venv = tmp_path / 'gpu_like'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    py = str(venv / 'bin' / 'python')
    subprocess.run([py, '-m', 'pip', 'install', '-q', 'torch==2.13.0'],
                   check=True,
                   timeout=900)
    torch_dir, torch_version = subprocess.run([
        py, '-c', 'import torch, os; '
        'print(os.path.dirname(torch.__file__), torch.__version__)'
    ],
                                              capture_output=True,
                                              text=True,
                                              check=True).stdout.split()
    before = os.stat(osp.join(torch_dir, '__init__.py')).st_mtime_ns
    stamp = osp.join(REPO, '.hemnet-setup-stamp')
    saved = open(stamp).read() if osp.isfile(stamp) else None
    try:
        proc = _setup(
            dict(
                PYTHON=py,
                HEMNET_TORCH='installed',
                HEMNET_VENV='none',
                HEMNET_NO_DEPS=no_deps,
                PIP_FIND_LINKS=' '.join(
                    filter(None,
                           [WHEELHOUSE,
                            os.environ.get('PIP_FIND_LINKS')])),
            ))
    finally:
        if saved is None:
            if osp.isfile(stamp):
                os.remove(stamp)
        else:
            with open(stamp, 'w') as f:
                f.write(saved)
    assert 'setup: ready' in proc.stdout
    # the same torch, untouched, and the stack importable from that python
    assert os.stat(osp.join(torch_dir, '__init__.py')).st_mtime_ns == before
    out = subprocess.run([
        py, '-c', 'import torch, mmcv.ops, mmseg, hemnet_mmseg; '
        'print(torch.__version__, mmcv.__version__)'
    ],
                         capture_output=True,
                         text=True,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    # (the build pip took from this machine's disk: +cpu or +cu130)
    assert out.stdout.split() == [torch_version, '2.1.0']
    assert torch_version.startswith('2.13.0')
    # with --no-deps pip did not pull mmengine's opencv-python (the
    # headless build from requirements/runtime.txt serves it)
    listed = subprocess.run([py, '-m', 'pip', 'list', '--format=freeze'],
                            capture_output=True,
                            text=True).stdout
    names = {line.split('==')[0].lower() for line in listed.split()}
    assert 'opencv-python-headless' in names
    assert ('opencv-python' in names) == (no_deps == '0')
    shutil.rmtree(venv)
