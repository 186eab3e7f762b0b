"""Float32EMAModule: mmseg's ``EMAModule``, run in float32 under autocast.

Under ``torch.autocast`` (bf16 on CPUs, fp16 or bf16 on GPUs) mmseg's
``EMAModule`` runs its three einsums, and so its E-step softmax, in the low
precision. HEMModule always runs its EM in float32; comparing the two heads
under mixed precision is fair only if EMANet's EM runs in float32 too. This
module is mmseg's own code with autocast switched off around it and the
features cast to float32: in float32 training it computes exactly what
``EMAModule`` computes.

Shapes: B batch, C channels, H x W pixels, K bases.
"""
import torch
from mmseg.models.decode_heads.ema_head import EMAModule
from torch import Tensor


class Float32EMAModule(EMAModule):
    """``EMAModule`` whose EM always runs in float32.

    Args: as ``EMAModule`` (channels, num_bases, num_stages, momentum).
    """

    def forward(self, feats: Tensor) -> Tensor:
        """EMAModule's forward in float32.

        Args:
            feats (Tensor): (B, C, H, W), any float dtype.

        Returns:
            Tensor: (B, C, H, W), in ``feats``' dtype.
        """
        with torch.autocast(device_type=feats.device.type, enabled=False):
            recon = super().forward(feats.float())
        return recon.to(feats.dtype)
