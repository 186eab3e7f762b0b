"""Checks of a config before a Runner is built: data roots, class
counts, the work dir, the device. Each failure is a one-line
:class:`~hemnet_mmseg.utils.UserError` naming what to change."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config

from hemnet_mmseg.utils import UserError


def dataset_configs(cfg):
    """Yield the leaf dataset configs of a dataloader's dataset config."""
    if cfg is None:
        return
    if cfg.get('type') == 'ConcatDataset':
        for sub in cfg.get('datasets', []):
            yield from dataset_configs(sub)
    elif 'dataset' in cfg and 'data_root' not in cfg:  # a wrapper
        yield from dataset_configs(cfg.dataset)
    else:
        yield cfg


def check_data_roots(cfg: Config, loaders) -> None:
    """A missing data root is a :class:`UserError` naming the path.

    Data sets whose class generates its data on first use
    (``GENERATES_DATA``, unless the config sets ``generate=None``) are
    skipped.
    """
    from mmseg.registry import DATASETS
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in dataset_configs(loader_cfg.get('dataset')):
            root = ds.get('data_root')
            cls = DATASETS.get(ds.get('type')) or object
            if not root or osp.isdir(root) or (
                    getattr(cls, 'GENERATES_DATA', False)
                    and ds.get('generate', {}) is not None):
                continue
            hint = getattr(cls, 'DATA_HINT',
                           '') or ('Download or create the data there.')
            raise UserError(
                f'data root not found: {root} ({loader}.dataset, '
                f'{ds.get("type")}). {hint} Or point the config at it: '
                f'--cfg-options {loader}.dataset.data_root=PATH')


def _heads(model_cfg):
    """Yield ``(name, head config)`` for the decode and auxiliary heads."""
    for key in ('decode_head', 'auxiliary_head'):
        heads = (model_cfg or {}).get(key)
        if isinstance(heads, dict):
            heads = [heads]
        for i, head in enumerate(heads or []):
            name = f'model.{key}' + (f'[{i}]' if len(heads) > 1 else '')
            yield name, head


def check_num_classes(cfg: Config, loaders) -> None:
    """Every head predicts as many classes as every data set has.

    With fewer, labels of the missing classes fail deep in the metric or
    count as errors without a word; with more, the metric averages over
    classes that do not exist.

    Raises:
        UserError: naming the head, its ``num_classes``, the data set and
            its classes.
    """
    from mmseg.registry import DATASETS
    for loader in loaders:
        for ds in dataset_configs((cfg.get(loader) or {}).get('dataset')):
            cls = DATASETS.get(ds.get('type')) or object
            classes = (ds.get('metainfo') or {}).get('classes') or getattr(
                cls, 'METAINFO', {}).get('classes')
            if not classes:
                continue
            for name, head in _heads(cfg.get('model')):
                num = head.get('num_classes')
                if num is not None and num != len(classes):
                    raise UserError(
                        f'{name}.num_classes={num} but {loader}.dataset '
                        f'({ds.get("type")}) has {len(classes)} classes '
                        f'({", ".join(map(str, classes))}); set '
                        f'--cfg-options {name}.num_classes={len(classes)}')


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """``--work-dir``, else the config's, else ``./work_dirs/<config>``.

    Raises:
        UserError: the work dir, or a folder above it, is a file.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    path = osp.abspath(cfg.work_dir)
    while not osp.exists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    if not osp.isdir(path):
        raise UserError(f'work dir {cfg.work_dir}: {path} is a file, not a '
                        'folder; choose another --work-dir')


def check_device(device: str) -> str:
    """A ``--device`` this machine has: ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        UserError: not a device name, or a CUDA device this machine lacks.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f'--device {device}: not a device; expected cpu, '
                        'cuda or cuda:N') from None
    if parsed.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f'--device {device}: this machine has no CUDA '
                            'device; use --device cpu')
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f'--device {device}: this machine has {count} '
                            f'CUDA device(s), cuda:0 to cuda:{count - 1}')
    elif parsed.type != 'cpu':
        raise UserError(f'--device {device}: expected cpu, cuda or cuda:N')
    return device
