"""``torch.compile`` of the EM loop, an option of the unit (``em_compile``).

The unrolled loop is about 50 small ops per iteration in the backward
(docs/analysis.md, "Cost"): on a GPU, launch-bound. Compiled, the loop of
:func:`~.grad_modes.em_with_grad_mode` traces as one graph (no graph
breaks, tested with a counting backend) for ``grad_mode`` ``'none'``,
``'unrolled'`` and ``'one_step'``, with either ``em_backward``. The
implicit gradient is not compiled: its adjoint solve is a data-dependent
loop that fills a statistics dict.

Recompilation: the graph is specialised on the Python arguments (T, eta,
beta, the switches) and on grad mode. Training (T, grad enabled) and
evaluation (``num_stages_eval``, ``no_grad``) are two graphs, each compiled
once; a later switch back reuses the cache. Changing ``step_size`` or T on
a live unit (as the analysis tools do) compiles again, and after torch's
``cache_size_limit`` (8) recompilations that call runs eagerly. Compile
time is measured by ``tools/analysis/benchmark.py`` (first call of each
graph).

Shapes: B batch, C channels, N pixels, K bases.
"""
from typing import Any, Callable, Dict, Tuple, Union

import torch

from .grad_modes import em_with_grad_mode

#: the ``torch.compile`` arguments ``em_compile`` may carry
COMPILE_KEYS = ('backend', 'mode', 'dynamic', 'fullgraph', 'options')

_COMPILED: Dict[Tuple, Callable] = {}


def check_em_compile(value: Any) -> Union[bool, dict]:
    """``em_compile``: a bool, or a dict of ``torch.compile`` arguments
    (keys in :data:`COMPILE_KEYS`).

    Raises:
        ValueError: naming the argument and what it accepts.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, dict) and set(value) <= set(COMPILE_KEYS):
        return dict(value)
    raise ValueError(f'em_compile must be True, False or a dict of '
                     f'torch.compile arguments {COMPILE_KEYS}, got {value!r}')


def compiled_em(options: Union[bool, dict]) -> Callable:
    """:func:`~.grad_modes.em_with_grad_mode` compiled with ``options``
    (one compiled function per distinct options, shared by every unit).

    Args:
        options (bool | dict): True for ``torch.compile``'s defaults, or
            its keyword arguments.

    Returns:
        callable: the same signature and results as
        :func:`~.grad_modes.em_with_grad_mode`: X (B, C, N), mu(0)
        (B|1, C, K) -> EMResult with mu(T) (B, C, K), Z(T) (B, N, K).
    """
    kwargs = {} if options is True else dict(options)
    key = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
    if key not in _COMPILED:
        _COMPILED[key] = torch.compile(em_with_grad_mode, **kwargs)
    return _COMPILED[key]
