"""PointwiseNet: a per-pixel classifier backbone (1x1 convolutions only).

A baseline that sees one pixel and nothing around it: what a data set's
classes need beyond the pixel's own colour shows as the gap between this and
a network with a receptive field.

Shapes: B batch, C_in input channels, H x W image, C ``channels``.
"""
from typing import List

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class PointwiseNet(BaseModule):
    """A stack of 1x1 ConvModules (conv, norm, ReLU): no spatial context.

    Args:
        in_channels (int): C_in. Defaults to 3.
        channels (int): C, width of every layer. Defaults to 64.
        num_layers (int): number of 1x1 layers, >= 1. Defaults to 3.
        norm_cfg (dict): norm layer config. Defaults to BN.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 in_channels: int = 3,
                 channels: int = 64,
                 num_layers: int = 3,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.layers = nn.Sequential(*[
            ConvModule(
                in_channels if i == 0 else channels,
                channels,
                1,
                norm_cfg=norm_cfg) for i in range(num_layers)
        ])

    def forward(self, x: Tensor) -> List[Tensor]:
        """(B, C_in, H, W) -> [(B, C, H, W)]."""
        return [self.layers(x)]
