"""RNGStateHook: bit-exact resume of the main process's torch RNG.

MMEngine saves no RNG state in a checkpoint. Augmentation runs in the
dataloader, which MMEngine reseeds and replays to the resumed iteration, so
it already matches an uninterrupted run; what differs is the main process's
torch RNG (dropout in the heads), reseeded on resume. This hook stores the
CPU (and CUDA) torch RNG state in ``checkpoint['meta']['rng_state']`` as
tensors (what the weights-only loader accepts) and restores it at the first
training iteration after a resume, i.e. after the dataloader replay.
numpy's and Python's RNG states are not restored: with ``num_workers=0`` the
replay itself advances them, and restoring them before it would advance
them twice.

Validation during training draws from the torch RNG too (every DataLoader
iterator draws its base seed from it), between a checkpoint and the next
training iteration. The hook therefore makes validation RNG-neutral: each
validation runs inside ``torch.random.fork_rng``, so an uninterrupted run
continues from the state the checkpoint holds, and a run with validation
trains exactly as one without.
"""
from contextlib import ExitStack
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

KEY = 'rng_state'


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the torch RNG state with every checkpoint; restore it when
    training resumes from one."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._validation = ExitStack()

    @staticmethod
    def _get_state() -> dict:
        state = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state['cuda'] = torch.cuda.get_rng_state_all()
        return state

    @staticmethod
    def _set_state(state: dict) -> None:
        torch.set_rng_state(state['torch'].cpu())
        cuda = state.get('cuda')
        if cuda and torch.cuda.is_available() and \
                len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])

    def before_val(self, runner) -> None:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self._validation.enter_context(
            torch.random.fork_rng(
                devices=range(torch.cuda.device_count()) if cuda else []))

    def after_val(self, runner) -> None:
        self._validation.close()  # the RNG state before the validation

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})[KEY] = self._get_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        state = meta.get(KEY)
        if isinstance(state, dict) and isinstance(
                state.get('torch'), torch.Tensor):
            # restored only if training goes on from this very iteration
            # (a resume), not when weights are loaded to start anew
            self._pending = dict(state, iter=meta.get('iter'))

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch=None) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        if state['iter'] == runner.iter and runner.iter > 0:
            self._set_state(state)
