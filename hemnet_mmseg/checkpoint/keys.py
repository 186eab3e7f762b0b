"""Refuse a checkpoint of another model before evaluating it.

MMEngine and mmseg load checkpoints with ``strict=False``: a checkpoint of
another model loads with a logged warning and is evaluated as a mostly
random model, exit status 0; tensors of the right key but another shape
are skipped the same way (24 "size mismatch" lines, mIoU 11.79 instead of
20.75, reproduced). :func:`check_state_dict_keys` compares the keys (after
MMEngine's own ``module.`` prefix revision) and the shapes with the
model's and raises a one-line :class:`UserError` naming a few of each kind. An
EMAHead checkpoint matches a HEMHead model (same keys), and a HEMHead one
with learned bases matches either (the parameter keeps the buffer's key).
"""
import re
from typing import List, Mapping, Tuple

import torch
from mmengine.model import BaseTTAModel, is_model_wrapper

from ..utils.errors import UserError


def _cut(keys: List[str], n: int = 4) -> str:
    more = f', ... ({len(keys)} in all)' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def state_dict_keys_mismatch(
        model: torch.nn.Module,
        state_dict: Mapping) -> Tuple[List[str], List[str]]:
    """(missing, unexpected) keys of ``state_dict`` for ``model``."""
    if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    expected = set(model.state_dict())
    given = {re.sub(r'^module\.', '', k) for k in state_dict}
    return sorted(expected - given), sorted(given - expected)


def state_dict_shape_mismatch(model: torch.nn.Module,
                              state_dict: Mapping) -> List[str]:
    """``key (checkpoint shape vs model shape)`` for every tensor of
    ``state_dict`` whose key the model has but whose shape differs."""
    if is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    expected = model.state_dict()
    out = []
    for key, value in state_dict.items():
        key = re.sub(r'^module\.', '', key)
        if key in expected and hasattr(value, 'shape') and tuple(
                value.shape) != tuple(expected[key].shape):
            out.append(f'{key} ({tuple(value.shape)} vs '
                       f'{tuple(expected[key].shape)})')
    return sorted(out)


def check_state_dict_keys(model: torch.nn.Module, state_dict: Mapping,
                          source: str) -> None:
    """Raise :class:`UserError` when the keys do not match the model.

    Args:
        model (nn.Module): the model to load into (wrappers unwrapped).
        state_dict (Mapping): the checkpoint's state dict.
        source (str): the checkpoint file, for the message.
    """
    missing, unexpected = state_dict_keys_mismatch(model, state_dict)
    shapes = state_dict_shape_mismatch(model, state_dict)
    if not missing and not unexpected and not shapes:
        return
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing ({_cut(missing)})')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected ({_cut(unexpected)})')
    if shapes:
        parts.append(f'{len(shapes)} of another shape ({_cut(shapes, 2)})')
    raise UserError(
        f'checkpoint {source} does not match the model of the config: '
        f'{"; ".join(parts)}. It is another model; pass '
        '--allow-mismatched-keys to load it anyway')


def init_model_checked(cfg,
                       checkpoint: str,
                       device: str = 'cpu',
                       strict: bool = True) -> torch.nn.Module:
    """mmseg's ``init_model`` with ``checkpoint``, then (``strict``) the
    checkpoint's keys and shapes checked against the model
    (:func:`check_state_dict_keys`; the file is read a second time,
    weights-only: ``init_model`` keeps nothing of what it loaded).

    Args:
        cfg (Config): the model's config.
        checkpoint (str): the checkpoint file.
        device (str): where the model goes. Defaults to ``'cpu'``.
        strict (bool): refuse a checkpoint of another model. Defaults to
            True.

    Returns:
        nn.Module: the segmentor with the checkpoint's weights.
    """
    from mmseg.apis import init_model

    from .loader import load_from_local_weights_only
    model = init_model(cfg, checkpoint, device=device)
    if strict:
        ckpt = load_from_local_weights_only(checkpoint, map_location='cpu')
        check_state_dict_keys(model, ckpt.get('state_dict', ckpt), checkpoint)
    return model
