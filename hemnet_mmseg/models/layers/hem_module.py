"""HEMModule: the unrolled highway-EM unit as an ``nn.Module``.

A drop-in replacement of mmseg's ``EMAModule`` (same ``bases`` state-dict
entry, same momentum update of it) that runs T iterations of highway EM
(HEMNet, https://arxiv.org/abs/2012.04926) with the backward chosen by
``grad_mode`` (:mod:`~.grad_modes`): through every iteration (HEMNet, the
default), none (EMANet's ``no_grad`` loop), the last one only, or the
implicit gradient at the fixed point.

The module owns every EM setting: each is validated once, at construction,
and stored as a plain attribute (analysis code may set
``head.ema_module.step_size`` afterwards; it is read at the next forward).

Shapes: B batch, C channels, H x W pixels (N = H * W), K bases.
"""
import math
from typing import Any, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.models.decode_heads.ema_head import EMAModule, reduce_mean
from torch import Tensor

from .compiled_em import check_em_compile, compiled_em
from .grad_modes import (EM_BACKWARDS, GRAD_MODES, MODES_REACHING_BASES,
                         em_with_grad_mode)
from .highway_em import EPS, MIXINGS, EMResult, reconstruct
from .matmul_precision import cuda_matmul_precision

#: the largest beta accepted: beta * x . mu must stay far from float32's
#: 3.4e38 for any feature scale a head reaches (|x . mu| up to about 1e4)
MAX_INV_TEMPERATURE = 1e6
#: the most adjoint iterations of the implicit gradient
MAX_IMPLICIT_ITERS = 1000


def _check(ok: bool, name: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ValueError(f'{name} must be {allowed}, got {value!r}')


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(name: str,
              value: Any,
              low: int = 1,
              high: Optional[int] = None,
              optional: bool = False) -> Any:
    """An int in [low, high] (or None where ``optional``)."""
    if optional and value is None:
        return None
    ok = _is_int(value) and value >= low and (high is None or value <= high)
    allowed = f'an int >= {low}' if high is None else \
        f'an int in [{low}, {high}]'
    _check(ok, name, f'None or {allowed}' if optional else allowed, value)
    return value


def check_real(name: str,
               value: Any,
               low: float,
               high: float,
               low_open: bool = False) -> float:
    """A finite number in [low, high] ((low, high] where ``low_open``)."""
    ok = _is_real(value) and math.isfinite(value) and value <= high and (
        value > low if low_open else value >= low)
    _check(ok, name, f'a number in {"(" if low_open else "["}{low:g}, '
           f'{high:g}]', value)
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    _check(isinstance(value, bool), name, 'True or False (a bool)', value)
    return value


def check_choice(name: str, value: Any, choices: Tuple[str, ...]) -> str:
    _check(value in choices, name, f'one of {choices}', value)
    return value


def resolve_grad_mode(grad_mode: Optional[str],
                      backprop_em: Optional[bool]) -> str:
    """``grad_mode``, with ``backprop_em`` as its older alias.

    ``backprop_em=True`` means a gradient through the loop (any mode but
    ``'none'``; alone, ``'unrolled'``); ``False`` means ``'none'``.

    Raises:
        ValueError: a value of the wrong kind, or the two disagree.
    """
    if backprop_em is not None:
        check_bool('backprop_em', backprop_em)
    if grad_mode is None:
        return 'unrolled' if backprop_em in (None, True) else 'none'
    check_choice('grad_mode', grad_mode, GRAD_MODES)
    if backprop_em is not None and backprop_em != (grad_mode != 'none'):
        raise ValueError(f'backprop_em={backprop_em} contradicts '
                         f'grad_mode={grad_mode!r}; set grad_mode alone')
    return grad_mode


class HEMModule(EMAModule):
    """Highway Expectation Maximization unit.

    Args:
        channels (int): C, channels of the features.
        num_bases (int): K, number of bases (mixture components).
        num_stages (int): T, unrolled iterations in training.
        momentum (float): momentum of the ``bases`` buffer update, in
            [0, 1]. Defaults to 0.1.
        step_size (float): highway N-step size eta in (0, 1]; 1 is plain EM.
            Defaults to 0.5.
        num_stages_eval (int, optional): T in evaluation; None means
            ``num_stages``. Defaults to None.
        inv_temperature (float): beta = 1 / sigma^2 in the E-step, in
            (0, 1e6]. Defaults to 1.0.
        grad_mode (str, optional): the backward through the EM loop, one of
            ``'none'`` (EMANet), ``'unrolled'`` (HEMNet), ``'one_step'``,
            ``'implicit'`` (:mod:`~.grad_modes`). None: from
            ``backprop_em``. Defaults to None (``'unrolled'``).
        backprop_em (bool, optional): the older switch, an alias: True is a
            gradient through the loop (``'unrolled'`` unless ``grad_mode``
            names another), False is ``'none'``. Defaults to None.
        normalize_bases (bool): L2-normalise the bases after every step.
            Defaults to True.
        highway_mixing (str): with normalised bases, ``'unit'`` mixes unit
            vectors (eta is the step at any feature scale); ``'raw'`` mixes
            the raw M-step mean as the first build did (its step grows with
            ``||mu_hat||``). Defaults to ``'unit'``.
        learn_bases (bool): mu(0) is an ``nn.Parameter`` (used
            unit-normalised) trained by the gradient through the loop, with
            no momentum update; needs ``grad_mode='unrolled'``. Defaults to
            False.
        implicit_iters (int): adjoint iterations at most, in [1, 1000]
            (``'implicit'``). Defaults to 10.
        implicit_tol (float): relative tolerance of the adjoint, in [0, 1]
            (``'implicit'``). Defaults to 1e-4.
        em_backward (str): ``'analytic'`` (the hand-written backward of
            :mod:`~.analytic_em`: 19 ops per iteration against autograd's
            ~50, the same gradient up to float32 round-off) or
            ``'autograd'`` (backpropagation through the plain functions,
            the reference); used by ``'unrolled'`` and ``'one_step'``.
            Defaults to ``'analytic'``.
        em_compile (bool | dict): run the EM loop through ``torch.compile``
            (:mod:`~.compiled_em`): True, or a dict of its arguments
            (``backend``, ``mode``, ...); not with ``'implicit'``. Off by
            default: the first call of each graph compiles (tens of seconds
            on a CPU). Defaults to False.
        em_tf32 (bool): on CUDA, the EM loop's float32 matmuls in TF32,
            forward and backward (:mod:`~.matmul_precision`); needs
            ``em_backward='analytic'`` where a gradient goes through the
            loop, and neither ``'implicit'`` nor ``em_compile``. No effect
            on a CPU. Defaults to False.
    """

    #: the settings a head passes through and a run records
    SETTINGS: Tuple[str,
                    ...] = ('num_stages', 'num_stages_eval', 'momentum',
                            'step_size', 'inv_temperature', 'grad_mode',
                            'backprop_em', 'normalize_bases', 'highway_mixing',
                            'learn_bases', 'implicit_iters', 'implicit_tol',
                            'em_backward', 'em_compile', 'em_tf32')

    def __init__(self,
                 channels: int,
                 num_bases: int,
                 num_stages: int,
                 momentum: float = 0.1,
                 step_size: float = 0.5,
                 num_stages_eval: Optional[int] = None,
                 inv_temperature: float = 1.0,
                 grad_mode: Optional[str] = None,
                 backprop_em: Optional[bool] = None,
                 normalize_bases: bool = True,
                 highway_mixing: str = 'unit',
                 learn_bases: bool = False,
                 implicit_iters: int = 10,
                 implicit_tol: float = 1e-4,
                 em_backward: str = 'analytic',
                 em_compile: Union[bool, dict] = False,
                 em_tf32: bool = False) -> None:
        # all checked before EMAModule draws or asserts anything
        check_int('num_bases', num_bases)
        check_int('num_stages', num_stages)
        momentum = check_real('momentum', momentum, 0, 1)
        step_size = check_real('step_size', step_size, 0, 1, low_open=True)
        check_int('num_stages_eval', num_stages_eval, optional=True)
        inv_temperature = check_real(
            'inv_temperature',
            inv_temperature,
            0,
            MAX_INV_TEMPERATURE,
            low_open=True)
        grad_mode = resolve_grad_mode(grad_mode, backprop_em)
        check_bool('normalize_bases', normalize_bases)
        check_choice('highway_mixing', highway_mixing, MIXINGS)
        check_bool('learn_bases', learn_bases)
        check_int('implicit_iters', implicit_iters, 1, MAX_IMPLICIT_ITERS)
        implicit_tol = check_real('implicit_tol', implicit_tol, 0, 1)
        check_choice('em_backward', em_backward, EM_BACKWARDS)
        em_compile = check_em_compile(em_compile)
        check_bool('em_tf32', em_tf32)
        if em_compile and grad_mode == 'implicit':
            raise ValueError('em_compile does not compile grad_mode='
                             "'implicit' (a data-dependent adjoint loop); "
                             'set em_compile=False')
        if em_tf32 and (grad_mode == 'implicit' or em_compile or
                        (grad_mode != 'none' and em_backward != 'analytic')):
            raise ValueError(
                'em_tf32=True needs em_backward=\'analytic\' (the autograd '
                'backward runs outside the TF32 scope), or grad_mode='
                '\'none\'; not with grad_mode=\'implicit\' or em_compile')
        if learn_bases and grad_mode not in MODES_REACHING_BASES:
            raise ValueError(
                f'learn_bases=True needs grad_mode=\'unrolled\': with '
                f'grad_mode={grad_mode!r} no gradient reaches mu(0)')
        super().__init__(channels, num_bases, num_stages, momentum)
        self.momentum = momentum
        self.step_size = step_size
        self.num_stages_eval = num_stages_eval
        self.inv_temperature = inv_temperature
        self.grad_mode = grad_mode
        self.normalize_bases = normalize_bases
        self.highway_mixing = highway_mixing
        self.learn_bases = learn_bases
        self.implicit_iters = implicit_iters
        self.implicit_tol = implicit_tol
        self.em_backward = em_backward
        self.em_compile = em_compile
        self.em_tf32 = em_tf32
        #: the last implicit backward's adjoint solve (:meth:`record_adjoint`)
        self.adjoint_stats: Dict[str, Any] = {}
        #: implicit backwards whose adjoint fell back to iterate 0 (this
        #: process)
        self.adjoint_fallbacks = 0
        if learn_bases:
            # same state-dict key: EMANet checkpoints still load strict
            bases = self.bases
            del self.bases
            self.bases = nn.Parameter(bases)

    def record_adjoint(self, stats: Dict[str, float]) -> None:
        """Keep the latest implicit backward's adjoint statistics
        (:func:`~.grad_modes.implicit_fixed_point`), with ``fallbacks``, the
        count of backwards that fell back to iterate 0, in
        :attr:`adjoint_stats`, and log them through MMEngine's message hub
        as ``train/adjoint_<key>`` (the console line and ``scalars.json``).
        """
        self.adjoint_fallbacks += int(stats['fallback'])
        self.adjoint_stats.clear()
        self.adjoint_stats.update(stats, fallbacks=self.adjoint_fallbacks)
        hub = MessageHub.get_current_instance()
        for key, value in self.adjoint_stats.items():
            hub.update_scalar(f'train/adjoint_{key}', value)

    @property
    def backprop_em(self) -> bool:
        """Whether any gradient flows through the loop (``grad_mode`` is not
        ``'none'``); the older name of the switch."""
        return self.grad_mode != 'none'

    def em_settings(self) -> Dict[str, Any]:
        """Every setting (what a run records)."""
        return {name: getattr(self, name) for name in self.SETTINGS}

    @property
    def current_num_stages(self) -> int:
        """T used by the next forward (training or evaluation)."""
        if self.training or self.num_stages_eval is None:
            return self.num_stages
        return self.num_stages_eval

    def initial_bases(self) -> Tensor:
        """mu(0) in float32, (1, C, K): the momentum buffer as stored (as
        EMAHead uses it), or the learned parameter unit-normalised."""
        bases = self.bases.float()
        if self.learn_bases:
            bases = F.normalize(bases, p=2, dim=1, eps=EPS)
        return bases

    def run_em(self,
               feats: Tensor,
               bases: Optional[Tensor] = None,
               return_history: bool = False) -> EMResult:
        """Run the unrolled EM in float32.

        Args:
            feats (Tensor): X, (B, C, N), any float dtype.
            bases (Tensor, optional): mu(0), (1|B, C, K); defaults to
                :meth:`initial_bases`.
            return_history (bool): keep every mu(t) and Z(t).

        Returns:
            EMResult: float32 tensors, mu (B, C, K) and Z (B, N, K).
        """
        if bases is None:
            bases = self.initial_bases()
        options = dict(
            grad_mode=self.grad_mode,
            step_size=self.step_size,
            inv_temperature=self.inv_temperature,
            normalize_bases=self.normalize_bases,
            mixing=self.highway_mixing,
            em_backward=self.em_backward)
        if self.grad_mode == 'implicit':
            options.update(
                implicit_iters=self.implicit_iters,
                implicit_tol=self.implicit_tol,
                on_adjoint=self.record_adjoint)
        em = em_with_grad_mode
        if return_history:
            options.update(return_history=True)  # analysis: eager
        elif self.em_compile and self.grad_mode != 'implicit':
            em = compiled_em(self.em_compile)
        tf32 = 'tf32' if self.em_tf32 and feats.is_cuda else None
        # fp16 cannot hold eps=1e-12 and overflows exp; bf16 loses the
        # softmax's precision: EM runs in float32 under any autocast
        with torch.autocast(device_type=feats.device.type, enabled=False), \
                cuda_matmul_precision(tf32):
            return em(feats.float(), bases, self.current_num_stages, **options)

    def em_forward(self,
                   feats: Tensor,
                   bases: Optional[Tensor] = None,
                   return_history: bool = False) -> Tuple[Tensor, EMResult]:
        """The unit without the momentum update.

        Args:
            feats (Tensor): X, (B, C, H, W).
            bases (Tensor, optional): mu(0), (1|B, C, K).
            return_history (bool): keep every mu(t) and Z(t).

        Returns:
            tuple: the reconstruction (B, C, H, W) in ``feats``' dtype, and
            the :class:`EMResult` (float32).
        """
        batch_size, channels, height, width = feats.shape
        # (B, C, N)
        flat = feats.reshape(batch_size, channels, height * width)
        result = self.run_em(flat, bases, return_history)
        with torch.autocast(device_type=feats.device.type, enabled=False):
            # (B, C, K) @ (B, K, N) -> (B, C, N)
            recon = reconstruct(result.bases, result.resp)
        recon = recon.to(feats.dtype).view(batch_size, channels, height, width)
        return recon, result

    def forward(self, feats: Tensor) -> Tensor:
        """Reconstruct the features from the converged bases.

        Args:
            feats (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W), same dtype as ``feats``.
        """
        recon, result = self.em_forward(feats)
        if self.training and not self.learn_bases:
            self.update_bases(result.bases)
        return recon

    @torch.no_grad()
    def update_bases(self, bases: Tensor) -> None:
        """EMAHead's momentum update of mu(0), from the detached mu(T).

        ``mu(0) <- (1 - m) mu(0) + m * l2norm(rank-mean of batch-mean mu(T))``
        (not re-normalised afterwards, exactly as EMAHead). A base whose
        update is not finite (a NaN or Inf pixel in the batch, an fp16
        overflow) keeps its previous value, decided on the device (a
        ``torch.where``, no host sync); EMAHead would store the NaN and
        return NaN for every later input.

        Args:
            bases (Tensor): mu(T), (B, C, K).
        """
        # (1, C, K)
        mean = bases.detach().mean(dim=0, keepdim=True)
        mean = reduce_mean(mean)
        mean = F.normalize(mean, dim=1, p=2, eps=EPS)
        new = ((1 - self.momentum) * self.bases +
               self.momentum * mean.to(self.bases.dtype))
        # (1, 1, K): keep whole bases, so each stays a mix of unit vectors
        finite = torch.isfinite(new).all(dim=1, keepdim=True)
        self.bases = torch.where(finite, new, self.bases)
