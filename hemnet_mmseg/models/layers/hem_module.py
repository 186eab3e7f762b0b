"""HEMModule: the unrolled highway-EM unit as an ``nn.Module``.

A drop-in replacement of mmseg's ``EMAModule`` (same ``bases`` buffer, same
momentum update of it) that runs :func:`~.highway_em.unrolled_em` with the
gradient flowing through every iteration (HEMNet,
https://arxiv.org/abs/2012.04926) or, with ``backprop_em=False``, under
``torch.no_grad()`` as EMANet does.

Shapes: B batch, C channels, H x W pixels (N = H * W), K bases.
"""
import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.ema_head import EMAModule, reduce_mean
from torch import Tensor

from .highway_em import EPS, reconstruct, unrolled_em


def check_em_args(num_bases: int, num_stages: int,
                  num_stages_eval: 'int | None', step_size: float,
                  inv_temperature: float, momentum: float) -> None:
    """Raise ``ValueError`` naming the argument and its allowed range."""

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(num_bases) or num_bases < 1:
        raise ValueError(f'num_bases must be an int >= 1, got {num_bases!r}')
    if not is_int(num_stages) or num_stages < 1:
        raise ValueError(
            f'num_stages must be an int >= 1, got {num_stages!r}')
    if num_stages_eval is not None and (not is_int(num_stages_eval)
                                        or num_stages_eval < 1):
        raise ValueError('num_stages_eval must be None or an int >= 1, '
                         f'got {num_stages_eval!r}')
    if not isinstance(step_size, (int, float)) or not 0 < step_size <= 1:
        raise ValueError(
            f'step_size must be in (0, 1] (1 is plain EM), got {step_size!r}')
    if not isinstance(inv_temperature,
                      (int, float)) or not inv_temperature > 0 or \
            inv_temperature == float('inf'):
        raise ValueError('inv_temperature must be a finite number > 0, '
                         f'got {inv_temperature!r}')
    if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
        raise ValueError(f'momentum must be in [0, 1], got {momentum!r}')


class HEMModule(EMAModule):
    """Highway Expectation Maximization unit.

    Args:
        channels (int): C, channels of the features.
        num_bases (int): K, number of bases (mixture components).
        num_stages (int): T, unrolled iterations in training.
        momentum (float): momentum of the ``bases`` update. Defaults to 0.1.
        step_size (float): highway N-step size eta in (0, 1]; 1 is plain EM.
            Defaults to 0.5.
        num_stages_eval (int, optional): T in evaluation; None means
            ``num_stages``. Defaults to None.
        inv_temperature (float): 1 / sigma^2 in the E-step. Defaults to 1.0.
        backprop_em (bool): backpropagate through the iterations (HEMNet);
            False runs them under ``no_grad`` (EMANet). Defaults to True.
        normalize_bases (bool): L2-normalise the bases after every step.
            Defaults to True.
    """

    def __init__(self,
                 channels: int,
                 num_bases: int,
                 num_stages: int,
                 momentum: float = 0.1,
                 step_size: float = 0.5,
                 num_stages_eval: 'int | None' = None,
                 inv_temperature: float = 1.0,
                 backprop_em: bool = True,
                 normalize_bases: bool = True) -> None:
        check_em_args(num_bases, num_stages, num_stages_eval, step_size,
                      inv_temperature, momentum)
        super().__init__(channels, num_bases, num_stages, momentum)
        self.step_size = float(step_size)
        self.num_stages_eval = num_stages_eval
        self.inv_temperature = float(inv_temperature)
        self.backprop_em = backprop_em
        self.normalize_bases = normalize_bases
        #: analysis tools set this to keep the last forward's EM history
        #: (``self.last_em``: feats, mu(0..T) with mu(0) a grad leaf, Z(1..T))
        self.record_history = False
        self.last_em = None

    @property
    def current_num_stages(self) -> int:
        """T used by the next forward (training or evaluation)."""
        if self.training or self.num_stages_eval is None:
            return self.num_stages
        return self.num_stages_eval

    def run_em(self, feats: Tensor, return_history: bool = False):
        """Run the unrolled EM from the stored bases, in float32.

        Args:
            feats (Tensor): (B, C, N), any float dtype.
            return_history (bool): keep every mu(t) and Z(t).

        Returns:
            EMResult: float32 tensors, mu (B, C, K) and Z (B, N, K).
        """
        bases = self.bases.float()
        if self.record_history:
            # a leaf, so that the gradient reaching mu(0) can be read
            bases = bases.detach().clone().requires_grad_(
                self.backprop_em and torch.is_grad_enabled())
        # fp16 cannot hold eps=1e-12 and overflows exp: EM runs in float32
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
                    return_history=return_history)

    def forward(self, feats: Tensor) -> Tensor:
        """Reconstruct the features from the converged bases.

        Args:
            feats (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W), same dtype as ``feats``.
        """
        batch_size, channels, height, width = feats.shape
        # (B, C, N)
        flat = feats.reshape(batch_size, channels, height * width)
        result = self.run_em(flat, return_history=self.record_history)
        if self.record_history:
            self.last_em = dict(feats=flat, result=result,
                                shape=(height, width))
        with torch.autocast(device_type=feats.device.type, enabled=False):
            # (B, C, K) @ (B, K, N) -> (B, C, N)
            recon = reconstruct(result.bases, result.resp)
        recon = recon.to(feats.dtype).view(batch_size, channels, height,
                                           width)
        if self.training:
            self.update_bases(result.bases)
        return recon

    @torch.no_grad()
    def update_bases(self, bases: Tensor) -> None:
        """EMAHead's momentum update of mu(0), from the detached mu(T).

        ``mu(0) <- (1 - m) mu(0) + m * l2norm(rank-mean of batch-mean mu(T))``
        (not re-normalised afterwards, exactly as EMAHead).

        Args:
            bases (Tensor): mu(T), (B, C, K).
        """
        # (1, C, K)
        mean = bases.detach().mean(dim=0, keepdim=True)
        mean = reduce_mean(mean)
        mean = F.normalize(mean, dim=1, p=2, eps=EPS)
        self.bases = ((1 - self.momentum) * self.bases +
                      self.momentum * mean.to(self.bases.dtype))
