"""FiniteLossHook: a training whose loss is not finite stops at once.

MMEngine keeps training after a NaN or Inf loss (a beta that overflows the
E-step's logits, a learning rate too high): the run used to end with exit
status 0 and write checkpoints of NaN weights. This hook checks the loss
after every training iteration, before the checkpoint hook (priority
``VERY_HIGH``), and raises a one-line
:class:`~hemnet_mmseg.utils.UserError` naming the iteration; the last
checkpoint written stays the last finite one. The check reads one scalar
per iteration (a host sync on CUDA). The plugin's ``tools/train.py`` adds
it to every run.
"""
import math

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ...utils.errors import UserError


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise ``UserError`` when the training loss is NaN or infinite."""

    priority = 'VERY_HIGH'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch=None,
                         outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is None:
            return
        if hasattr(loss, 'detach'):
            loss = loss.detach()
        value = float(loss)
        if not math.isfinite(value):
            raise UserError(
                f'the training loss is {value} at iteration {runner.iter + 1}'
                ': training stopped (the last checkpoint is the last finite '
                'one); lower the learning rate or check the data and the EM '
                'settings')
