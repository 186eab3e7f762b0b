"""Reading configs for the tools: clear errors, and CPU-friendly norms."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .errors import UserError


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file and merge ``--cfg-options`` into it.

    Raises:
        UserError: the file is missing, or it (or one of its bases) is not
            valid Python; the message names the file and the line.
    """
    if not osp.isfile(path):
        raise UserError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = err.filename or path
        raise UserError(f'config {where} line {err.lineno}: syntax error: '
                        f'{err.msg}') from err
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


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
