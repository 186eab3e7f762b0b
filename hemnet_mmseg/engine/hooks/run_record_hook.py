"""RunRecordHook: finish a run's record.

A run resumed from its final checkpoint (``--resume`` after a stop during
the final validation, which runs after that checkpoint is saved) trains
nothing, and MMEngine's loop would end it without validating: its log would
hold only the previous validation. The hook runs that validation first.

At the end of training the hook writes ``run.json`` into the run's log
folder: the decode head's class and resolved EM settings (read from the
built model, so a default that changes later cannot relabel an old run),
the precision the optimizer wrapper trained in, why, and whether the EM
unit ran in float32, the seed, iterations, device (the CPU's model: bf16
runs repeat bit for bit only on the same one) and wall time. Summaries read it
instead of parsing logs or executing stored configs.
"""
import json
import os.path as osp
import platform
import time
from typing import Any, Dict

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.models.decode_heads.ema_head import EMAModule
from mmseg.registry import HOOKS

from ...models.layers import SETTINGS, Float32EMAModule, HEMModule
from ..optimizers.precision_probe import cpu_info


def describe_decode_head(model: torch.nn.Module) -> Dict[str, Any]:
    """Head class and EM settings of a segmentor's decode head.

    EMANet heads (``EMAHead``, ``Float32EMAHead``) are described in the
    same keys as HEMHead: plain EM (``step_size`` 1), no gradient through
    the loop, normalised bases, no mixing.
    """
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'decode_head', None)
    out: Dict[str, Any] = dict(type=type(head).__name__)
    unit = getattr(head, 'ema_module', None)
    if isinstance(unit, HEMModule):
        out.update(unit.em_settings(), em_float32=True)
    elif isinstance(unit, EMAModule):
        # EMANet in the same keys: plain EM, no gradient through the loop
        out.update({name: None for name in SETTINGS})
        out.update(
            num_stages=unit.num_stages,
            momentum=unit.momentum,
            step_size=1.0,
            inv_temperature=1.0,
            grad_mode='none',
            normalize_bases=True,
            learn_bases=False,
            em_float32=isinstance(unit, Float32EMAModule))
    return out


def describe_precision(optim_wrapper) -> str:
    """``'float32'``, ``'bfloat16'`` or ``'float16'``: what the forward
    passes were autocast to."""
    dtype = getattr(optim_wrapper, 'cast_dtype', None)
    kind = type(optim_wrapper).__name__
    if kind == 'AmpOptimWrapper' and dtype is None:
        return 'float16'
    return 'float32' if dtype is None else str(dtype).replace('torch.', '')


@HOOKS.register_module()
class RunRecordHook(Hook):
    """Write ``run.json`` (see the module doc) when training ends."""

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        self._start = time.time()
        self._start_iter = runner.iter
        if runner.iter > 0 and runner.iter >= runner.max_iters and \
                runner.val_loop is not None:
            runner.val_loop.run()  # the final validation, see the module doc

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        head = describe_decode_head(runner.model)
        em_float32 = head.pop('em_float32', None)
        record = dict(
            config=osp.basename(runner.cfg.filename or '') or None,
            seed=runner.seed,
            max_iters=runner.max_iters,
            resumed_at=self._start_iter or None,
            decode_head=head,
            precision=describe_precision(runner.optim_wrapper),
            precision_reason=getattr(runner.optim_wrapper, 'precision_reason',
                                     None),
            em_float32=em_float32,
            device=(
                torch.cuda.get_device_name() if torch.cuda.is_available() else
                f'CPU {cpu_info().get("model name") or platform.machine()}, '
                f'{torch.get_num_threads()} threads'),
            torch=torch.__version__,
            train_wall_s=round(time.time() - self._start, 1),
            date=time.strftime('%Y-%m-%d'))
        with open(osp.join(runner.log_dir, 'run.json'), 'w') as f:
            # default=repr: an em_compile backend may be a callable
            json.dump(record, f, indent=1, default=repr)
