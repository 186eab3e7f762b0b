"""Load genuine MMEngine checkpoints with torch's weights-only unpickler.

torch >= 2.6 loads with ``weights_only=True``. A checkpoint written by an
MMEngine 0.10.7 ``Runner`` pickles a few globals that torch does not allow by
default: ``mmengine.logging.HistoryBuffer`` (the message hub), numpy arrays,
scalars and dtypes (numpy 2 names, and numpy 1 names for files written with
numpy 1), and ``builtins.getattr`` (``HistoryBuffer._statistics_methods``
pickles ``HistoryBuffer.min`` and friends through it).

:func:`register_safe_globals` allow-lists exactly those. It never allow-lists
the real ``getattr``, from which a crafted file could walk to ``__globals__``:
a narrowed getattr is registered under the name ``builtins.getattr`` that
resolves only ``HistoryBuffer``'s statistics methods and refuses anything
else. Weights-only loading stays on for every file.
"""
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

#: the attributes a genuine checkpoint resolves through ``getattr``
ALLOWED_GETATTR = {
    HistoryBuffer: frozenset({'min', 'max', 'mean', 'current'}),
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asked for something a genuine checkpoint never needs."""


def checkpoint_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` narrowed to what MMEngine checkpoints need.

    Registered as ``builtins.getattr`` in torch's weights-only allow-list.

    Raises:
        UnsafeCheckpointError: for any (object, name) pair other than
            ``HistoryBuffer``'s statistics methods.
    """
    allowed = ALLOWED_GETATTR.get(obj) if isinstance(obj, type) else None
    if default or not isinstance(name, str) or allowed is None \
            or name not in allowed:
        raise UnsafeCheckpointError(
            f'refused getattr({getattr(obj, "__name__", type(obj).__name__)}'
            f', {name!r}) while loading a checkpoint: hemnet_mmseg allows '
            'getattr only on mmengine HistoryBuffer statistics methods. The '
            'file is not a genuine MMEngine checkpoint; it was not loaded.')
    return getattr(obj, name)


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """numpy objects in checkpoints, under numpy 2 and numpy 1 names."""
    from numpy._core import multiarray
    items: List[Union[Callable, Tuple[Callable, str]]] = [
        np.ndarray,
        np.dtype,
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
        # files written with numpy 1
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
    ]
    for name in dir(np.dtypes):
        cls = getattr(np.dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            items.append((cls, f'numpy.dtypes.{name}'))
    return items


def safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Everything :func:`register_safe_globals` allow-lists."""
    return [
        HistoryBuffer,
        (checkpoint_getattr, 'builtins.getattr'),
    ] + _numpy_globals()


def register_safe_globals() -> None:
    """Allow-list the globals of genuine MMEngine checkpoints (idempotent).

    Weights-only loading stays on; nothing is switched off globally.
    """
    torch.serialization.add_safe_globals(safe_globals())
