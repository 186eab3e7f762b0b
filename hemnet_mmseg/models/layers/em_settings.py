"""EMSettings: every setting of the unrolled highway EM, as one value.

A frozen dataclass, validated when it is made (so also by
``dataclasses.replace``): a :class:`~.hem_module.HEMModule` holds one, a
head passes its keyword arguments through to it, the run record writes it
(``dataclasses.asdict``), and the plain functions of :mod:`.grad_modes` take
it. A bad value raises :class:`SettingError` naming the setting and what it
accepts; the command-line tools print it as one line. The math behind each
setting: ``docs/method.md``.
"""
import dataclasses
import math
from typing import Any, Optional

from ...utils.errors import UserError

#: the N-step's mixing with unit-norm bases (``docs/method.md``)
MIXINGS = ('unit', 'raw')
#: the backward through the unrolled EM (:mod:`.grad_modes`)
GRAD_MODES = ('none', 'unrolled', 'one_step', 'implicit')
#: how the unrolled and one-step backwards are computed
EM_BACKWARDS = ('analytic', 'autograd')
#: the largest T: beyond, memory (unrolled) or time grows without purpose
MAX_STAGES = 1000
#: the largest beta: beta * x . mu must stay far from float32's 3.4e38 for
#: any feature scale a head reaches (|x . mu| up to about 1e4)
MAX_INV_TEMPERATURE = 1e6
#: the most adjoint iterations of the implicit gradient
MAX_IMPLICIT_ITERS = 10000


class SettingError(UserError, ValueError):
    """An EM setting outside what it accepts (a ``ValueError``, and a
    :class:`~hemnet_mmseg.utils.errors.UserError`: one line from the
    tools)."""


def _check(ok: bool, name: str, allowed: str, value: Any) -> None:
    if not ok:
        raise SettingError(f'{name} must be {allowed}, got {value!r}')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class EMSettings:
    """The settings of one EM unit (defaults: HEMNet's highway at eta 0.5).

    Args:
        num_stages (int): T, unrolled iterations in training, in [1, 1000].
        num_stages_eval (int, optional): T in evaluation, in [1, 1000];
            None means ``num_stages``. Defaults to None.
        step_size (float): highway N-step size eta in (0, 1]; 1 is plain
            EM. Defaults to 0.5.
        inv_temperature (float): beta = 1 / sigma^2 of the E-step, in
            (0, 1e6]. Defaults to 1.0.
        grad_mode (str): the backward through the loop: ``'unrolled'``
            (HEMNet), ``'none'`` (EMANet), ``'one_step'`` or ``'implicit'``
            (:mod:`.grad_modes`). Defaults to ``'unrolled'``.
        normalize_bases (bool): L2-normalise the bases after every step.
            Defaults to True.
        highway_mixing (str): with normalised bases, ``'unit'`` mixes unit
            vectors, ``'raw'`` the raw M-step mean (the first build).
            Defaults to ``'unit'``.
        learn_bases (bool): mu(0) is a parameter trained through the loop
            (needs ``grad_mode='unrolled'``). Defaults to False.
        implicit_iters (int): adjoint iterations at most (``'implicit'``),
            in [1, 10000]. Defaults to 10.
        implicit_tol (float): relative tolerance of the adjoint, in [0, 1]
            (``'implicit'``). Defaults to 1e-4.
        em_backward (str): ``'analytic'`` (the hand-written backward of
            :mod:`.analytic_em`, the same gradient, no second derivative)
            or ``'autograd'`` (backpropagation through the plain
            functions); used by ``'unrolled'`` and ``'one_step'``. Defaults
            to ``'analytic'``.
    """
    num_stages: int
    num_stages_eval: Optional[int] = None
    step_size: float = 0.5
    inv_temperature: float = 1.0
    grad_mode: str = 'unrolled'
    normalize_bases: bool = True
    highway_mixing: str = 'unit'
    learn_bases: bool = False
    implicit_iters: int = 10
    implicit_tol: float = 1e-4
    em_backward: str = 'analytic'

    def __post_init__(self) -> None:
        for name in ('num_stages', 'num_stages_eval'):
            value = getattr(self, name)
            _check((value is None and name == 'num_stages_eval')
                   or (_is_int(value) and 1 <= value <= MAX_STAGES), name,
                   f'an int in [1, {MAX_STAGES}]' +
                   (' or None' if name == 'num_stages_eval' else ''), value)
        for name, low, high, open_low in (
            ('step_size', 0, 1, True),
            ('inv_temperature', 0, MAX_INV_TEMPERATURE, True),
            ('implicit_tol', 0, 1, False),
        ):
            value = getattr(self, name)
            _check(
                _is_real(value) and math.isfinite(value) and value <= high
                and (value > low if open_low else value >= low), name,
                f'a number in {"(" if open_low else "["}{low:g}, {high:g}]',
                value)
            object.__setattr__(self, name, float(value))
        for name, choices in (('grad_mode', GRAD_MODES),
                              ('highway_mixing', MIXINGS), ('em_backward',
                                                            EM_BACKWARDS)):
            value = getattr(self, name)
            _check(
                isinstance(value, str) and value in choices, name,
                f'one of {choices}', value)
        for name in ('normalize_bases', 'learn_bases'):
            _check(
                isinstance(getattr(self, name), bool), name,
                'True or False (a bool)', getattr(self, name))
        _check(
            _is_int(self.implicit_iters)
            and 1 <= self.implicit_iters <= MAX_IMPLICIT_ITERS,
            'implicit_iters', f'an int in [1, {MAX_IMPLICIT_ITERS}]',
            self.implicit_iters)
        if self.learn_bases and self.grad_mode != 'unrolled':
            raise SettingError(
                f'learn_bases=True needs grad_mode=\'unrolled\': with '
                f'grad_mode={self.grad_mode!r} no gradient reaches mu(0)')

    @property
    def iteration(self) -> dict:
        """The keyword arguments of one iteration F
        (:func:`~.highway_em.em_iteration`)."""
        return dict(
            step_size=self.step_size,
            inv_temperature=self.inv_temperature,
            normalize_bases=self.normalize_bases,
            mixing=self.highway_mixing)

    def stages(self, training: bool) -> int:
        """T of a forward in training or in evaluation."""
        if training or self.num_stages_eval is None:
            return self.num_stages
        return self.num_stages_eval


#: the settings' names, in the order of the docs
SETTINGS = tuple(f.name for f in dataclasses.fields(EMSettings))


def resolve_grad_mode(grad_mode: Optional[str],
                      backprop_em: Optional[bool]) -> str:
    """``grad_mode``, with the deprecated ``backprop_em`` as its alias:
    True is a gradient through the loop (``'unrolled'`` unless
    ``grad_mode`` names another), False is ``'none'``.

    Raises:
        SettingError: a value of the wrong kind, or the two disagree.
    """
    if backprop_em is not None:
        _check(
            isinstance(backprop_em, bool), 'backprop_em',
            'True or False (a bool)', backprop_em)
    if grad_mode is None:
        return 'unrolled' if backprop_em in (None, True) else 'none'
    _check(grad_mode in GRAD_MODES, 'grad_mode', f'one of {GRAD_MODES}',
           grad_mode)
    if backprop_em is not None and backprop_em != (grad_mode != 'none'):
        raise SettingError(f'backprop_em={backprop_em} contradicts '
                           f'grad_mode={grad_mode!r}; set grad_mode alone '
                           '(backprop_em is deprecated)')
    return grad_mode
