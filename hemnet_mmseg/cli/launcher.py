"""The distributed launcher, on CPUs too.

A CPU-only torch cannot run MMEngine's ``pytorch`` launcher out of the box:
``init_dist`` calls ``torch.cuda.set_device``, the Runner wraps the model in
DDP with ``device_ids=[LOCAL_RANK]`` and mmseg's runtime asks for ``nccl``.
:func:`setup_cpu_distributed` creates the ``gloo`` process group before the
Runner is built (the Runner then skips its own ``init_dist``) and sets
``model_wrapper_cfg.device_ids=None``.
"""
import os

import torch
from mmengine.config import Config

from hemnet_mmseg.utils import UserError, replace_syncbn
from hemnet_mmseg.utils.errors import join_lines


def check_launcher_env() -> None:
    """torchrun's variables, checked before a process group waits on them.

    Raises:
        UserError: one of ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
            ``MASTER_PORT`` is missing, a number is not an integer, the port
            is outside [1, 65535], or ``RANK`` is outside
            [0, ``WORLD_SIZE``) (the group would wait for ranks that never
            come: a hang, not an error).
    """
    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if var not in os.environ:
            raise UserError(f'--launcher pytorch needs ${var}: start with '
                            'torchrun (tools/dist_train.sh)')
    values = {}
    for var, low, high in (('RANK', 0, None), ('WORLD_SIZE', 1, None),
                           ('MASTER_PORT', 1, 65535), ('LOCAL_RANK', 0, None)):
        text = os.environ.get(var)
        if text is None:
            continue
        try:
            values[var] = int(text)
        except ValueError:
            values[var] = None
        value = values[var]
        if value is None or value < low or (high is not None and value > high):
            allowed = f'[{low}, {high}]' if high else f'>= {low}'
            raise UserError(f'${var}={text}: expected an integer {allowed}')
    if values['RANK'] >= values['WORLD_SIZE']:
        raise UserError(f'$RANK={values["RANK"]} is outside the world of '
                        f'$WORLD_SIZE={values["WORLD_SIZE"]} processes '
                        f'(ranks 0 to {values["WORLD_SIZE"] - 1})')


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; without CUDA, make it work on ``gloo``."""
    cfg.launcher = launcher
    if launcher == 'pytorch':
        check_launcher_env()
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise UserError(f'--launcher {launcher} needs CUDA on this machine; '
                        'on CPU use --launcher pytorch (tools/dist_train.sh)')
    setup_cpu_distributed(cfg)


def setup_cpu_distributed(cfg: Config) -> None:
    """A gloo process group from torchrun's environment (checked first by
    :func:`check_launcher_env`), and DDP on CPU."""
    import torch.distributed as dist
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend='gloo')
        except dist.DistNetworkError as err:
            raise UserError(
                f'--launcher pytorch: cannot start the process group on '
                f'$MASTER_ADDR={os.environ["MASTER_ADDR"]} '
                f'$MASTER_PORT={os.environ["MASTER_PORT"]} (in use by another '
                f'job?): {join_lines(str(err))[:200]}') from err
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    replace_syncbn(cfg.model)
