"""FiniteLossHook: a NaN or infinite loss stops training with one line
naming the iteration (issue 23, item 10)."""
import types

import pytest
import torch

from hemnet_mmseg.engine.hooks import FiniteLossHook
from hemnet_mmseg.utils import UserError


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_loss_stops_naming_the_iteration(value):
    runner = types.SimpleNamespace(iter=41)
    with pytest.raises(UserError, match='at iteration 42') as err:
        FiniteLossHook().after_train_iter(
            runner, 0, outputs=dict(loss=torch.tensor(value)))
    assert '\n' not in str(err.value)


def test_finite_loss_and_no_loss_pass():
    runner = types.SimpleNamespace(iter=3)
    FiniteLossHook().after_train_iter(
        runner, 0, outputs=dict(loss=torch.tensor(0.5)))
    FiniteLossHook().after_train_iter(runner, 0, outputs=None)


def test_runs_before_the_checkpoint_hook():
    from mmengine.hooks import CheckpointHook
    from mmengine.runner import get_priority
    assert get_priority(FiniteLossHook.priority) < get_priority(
        CheckpointHook.priority)
