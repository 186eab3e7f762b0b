"""Load genuine MMEngine checkpoints with torch's weights-only unpickler.

torch >= 2.6 loads with ``weights_only=True``. A checkpoint written by an
MMEngine 0.10.7 ``Runner`` pickles a few globals that torch does not allow by
default: ``mmengine.logging.HistoryBuffer`` (the message hub), numpy arrays,
scalars and dtypes (numpy 2 names, and numpy 1 names for files written with
numpy 1), and ``builtins.getattr`` (``HistoryBuffer._statistics_methods``
pickles ``HistoryBuffer.min`` and friends through it).

:func:`safe_globals` lists exactly those, narrowed where the
real object would open a hole:

* ``builtins.getattr``: the real one lets a crafted file walk to
  ``__globals__``; a narrowed getattr resolves only ``HistoryBuffer``'s
  statistics methods.
* ``numpy.dtype``: ``dtype.__setstate__`` accepts an object field with flags
  0, after which an array built from raw bytes makes numpy dereference
  attacker-chosen pointers (a segfault at best). A narrowed ``numpy.dtype``
  builds only the builtin numeric dtypes (bool, integers, floats, complex),
  whose ``__setstate__`` numpy ignores, and only the numeric ``numpy.dtypes``
  classes are allow-listed, so torch refuses to build ``VoidDType``,
  ``ObjectDType``, strings and dates (what structured, object and text
  dtypes pickle as).
* ``numpy.ndarray``: the real class, called directly
  (``ndarray((1,), 'O', b'AAAAAAAA')``), builds an object array from raw
  bytes, whatever ``numpy.dtype`` allows. The name resolves to
  :class:`CheckpointArray`, an ndarray subclass whose constructor and
  ``__setstate__`` refuse every dtype that is not a plain numeric one (no
  object, structured, sub-array or text dtype), and which pickles back as
  a plain ``numpy.ndarray``; ``_reconstruct`` is narrowed to build only it.

The allow-list is scoped, not global: :func:`checkpoint_globals` puts it in
force around the plugin's own ``torch.load``
(:func:`~.loader.load_from_local_weights_only`, which MMEngine calls for
every local checkpoint once ``hemnet_mmseg`` is imported), and any other
``torch.load`` of the process sees torch's default list. Weights-only
loading stays on for every file.
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


#: the dtype kinds a genuine checkpoint holds: bool, int, uint, float, complex
NUMERIC_KINDS = frozenset('biufc')


def checkpoint_dtype(obj: Any,
                     align: bool = False,
                     copy: bool = False) -> np.dtype:
    """``numpy.dtype`` narrowed to builtin numeric dtypes.

    Registered as ``numpy.dtype`` in torch's weights-only allow-list. Returns
    numpy's shared builtin instance (``copy`` is ignored), whose
    ``__setstate__`` numpy treats as a no-op, so the state a pickle applies
    next cannot add fields or flags to it.

    Raises:
        UnsafeCheckpointError: for anything but a type string of a builtin
            bool, integer, float or complex dtype.
    """
    dtype = None
    if isinstance(obj, str) and not align:
        try:
            dtype = np.dtype(obj)
        except TypeError:
            dtype = None
    if dtype is None or dtype.kind not in NUMERIC_KINDS \
            or dtype.isbuiltin != 1:
        raise UnsafeCheckpointError(
            f'refused numpy dtype {obj!r} while loading a checkpoint: '
            'hemnet_mmseg allows only builtin numeric dtypes (bool, int, '
            'uint, float, complex). The file is not a genuine MMEngine '
            'checkpoint; it was not loaded.')
    return dtype


def check_array_dtype(dtype: Any) -> np.dtype:
    """The dtype of an array a checkpoint builds, if it is plain numeric.

    Raises:
        UnsafeCheckpointError: an object, structured, sub-array, text or
            date dtype (anything but bool, int, uint, float, complex).
    """
    try:
        resolved = np.dtype(dtype)
    except (TypeError, ValueError):
        resolved = None
    if resolved is None or resolved.hasobject or resolved.fields is not None \
            or resolved.subdtype is not None \
            or resolved.kind not in NUMERIC_KINDS:
        raise UnsafeCheckpointError(
            f'refused numpy array of dtype {dtype!r} while loading a '
            'checkpoint: hemnet_mmseg allows only arrays of numeric dtypes '
            '(bool, int, uint, float, complex). The file is not a genuine '
            'MMEngine checkpoint; it was not loaded.')
    return resolved


class CheckpointArray(np.ndarray):
    """``numpy.ndarray`` as a checkpoint may build it: numeric dtypes only.

    Registered as ``numpy.ndarray`` in torch's weights-only allow-list. It
    behaves as an ndarray, and pickles as a plain ``numpy.ndarray``, so a
    checkpoint saved again (a resumed run) holds no name of this module.
    """

    def __new__(cls,
                shape,
                dtype=float,
                buffer=None,
                offset=0,
                strides=None,
                order=None):
        check_array_dtype(dtype)
        return super().__new__(cls, shape, dtype, buffer, offset, strides,
                               order)

    def __setstate__(self, state) -> None:
        # (version, shape, dtype, is_fortran, rawdata) or without version
        dtype = state[2] if len(state) == 5 else state[1]
        check_array_dtype(dtype)
        super().__setstate__(state)

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def checkpoint_reconstruct(subtype: Any, shape: Any,
                           dtype: Any) -> CheckpointArray:
    """``numpy._core.multiarray._reconstruct`` narrowed to
    :class:`CheckpointArray` of a numeric dtype (the array's real dtype and
    data arrive next, through its checked ``__setstate__``).

    Raises:
        UnsafeCheckpointError: another class or a non-numeric dtype.
    """
    if subtype is not CheckpointArray:
        raise UnsafeCheckpointError(
            f'refused numpy _reconstruct of {subtype!r} while loading a '
            'checkpoint: hemnet_mmseg allows only numpy.ndarray. The file is '
            'not a genuine MMEngine checkpoint; it was not loaded.')
    return CheckpointArray(shape, dtype)


def numeric_dtype_classes() -> List[type]:
    """The ``numpy.dtypes`` classes of the numeric kinds."""
    classes = []
    for name in sorted(dir(np.dtypes)):
        cls = getattr(np.dtypes, name)
        if not (isinstance(cls, type) and issubclass(cls, np.dtype)):
            continue
        scalar = getattr(cls, 'type', None)
        try:
            kind = np.dtype(scalar).kind
        except TypeError:
            continue
        if kind in NUMERIC_KINDS:
            classes.append(cls)
    return classes


#: what a numpy scalar pickles through (``numpy._core.multiarray.scalar``
#: in numpy 2), found by its public pickle protocol, not a private import
NUMPY_SCALAR = np.float64(0.0).__reduce__()[0]


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """numpy objects in checkpoints, under numpy 2 and numpy 1 names (the
    names are those the pickle stream holds)."""
    items: List[Union[Callable, Tuple[Callable, str]]] = [
        (CheckpointArray, 'numpy.ndarray'),
        (checkpoint_dtype, 'numpy.dtype'),
        (checkpoint_reconstruct, 'numpy._core.multiarray._reconstruct'),
        (NUMPY_SCALAR, 'numpy._core.multiarray.scalar'),
        # files written with numpy 1
        (checkpoint_reconstruct, 'numpy.core.multiarray._reconstruct'),
        (NUMPY_SCALAR, 'numpy.core.multiarray.scalar'),
    ]
    for cls in numeric_dtype_classes():
        items.append((cls, f'numpy.dtypes.{cls.__name__}'))
    return items


def safe_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Everything a genuine MMEngine checkpoint needs allow-listed."""
    return [
        HistoryBuffer,
        (checkpoint_getattr, 'builtins.getattr'),
    ] + _numpy_globals()


def checkpoint_globals():
    """``torch.serialization.safe_globals`` with :func:`safe_globals`: the
    allow-list in force inside a ``with`` block only (the plugin's loader
    uses it; so can a caller's own ``torch.load(..., weights_only=True)``).
    """
    return torch.serialization.safe_globals(safe_globals())
