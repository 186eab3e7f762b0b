"""HEMModule: the unrolled highway-EM unit as an ``nn.Module``.

A drop-in replacement of mmseg's ``EMAModule`` (same ``bases`` state-dict
entry, same momentum update of it) that runs
:func:`~.highway_em.unrolled_em` with the gradient flowing through every
iteration (HEMNet, https://arxiv.org/abs/2012.04926) or, with
``backprop_em=False``, under ``torch.no_grad()`` as EMANet does.

The module owns every EM setting: each is validated when it is set, at
construction or later (``module.step_size = 0.8``), by one checker per
setting; :class:`~hemnet_mmseg.models.HEMHead` reads and writes them through
the module.

Shapes: B batch, C channels, H x W pixels (N = H * W), K bases.
"""
import math
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.ema_head import EMAModule, reduce_mean
from torch import Tensor

from .highway_em import EPS, MIXINGS, EMResult, reconstruct, unrolled_em


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(ok: bool, name: str, allowed: str, value: Any) -> None:
    if not ok:
        raise ValueError(f'{name} must be {allowed}, got {value!r}')


def _positive_int(name: str, value: Any) -> int:
    _check(_is_int(value) and value >= 1, name, 'an int >= 1', value)
    return value


def _optional_positive_int(name: str, value: Any) -> Optional[int]:
    _check(value is None or (_is_int(value) and value >= 1), name,
           'None or an int >= 1', value)
    return value


def _step_size(name: str, value: Any) -> float:
    _check(_is_real(value) and 0 < value <= 1, name,
           'a number in (0, 1] (1 is plain EM)', value)
    return float(value)


def _momentum(name: str, value: Any) -> float:
    _check(_is_real(value) and 0 <= value <= 1, name, 'a number in [0, 1]',
           value)
    return float(value)


def _inv_temperature(name: str, value: Any) -> float:
    _check(_is_real(value) and 0 < value < math.inf, name,
           'a finite number > 0', value)
    return float(value)


def _bool(name: str, value: Any) -> bool:
    _check(isinstance(value, bool), name, 'True or False (a bool)', value)
    return value


def _mixing(name: str, value: Any) -> str:
    _check(value in MIXINGS, name, f'one of {MIXINGS}', value)
    return value


#: one checker per setting; each returns the value to store
CHECKERS: Dict[str, Callable[[str, Any], Any]] = dict(
    num_bases=_positive_int,
    num_stages=_positive_int,
    num_stages_eval=_optional_positive_int,
    momentum=_momentum,
    step_size=_step_size,
    inv_temperature=_inv_temperature,
    backprop_em=_bool,
    normalize_bases=_bool,
    highway_mixing=_mixing,
    learn_bases=_bool,
)


class EMSetting:
    """A data descriptor: an EM setting validated whenever it is set."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj, value) -> None:
        value = CHECKERS[self.name](self.name, value)
        if self.name == 'backprop_em' and not value and \
                obj.__dict__.get('learn_bases'):
            raise ValueError('backprop_em=False cannot train learned bases '
                             '(learn_bases=True): no gradient reaches them')
        obj.__dict__[self.name] = value


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
        inv_temperature (float): 1 / sigma^2 in the E-step, > 0.
            Defaults to 1.0.
        backprop_em (bool): backpropagate through the iterations (HEMNet);
            False runs them under ``no_grad`` (EMANet). Defaults to True.
        normalize_bases (bool): L2-normalise the bases after every step.
            Defaults to True.
        highway_mixing (str): with normalised bases, ``'unit'`` mixes unit
            vectors (eta is the step at any feature scale); ``'raw'`` mixes
            the raw M-step mean as the first build did (its step grows with
            ``||mu_hat||``). Defaults to ``'unit'``.
        learn_bases (bool): mu(0) is an ``nn.Parameter`` (used
            unit-normalised) trained by the gradient through the loop, with
            no momentum update; needs ``backprop_em``. Defaults to False.
    """

    #: the settings a head passes through and a run records
    SETTINGS: Tuple[str, ...] = ('num_stages', 'num_stages_eval', 'momentum',
                                 'step_size', 'inv_temperature',
                                 'backprop_em', 'normalize_bases',
                                 'highway_mixing', 'learn_bases')

    num_stages = EMSetting()
    num_stages_eval = EMSetting()
    momentum = EMSetting()
    step_size = EMSetting()
    inv_temperature = EMSetting()
    backprop_em = EMSetting()
    normalize_bases = EMSetting()
    highway_mixing = EMSetting()

    def __init__(self,
                 channels: int,
                 num_bases: int,
                 num_stages: int,
                 momentum: float = 0.1,
                 step_size: float = 0.5,
                 num_stages_eval: Optional[int] = None,
                 inv_temperature: float = 1.0,
                 backprop_em: bool = True,
                 normalize_bases: bool = True,
                 highway_mixing: str = 'unit',
                 learn_bases: bool = False) -> None:
        # fail before EMAModule draws or asserts anything
        for name, value in (('num_bases', num_bases),
                            ('num_stages', num_stages),
                            ('momentum', momentum),
                            ('learn_bases', learn_bases)):
            CHECKERS[name](name, value)
        if learn_bases and backprop_em is False:
            raise ValueError('learn_bases=True needs backprop_em=True: with '
                             'the no-grad loop no gradient reaches mu(0)')
        super().__init__(channels, num_bases, num_stages, momentum)
        self.__dict__['learn_bases'] = learn_bases
        self.step_size = step_size
        self.num_stages_eval = num_stages_eval
        self.inv_temperature = inv_temperature
        self.backprop_em = backprop_em
        self.normalize_bases = normalize_bases
        self.highway_mixing = highway_mixing
        if learn_bases:
            # same state-dict key: EMANet checkpoints still load strict
            bases = self.bases
            del self.bases
            self.bases = nn.Parameter(bases)

    @property
    def learn_bases(self) -> bool:
        """Whether mu(0) is a learned parameter (fixed at construction)."""
        return self.__dict__['learn_bases']

    def em_settings(self) -> Dict[str, Any]:
        """Every setting, resolved (what a run records)."""
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
        # fp16 cannot hold eps=1e-12 and overflows exp; bf16 loses the
        # softmax's precision: EM runs in float32 under any autocast
        with torch.autocast(device_type=feats.device.type, enabled=False):
            with torch.set_grad_enabled(self.backprop_em
                                        and torch.is_grad_enabled()):
                return unrolled_em(
                    feats.float(),
                    bases,
                    self.current_num_stages,
                    step_size=self.step_size,
                    inv_temperature=self.inv_temperature,
                    normalize_bases=self.normalize_bases,
                    mixing=self.highway_mixing,
                    return_history=return_history)

    def em_forward(self,
                   feats: Tensor,
                   bases: Optional[Tensor] = None,
                   return_history: bool = False
                   ) -> Tuple[Tensor, EMResult]:
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
        recon = recon.to(feats.dtype).view(batch_size, channels, height,
                                           width)
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
