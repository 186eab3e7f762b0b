"""HEMHead: the HEMNet decode head for MMSegmentation 1.x.

Highway Expectation Maximization Networks (Song, Kim, Shim, AAAI 2021,
https://arxiv.org/abs/2012.04926) on top of EMANet's head (Li et al.,
ICCV 2019, https://arxiv.org/abs/1907.13426; mmseg's ``EMAHead``).

The head keeps ``EMAHead``'s layers, parameter and buffer names, so an EMANet
checkpoint loads into it with ``strict=True``; it swaps the EM unit for
:class:`~hemnet_mmseg.models.layers.HEMModule` and, when the gradient flows
through the EM loop, trains the mid conv that EMAHead freezes.

Shapes: B batch, C_in input channels, C = ``ema_channels``, H x W the
feature map, K = ``num_bases``, num_classes output logits.
"""
import warnings
from typing import Optional

import torch
from mmseg.models.decode_heads.ema_head import EMAHead
from mmseg.registry import MODELS

from ..layers.em_settings import SETTINGS, SettingError, resolve_grad_mode
from ..layers.hem_module import HEMModule

#: settings that existed and went, with what to use instead
RETIRED = dict(
    em_compile="MMEngine's compile=True compiles the whole model "
    '(docs/analysis.md, "Compile")',
    em_tf32='no replacement; it returns with a GPU measurement')


@MODELS.register_module()
class HEMHead(EMAHead):
    """Highway EM attention head (HEMNet).

    ``forward`` is EMAHead's; only the EM unit differs. With
    ``step_size=1, grad_mode='none'`` it computes exactly what ``EMAHead``
    computes.

    The EM settings belong to the unit, ``self.ema_module``
    (:class:`~hemnet_mmseg.models.layers.HEMModule`), as one validated
    :class:`~hemnet_mmseg.models.layers.EMSettings`; the head keeps no copy
    of its own (``EMAHead``'s ``num_stages`` and ``momentum`` attributes are
    what was passed at construction). Each setting, its default and what it
    is for: ``docs/method.md``.

    Args:
        ema_channels (int): C, channels of the EM unit.
        num_bases (int): K, number of bases.
        num_stages (int): T, unrolled EM iterations in training.
        concat_input (bool): concatenate the input before the classifier.
            Defaults to True.
        momentum (float): momentum of the bases update. Defaults to 0.1.
        backprop_em (bool, optional): deprecated alias of ``grad_mode``
            (True: a gradient through the loop, ``'unrolled'`` unless
            ``grad_mode`` names another; False: ``'none'``); warns.
            Defaults to None.
        **kwargs: the EM settings (``step_size``, ``num_stages_eval``,
            ``inv_temperature``, ``grad_mode``, ``normalize_bases``,
            ``highway_mixing``, ``learn_bases``, ``implicit_iters``,
            ``implicit_tol``, ``em_backward``); the rest go to
            ``BaseDecodeHead`` (in_channels, channels, num_classes,
            norm_cfg, ...).
    """

    def __init__(self,
                 ema_channels: int,
                 num_bases: int,
                 num_stages: int,
                 concat_input: bool = True,
                 momentum: float = 0.1,
                 backprop_em: Optional[bool] = None,
                 **kwargs) -> None:
        for name, instead in RETIRED.items():
            if name in kwargs:
                raise SettingError(f'{name} was retired (issue 33): {instead}')
        settings = {k: kwargs.pop(k) for k in SETTINGS if k in kwargs}
        if backprop_em is not None:
            warnings.warn(
                'HEMHead: backprop_em is deprecated; use grad_mode '
                "('unrolled', 'none', 'one_step' or 'implicit')",
                DeprecationWarning,
                stacklevel=2)
            settings['grad_mode'] = resolve_grad_mode(
                settings.get('grad_mode'), backprop_em)
        # built (and validated) before EMAHead builds anything, in a forked
        # RNG: EMAHead's own EMAModule makes the initial bases draw, so the
        # same seed gives the same init as EMANet, aux head included
        with torch.random.fork_rng(devices=[]):
            unit = HEMModule(ema_channels, num_bases, num_stages, momentum,
                             **settings)
        super().__init__(
            ema_channels=ema_channels,
            num_bases=num_bases,
            num_stages=num_stages,
            concat_input=concat_input,
            momentum=momentum,
            **kwargs)
        with torch.no_grad():
            unit.bases.copy_(self.ema_module.bases)
        self.ema_module = unit
        # EMAHead freezes the mid conv: no gradient reached it through the
        # no-grad loop. Through the other modes it does.
        for param in self.ema_mid_conv.parameters():
            param.requires_grad = unit.grad_mode != 'none'
