"""Every local checkpoint MMEngine loads goes through the weights-only
loader, and the config text stored in it is never executed.

MMEngine reads a local file with ``load_from_local``, the ``CheckpointLoader``
scheme for paths without a prefix, which calls ``torch.load`` without
``weights_only``: torch then honours ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``
and unpickles anything. ``Runner.resume`` then parses
``checkpoint['meta']['config']`` with ``Config.fromstring(..., '.py')``,
which *executes* the text, only to read ``gpu_ids``.

:func:`register_checkpoint_loader` (called when ``hemnet_mmseg`` is
imported) replaces that scheme, through MMEngine's own extension point
``CheckpointLoader.register_scheme``, by :func:`load_from_local_weights_only`:
``torch.load(..., weights_only=True)`` passed explicitly (torch ignores the
environment variable then) with the allow-list of genuine MMEngine
checkpoints in force for that load only (:mod:`.safe_globals`), and the
stored config reduced to its
``gpu_ids = [...]`` literal, read with :func:`ast.literal_eval`. This holds
for every Runner in a process that imported the plugin, whatever the
config's hook list: mmseg's own ``tools/train.py`` and ``tools/test.py``
with ``custom_imports=dict(imports=['hemnet_mmseg'])`` or a
``hemnet_mmseg::`` base config included.

Model zoo URLs (``http://``, ``https://``) take the same path after a
download into torch's hub cache. Not covered: other remote schemes
(``s3://``, ``pavi://``, ``open-mmlab://``), which MMEngine's own loaders
read with torch's default (weights-only since torch 2.6 unless that
variable is set); a process that never imports ``hemnet_mmseg``.
"""
import ast
import os
import os.path as osp
import pickle
from typing import Any, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.config import literal_assignment
from ..utils.errors import UserError
from .safe_globals import checkpoint_globals

#: torch's switch that turns weights-only loading off where a caller does
#: not pass ``weights_only`` explicitly
UNSAFE_LOAD_VARIABLE = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


def literal_gpu_ids(config_text: str) -> Optional[list]:
    """``gpu_ids`` of a stored config, read without executing anything.

    Args:
        config_text (str): the Python text of a dumped MMEngine config.

    Returns:
        list[int] | None: the top-level ``gpu_ids = [...]`` literal, or None
        when the text has none, is not Python, or holds something else.
    """
    try:
        value = literal_assignment(ast.parse(config_text), 'gpu_ids')
    except (SyntaxError, ValueError, LookupError):
        return None
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def strip_stored_config(checkpoint: Any) -> Any:
    """Replace ``checkpoint['meta']['config']`` by its ``gpu_ids`` literal
    (the one thing ``Runner.resume`` reads from it), or drop it.

    Args:
        checkpoint: what ``torch.load`` returned (changed in place).

    Returns:
        the same object.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or 'config' not in meta:
        return checkpoint
    text = meta.pop('config')
    gpu_ids = literal_gpu_ids(text) if isinstance(text, str) else None
    if gpu_ids is not None:
        meta['config'] = f'gpu_ids = {gpu_ids!r}\n'
    return checkpoint


class RefusedCheckpointError(UserError, pickle.UnpicklingError):
    """The weights-only loader refused what a checkpoint asks for; a
    :class:`UserError` (one line from the tools) and still the
    ``UnpicklingError`` torch raises."""


class DamagedCheckpointError(UserError, RuntimeError):
    """``torch.load`` could not read a checkpoint's records."""


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def _weights_only_reason(err: Exception) -> str:
    """The line of torch's weights-only message that says what was refused
    (not its advice to load with ``weights_only=False``)."""
    advice = ('Weights only load failed', 'Check the documentation')
    for line in str(err).splitlines():
        line = line.strip()
        if line and not line.startswith(advice):
            return line
    return _first_line(err)


def load_from_local_weights_only(filename: str, map_location=None) -> Any:
    """MMEngine's ``load_from_local``, weights-only and config-free.

    Args:
        filename (str): a local checkpoint path (``~`` expanded).
        map_location: as :func:`torch.load`.

    Returns:
        the checkpoint, with its stored config reduced by
        :func:`strip_stored_config`.

    Raises:
        FileNotFoundError: no such file (MMEngine's message).
        RefusedCheckpointError: the file asks for anything a genuine
            checkpoint does not hold (a ``pickle.UnpicklingError``).
        DamagedCheckpointError: torch cannot read the file's records (a
            ``RuntimeError``).
        Both are :class:`UserError`: one line from the tools.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        with checkpoint_globals():  # the allow-list, for this load only
            checkpoint = torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise RefusedCheckpointError(
            f'checkpoint {filename} was refused by the weights-only loader '
            f'and not loaded: {_weights_only_reason(err)}') from err
    except (RuntimeError, EOFError, ValueError) as err:
        # a zip record whose size lies (CRCs off), a truncated pickle
        raise DamagedCheckpointError(f'checkpoint {filename} cannot be read: '
                                     f'{_first_line(err)}') from err
    return strip_stored_config(checkpoint)


def load_from_http_weights_only(filename: str,
                                map_location=None,
                                model_dir: Optional[str] = None,
                                progress: bool = True) -> Any:
    """MMEngine's ``load_from_http`` (a model zoo URL), through
    :func:`load_from_local_weights_only`: the file is downloaded into
    torch's hub cache (once) and loaded as a local checkpoint."""
    from torch.hub import download_url_to_file, get_dir
    folder = model_dir or osp.join(get_dir(), 'checkpoints')
    os.makedirs(folder, exist_ok=True)
    cached = osp.join(folder, osp.basename(filename.split('?')[0]))
    if not osp.isfile(cached):
        download_url_to_file(filename, cached, progress=progress)
    return load_from_local_weights_only(cached, map_location)


def register_checkpoint_loader() -> None:
    """Make :func:`load_from_local_weights_only` MMEngine's loader for local
    paths, and :func:`load_from_http_weights_only` for ``http(s)://``
    (idempotent)."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_weights_only, force=True)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'),
        loader=load_from_http_weights_only,
        force=True)


def refuse_unsafe_load_variable() -> None:
    """The plugin's tools refuse to start when torch's weights-only loading
    is switched off for the process.

    Raises:
        UserError: ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set to a true
            value.
    """
    value = os.environ.get(UNSAFE_LOAD_VARIABLE, '0')
    if value.lower() in ('1', 'y', 'yes', 'true'):
        raise UserError(
            f'{UNSAFE_LOAD_VARIABLE}={value} turns off the weights-only '
            'checkpoint loading that keeps a crafted checkpoint from running '
            'code; unset it (hemnet_mmseg loads genuine MMEngine checkpoints '
            'weights-only)')
