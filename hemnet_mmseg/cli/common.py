"""What ``train``, ``test`` and ``infer`` share: config loading, clear
errors for bad input, and MMEngine set-up on machines without CUDA.

A CPU-only torch cannot run MMEngine's ``pytorch`` launcher out of the box:
``init_dist`` calls ``torch.cuda.set_device``, the Runner wraps the model in
DDP with ``device_ids=[LOCAL_RANK]`` and mmseg's runtime asks for ``nccl``.
:func:`setup_cpu_distributed` creates the ``gloo`` process group before the
Runner is built (the Runner then skips its own ``init_dist``) and sets
``model_wrapper_cfg.device_ids=None``.
"""
import os
import os.path as osp
import sys
import zipfile
from typing import Optional

import torch
from mmengine.config import Config, DictAction

import hemnet_mmseg  # noqa: F401  (before any config is parsed)


class UserError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def run_main(prog: str, main_fn, argv: Optional[list] = None) -> None:
    """Run ``main_fn(argv)``; turn :class:`UserError` into a one-line error."""
    try:
        main_fn(argv)
    except UserError as err:
        print(f'{prog}: error: {err}', file=sys.stderr)
        sys.exit(2)


def add_cfg_options(parser) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs '
        '(e.g. train_cfg.max_iters=100 randomness.seed=1)')


def add_launcher_args(parser) -> None:
    """``--launcher`` and the ``--local_rank`` torch.distributed.launch
    passes (torchrun sets ``$LOCAL_RANK`` instead)."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_with_local_rank(parser, argv=None):
    """``parser.parse_args`` and export ``LOCAL_RANK`` if unset."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config; a missing file is a :class:`UserError`."""
    if not osp.isfile(path):
        raise UserError(f'config file not found: {path}')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`UserError` when ``path`` is no torch checkpoint."""
    if not osp.exists(path):
        raise UserError(f'checkpoint not found: {path}')
    if not osp.isfile(path):
        raise UserError(f'checkpoint is not a file: {path}')
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any(n.endswith('data.pkl') for n in zf.namelist()):
                return
    else:
        with open(path, 'rb') as f:
            head = f.read(2)
        if head[:1] == b'\x80':  # legacy (pre-1.6) torch.save pickle
            return
    raise UserError(f'not a PyTorch checkpoint: {path}')


def _datasets(cfg):
    """Yield the leaf dataset configs of a dataloader's dataset config."""
    if cfg is None:
        return
    if cfg.get('type') == 'ConcatDataset':
        for sub in cfg.get('datasets', []):
            yield from _datasets(sub)
    elif 'dataset' in cfg and 'data_root' not in cfg:  # a wrapper
        yield from _datasets(cfg.dataset)
    else:
        yield cfg


def check_data_roots(cfg: Config, loaders) -> None:
    """A missing data root is a :class:`UserError` naming the path.

    Data sets that generate themselves (``generate`` set) are skipped.
    """
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _datasets(loader_cfg.get('dataset')):
            root = ds.get('data_root')
            if not root or osp.isdir(root) or ds.get('generate',
                                                     None) is not None:
                continue
            if ds.get('type') == 'ToyShapesDataset' and 'generate' not in ds:
                continue  # generates itself by default
            from mmseg.registry import DATASETS
            hint = getattr(DATASETS.get(ds.get('type')) or object,
                           'DATA_HINT', '') or (
                               'Download or create the data there.')
            raise UserError(
                f'data root not found: {root} ({loader}.dataset, '
                f'{ds.get("type")}). {hint} Or point the config at it: '
                f'--cfg-options {loader}.dataset.data_root=PATH')


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """``--work-dir``, else the config's, else ``./work_dirs/<config>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def build_runner(cfg: Config):
    """MMEngine's Runner, or the config's ``runner_type`` when it has one."""
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def replace_syncbn(cfg):
    """SyncBN -> BN everywhere in a (nested) config: SyncBN needs CUDA."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'type' and value == 'SyncBN':
                cfg[key] = 'BN'
            else:
                replace_syncbn(value)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            replace_syncbn(item)
    return cfg


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; without CUDA, make it work on ``gloo``."""
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise UserError(f'--launcher {launcher} needs CUDA on this machine; '
                        'on CPU use --launcher pytorch (tools/dist_train.sh)')
    setup_cpu_distributed(cfg)


def setup_cpu_distributed(cfg: Config) -> None:
    """A gloo process group from torchrun's environment, and DDP on CPU."""
    import torch.distributed as dist
    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if var not in os.environ:
            raise UserError(f'--launcher pytorch needs ${var}: start with '
                            'torchrun (tools/dist_train.sh)')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    replace_syncbn(cfg.model)
