"""HEMModule: the unrolled highway-EM unit as an ``nn.Module``.

A drop-in replacement of mmseg's ``EMAModule`` (same ``bases`` state-dict
entry, same momentum update of it) that runs T iterations of highway EM
(HEMNet, https://arxiv.org/abs/2012.04926) with the backward chosen by
``grad_mode`` (:mod:`~.grad_modes`): through every iteration (HEMNet, the
default), none (EMANet's ``no_grad`` loop), the last one only, or the
implicit gradient at the fixed point.

Its EM settings are one validated value, :attr:`HEMModule.settings` (an
:class:`~.em_settings.EMSettings`), read as attributes (``unit.step_size``)
and changed only through :meth:`HEMModule.configure`, which validates the
change; assigning a setting as an attribute is refused.

Shapes: B batch, C channels, H x W pixels (N = H * W), K bases.
"""
import dataclasses
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmseg.models.decode_heads.ema_head import EMAModule, reduce_mean
from torch import Tensor

from .em_settings import (SETTINGS, EMSettings, SettingError, _check, _is_int,
                          _is_real)
from .grad_modes import em_with_grad_mode
from .highway_em import EPS, EMResult, reconstruct


class HEMModule(EMAModule):
    """Highway Expectation Maximization unit.

    Args:
        channels (int): C, channels of the features.
        num_bases (int): K, number of bases (mixture components).
        num_stages (int): T, unrolled iterations in training.
        momentum (float): momentum of the ``bases`` buffer update, in
            [0, 1]. Defaults to 0.1.
        **settings: the other :class:`~.em_settings.EMSettings` (their
            defaults and ranges are there): ``num_stages_eval``,
            ``step_size``, ``inv_temperature``, ``grad_mode``,
            ``normalize_bases``, ``highway_mixing``, ``learn_bases``,
            ``implicit_iters``, ``implicit_tol``, ``em_backward``.
    """

    def __init__(self,
                 channels: int,
                 num_bases: int,
                 num_stages: int,
                 momentum: float = 0.1,
                 **settings: Any) -> None:
        # all checked before EMAModule draws or asserts anything
        _check(
            _is_int(num_bases) and num_bases >= 1, 'num_bases', 'an int >= 1',
            num_bases)
        _check(
            _is_real(momentum) and 0 <= momentum <= 1, 'momentum',
            'a number in [0, 1]', momentum)
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise SettingError(f'{unknown[0]} is not an EM setting (one of '
                               f'{SETTINGS})')
        em = EMSettings(num_stages=num_stages, **settings)
        super().__init__(channels, num_bases, num_stages, float(momentum))
        del self.num_stages  # EMAModule's copy: the settings hold T
        self.momentum = float(momentum)
        self.settings = em
        #: the last implicit backward's adjoint solve (:meth:`record_adjoint`)
        self.adjoint_stats: Dict[str, Any] = {}
        #: implicit backwards whose adjoint fell back to iterate 0 (this
        #: process)
        self.adjoint_fallbacks = 0
        if em.learn_bases:
            # same state-dict key: EMANet checkpoints still load strict
            bases = self.bases
            del self.bases
            self.bases = nn.Parameter(bases)

    def __getattr__(self, name: str) -> Any:
        settings = self.__dict__.get('settings')
        if settings is not None and name in SETTINGS:
            return getattr(settings, name)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SETTINGS and 'settings' in self.__dict__:
            raise AttributeError(
                f'{name} is an EM setting: change it with '
                f'unit.configure({name}=...), which validates it')
        if name == 'settings' and not isinstance(value, EMSettings):
            raise TypeError(f'settings must be an EMSettings, got '
                            f'{type(value).__name__}')
        super().__setattr__(name, value)

    def configure(self, **changes: Any) -> EMSettings:
        """Change EM settings (validated as at construction), e.g.
        ``unit.configure(step_size=0.2, num_stages=10)`` in analysis code.

        ``learn_bases`` cannot change: it decides whether mu(0) is a
        parameter or a buffer. The head's mid conv keeps the
        ``requires_grad`` it was built with.

        Returns:
            EMSettings: the settings before the change (``unit.settings =
            previous`` restores them).

        Raises:
            SettingError: a bad value, or a change of ``learn_bases``.
        """
        previous = self.settings
        new = dataclasses.replace(previous, **changes)
        if new.learn_bases != previous.learn_bases:
            raise SettingError('learn_bases cannot change on a built unit '
                               '(mu(0) is a parameter or a buffer); build a '
                               'new one')
        self.settings = new
        return previous

    def em_settings(self) -> Dict[str, Any]:
        """Every setting and the momentum (what a run records)."""
        return dict(dataclasses.asdict(self.settings), momentum=self.momentum)

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
    def current_num_stages(self) -> int:
        """T used by the next forward (training or evaluation)."""
        return self.settings.stages(self.training)

    def initial_bases(self) -> Tensor:
        """mu(0) in float32, (1, C, K): the momentum buffer as stored (as
        EMAHead uses it), or the learned parameter unit-normalised."""
        bases = self.bases.float()
        if self.settings.learn_bases:
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
            return em_with_grad_mode(
                feats.float(),
                bases,
                self.settings,
                self.current_num_stages,
                return_history=return_history,
                on_adjoint=self.record_adjoint)

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
        if self.training and not self.settings.learn_bases:
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
