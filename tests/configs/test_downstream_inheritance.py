"""A downstream project inherits our configs through ``hemnet_mmseg::``.

Builds a real wheel, installs it without dependencies into a temporary
target, and from a temporary folder, in subprocesses that see only that
install (not this checkout), trains a config that inherits the toy config
and builds the model of one that inherits a Cityscapes config.
"""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


def test_mmengine_private_api_still_there():
    from hemnet_mmseg.utils.config_prefix import check_mmengine_private_api
    check_mmengine_private_api()  # raises ImportError with a clear message
    from mmengine.config.utils import MODULE2PACKAGE
    assert MODULE2PACKAGE['hemnet_mmseg'] == 'hemnet_mmseg'


def test_private_api_change_fails_clearly(monkeypatch):
    from mmengine.config import utils as cfg_utils

    from hemnet_mmseg.utils.config_prefix import check_mmengine_private_api
    monkeypatch.delattr(cfg_utils, '_get_cfg_metainfo')
    with pytest.raises(ImportError, match='_get_cfg_metainfo'):
        check_mmengine_private_api()


@pytest.fixture(scope='module')
def installed(repo, tmp_path_factory):
    """The wheel installed with --no-deps into a private target folder."""
    dist = tmp_path_factory.mktemp('dist')
    site = tmp_path_factory.mktemp('site')
    # build from a copy: the build writes hemnet_mmseg/.mim into its tree
    src = tmp_path_factory.mktemp('src') / 'hemnet_mmseg'
    shutil.copytree(
        repo,
        src,
        ignore=shutil.ignore_patterns('.venv', '.git', 'work_dirs', 'data',
                                      'docs', '__pycache__', '.mim', 'build',
                                      '*.egg-info'))
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check']
    subprocess.run(
        pip + [
            'wheel',
            str(src), '--no-deps', '--no-build-isolation', '-q', '-w',
            str(dist)
        ],
        check=True,
        timeout=600)
    (wheel, ) = dist.glob('hemnet_mmseg-*.whl')
    subprocess.run(
        pip +
        ['install', '--no-deps', '-q', '--target',
         str(site),
         str(wheel)],
        check=True,
        timeout=600)
    return site


def _run(site, cwd, code_or_args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='2')
    args = ['-c', code_or_args] if isinstance(code_or_args, str) \
        else code_or_args
    proc = subprocess.run(
        [sys.executable] + args,
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_wheel_ships_configs_tools_and_model_index(installed, tmp_path):
    mim = installed / 'hemnet_mmseg' / '.mim'
    assert (mim / 'model-index.yml').is_file()
    assert (mim / 'configs' / 'hemnet' / 'metafile.yaml').is_file()
    assert (mim / 'tools' / 'train.py').is_file()  # for `mim train`
    out = _run(
        installed, tmp_path,
        textwrap.dedent('''
        import hemnet_mmseg
        from mmengine.utils import get_installed_path
        print(hemnet_mmseg.__file__)
        print(get_installed_path('hemnet_mmseg'))
    ''')).stdout.split()
    assert all(line.startswith(str(installed)) for line in out), out


def test_downstream_trains_config_inheriting_toy(installed, tmp_path,
                                                 tiny_toy_root):
    cfg = tmp_path / 'my_toy.py'
    base = 'hemnet_mmseg::hemnet/hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py'
    cfg.write_text(
        textwrap.dedent(f'''
        _base_ = [{base!r}]
        model = dict(decode_head=dict(step_size=0.8))
        train_cfg = dict(max_iters=2, val_interval=2)
        default_hooks = dict(checkpoint=dict(interval=2))
        train_dataloader = dict(batch_size=2, num_workers=0,
            persistent_workers=False,
            dataset=dict(data_root={tiny_toy_root!r}))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
            dataset=dict(data_root={tiny_toy_root!r}))
        test_dataloader = val_dataloader
    '''))
    _run(installed, tmp_path, [
        '-m', 'hemnet_mmseg.cli.train',
        str(cfg), '--work-dir',
        str(tmp_path / 'work')
    ])
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
    log = next((tmp_path / 'work').glob('*/*.log')).read_text()
    assert "step_size=0.8" in log and 'mIoU' in log


def test_downstream_builds_cityscapes_model(installed, tmp_path):
    cfg = tmp_path / 'my_cityscapes.py'
    base = ('hemnet_mmseg::hemnet/'
            'hemnet_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg.write_text(
        textwrap.dedent(f'''
        _base_ = [{base!r}]
        model = dict(pretrained=None, decode_head=dict(num_stages_eval=6))
    '''))
    out = _run(
        installed, tmp_path,
        textwrap.dedent(f'''
        import hemnet_mmseg
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from hemnet_mmseg.utils import replace_syncbn
        from hemnet_mmseg.registry import MODELS
        cfg = Config.fromfile({str(cfg)!r})
        init_default_scope(cfg.get('default_scope', 'mmseg'))
        model = MODELS.build(replace_syncbn(cfg.model))
        head = model.decode_head
        print(type(head).__name__, head.num_classes,
              head.ema_module.num_stages_eval)
    ''')).stdout.split()
    assert out[-3:] == ['HEMHead', '19', '6']
