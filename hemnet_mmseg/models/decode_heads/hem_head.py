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
from typing import Optional

import torch

from mmseg.models.decode_heads.ema_head import EMAHead
from mmseg.registry import MODELS

from ..layers.hem_module import HEMModule, check_em_args


@MODELS.register_module()
class HEMHead(EMAHead):
    """Highway EM attention head (HEMNet).

    ``forward`` is EMAHead's; only the EM unit differs. With
    ``step_size=1, backprop_em=False`` it computes exactly what ``EMAHead``
    computes.

    The defaults (eta 0.5, T eval = T; the configs use T 3) come from the
    CamVid study in the README ("Results"): 3 seeds per head and an eta x T
    ablation found no setting better than another beyond seed noise in
    mIoU, so they are chosen on the gradient-flow and EM-convergence
    measurements (eta < 1 keeps the gradient through a flat E-step; eta 0.5
    reaches plain EM's T-3 likelihood in 4 iterations, eta 0.2 needs 6).

    Args:
        ema_channels (int): C, channels of the EM unit.
        num_bases (int): K, number of bases.
        num_stages (int): T, unrolled EM iterations in training.
        concat_input (bool): concatenate the input before the classifier.
            Defaults to True.
        momentum (float): momentum of the bases update. Defaults to 0.1.
        step_size (float): highway N-step size eta in (0, 1]; 1 is plain EM.
            Defaults to 0.5.
        num_stages_eval (int, optional): T in evaluation; None means
            ``num_stages``. Defaults to None.
        inv_temperature (float): 1 / sigma^2 of the E-step, > 0.
            Defaults to 1.0.
        backprop_em (bool): backpropagate through every EM iteration
            (HEMNet). False reproduces EMANet's no-grad loop and frozen mid
            conv. Defaults to True.
        normalize_bases (bool): L2-normalise the bases after every step.
            Defaults to True.
        **kwargs: ``BaseDecodeHead`` arguments (in_channels, channels,
            num_classes, norm_cfg, ...).
    """

    def __init__(self,
                 ema_channels: int,
                 num_bases: int,
                 num_stages: int,
                 concat_input: bool = True,
                 momentum: float = 0.1,
                 step_size: float = 0.5,
                 num_stages_eval: Optional[int] = None,
                 inv_temperature: float = 1.0,
                 backprop_em: bool = True,
                 normalize_bases: bool = True,
                 **kwargs) -> None:
        # fail before EMAHead builds anything (it only asserts num_stages)
        check_em_args(num_bases, num_stages, num_stages_eval, step_size,
                      inv_temperature, momentum)
        super().__init__(
            ema_channels=ema_channels,
            num_bases=num_bases,
            num_stages=num_stages,
            concat_input=concat_input,
            momentum=momentum,
            **kwargs)
        self.step_size = step_size
        self.num_stages_eval = num_stages_eval
        self.inv_temperature = inv_temperature
        self.backprop_em = backprop_em
        self.normalize_bases = normalize_bases
        # keep EMAModule's initial bases (same RNG draw, same buffer name);
        # fork the RNG so that HEMModule's own draw does not shift what is
        # built after the head (the aux head): same seed, same init as EMANet
        bases = self.ema_module.bases
        with torch.random.fork_rng(devices=[]):
            ema_module = HEMModule(
                ema_channels,
                num_bases,
                num_stages,
                momentum=momentum,
                step_size=step_size,
                num_stages_eval=num_stages_eval,
                inv_temperature=inv_temperature,
                backprop_em=backprop_em,
                normalize_bases=normalize_bases)
        self.ema_module = ema_module
        self.ema_module.bases.copy_(bases)
        # EMAHead freezes the mid conv: no gradient reached it through the
        # no-grad loop. Through the unrolled highway EM it does.
        for param in self.ema_mid_conv.parameters():
            param.requires_grad = backprop_em
