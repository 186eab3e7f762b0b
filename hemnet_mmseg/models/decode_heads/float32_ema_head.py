"""Float32EMAHead: EMANet's head with its EM unit in float32.

mmseg's ``EMAHead`` (EMANet, Li et al., ICCV 2019,
https://arxiv.org/abs/1907.13426) with the EM unit swapped for
:class:`~hemnet_mmseg.models.layers.Float32EMAModule`: same layers, same
state-dict keys (EMANet checkpoints load ``strict=True``), same initial
weights for the same seed, and the same numbers in float32; under mixed
precision its EM runs in float32, as HEMHead's does. The plugin's CPU
recipes (toy, CamVid 160x192) use it as their EMANet, so that bf16
training compares the two heads' EM at the same precision.
"""
import torch
from mmseg.models.decode_heads.ema_head import EMAHead
from mmseg.registry import MODELS

from ..layers.float32_ema_module import Float32EMAModule


@MODELS.register_module()
class Float32EMAHead(EMAHead):
    """``EMAHead`` whose EM runs in float32 under autocast.

    Args: as ``EMAHead`` (ema_channels, num_bases, num_stages,
        concat_input=True, momentum=0.1, and ``BaseDecodeHead``'s).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # keep EMAHead's initial bases and leave the RNG stream as EMAHead
        # leaves it (the aux head built next gets the same init)
        with torch.random.fork_rng(devices=[]):
            unit = Float32EMAModule(self.ema_channels, self.num_bases,
                                    self.num_stages, self.momentum)
        unit.bases.copy_(self.ema_module.bases)
        self.ema_module = unit
