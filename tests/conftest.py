"""Shared fixtures: the repository, a tiny toy data set, CLI runners."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOY_HEMNET = osp.join(REPO, 'configs', 'hemnet',
                      'hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py')
TOY_EMANET = osp.join(REPO, 'configs', 'emanet',
                      'emanet_r18-d8_1xb8-1k_toy-shapes-64x64.py')
CAMVID_ROOT = osp.normpath(osp.join(REPO, '..', 'shared', 'data', 'camvid'))


@pytest.fixture(scope='session', autouse=True)
def precision_probe_cache(tmp_path_factory):
    """The precision probe's per-machine cache (``dtype='auto'`` configs)
    in a folder of this test session, shared by its subprocesses, not in
    the user's home."""
    folder = str(tmp_path_factory.mktemp('hemnet_cache'))
    old = os.environ.get('HEMNET_CACHE_DIR')
    os.environ['HEMNET_CACHE_DIR'] = folder
    yield folder
    if old is None:
        os.environ.pop('HEMNET_CACHE_DIR', None)
    else:
        os.environ['HEMNET_CACHE_DIR'] = old


@pytest.fixture(scope='session')
def repo():
    return REPO


@pytest.fixture(scope='session')
def toy_config():
    return TOY_HEMNET


@pytest.fixture(scope='session')
def toy_emanet_config():
    return TOY_EMANET


def load_repo_tool(name, folder='tools/analysis'):
    """Import ``<folder>/<name>.py`` of the repository as a module."""
    import importlib.util
    path = osp.join(REPO, folder, f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool():
    return load_repo_tool


@pytest.fixture(scope='session')
def tiny_toy_root(tmp_path_factory):
    """A generated toy data set: 16 train, 4 val images of 64x64."""
    from hemnet_mmseg.datasets.toy_shapes_generator import generate
    root = str(tmp_path_factory.mktemp('toy') / 'toy_shapes')
    return generate(root, num_train=16, num_val=4, size=64, seed=0)


def toy_options(root, max_iters=4, interval=2, batch=2, extra=()):
    """--cfg-options for a fast CPU run on ``root``."""
    opts = [
        f'train_cfg.max_iters={max_iters}',
        f'train_cfg.val_interval={interval}',
        f'default_hooks.checkpoint.interval={interval}',
        'default_hooks.checkpoint.max_keep_ckpts=10',
        'default_hooks.logger.interval=1',
        f'train_dataloader.batch_size={batch}',
    ]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [
            f'{loader}.dataset.data_root={root}',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    return opts + list(extra)


@pytest.fixture(scope='session')
def toy_opts():
    return toy_options


def run_cli(args, cwd=None, env=None, timeout=600, check=True):
    """Run a repo tool (``tools/<name>.py``) in a subprocess."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '2')
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable] + list(args),
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}'
            f'\nstderr:\n{proc.stderr[-4000:]}')
    return proc


@pytest.fixture(scope='session')
def cli():
    return run_cli


@pytest.fixture(scope='session')
def toy_trained(tmp_path_factory, tiny_toy_root):
    """tools/train.py on the toy config: 4 iterations, validation every 2.

    Returns (work_dir, completed process)."""
    work_dir = str(tmp_path_factory.mktemp('toy_train'))
    proc = run_cli([
        'tools/train.py', TOY_HEMNET, '--work-dir', work_dir, '--cfg-options'
    ] + toy_options(tiny_toy_root))
    return work_dir, proc
