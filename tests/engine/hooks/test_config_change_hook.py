"""ConfigChangeHook: a resume under another model or schedule is reported
(issue 23, item 6: run B resumed run A's checkpoint without a word)."""
import json
import types

import pytest
import torch
from mmengine.config import Config

import hemnet_mmseg.engine.hooks.config_change_hook as cch
from hemnet_mmseg.engine.hooks import ConfigChangeHook


def _cfg(lr=0.01, max_iters=20, step_size=0.5, resume=True, **extra):
    return Config(
        dict(
            model=dict(
                type='EncoderDecoder',
                decode_head=dict(type='HEMHead', step_size=step_size)),
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=lr)),
            param_scheduler=[dict(type='PolyLR', power=0.9)],
            resume=resume,
            load_from='w/iter_10.pth',
            **extra))


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(cch, 'print_log',
                        lambda msg, **kwargs: lines.append(msg))
    return lines


def _saved(cfg):
    checkpoint = dict(meta=dict(iter=10))
    ConfigChangeHook().before_save_checkpoint(
        types.SimpleNamespace(cfg=cfg), checkpoint)
    return checkpoint


def test_record_is_json_in_the_checkpoint_meta():
    record = json.loads(_saved(_cfg())['meta'][cch.META_KEY])
    assert record['optim_wrapper.optimizer.lr'] == 0.01
    assert record['model.decode_head.step_size'] == 0.5
    assert record['param_scheduler.0.power'] == 0.9
    assert 'resume' not in record and 'load_from' not in record


def test_resume_under_the_same_config_is_silent(logged):
    ConfigChangeHook().after_load_checkpoint(
        types.SimpleNamespace(cfg=_cfg()), _saved(_cfg()))
    assert logged == []


def test_resume_under_another_schedule_lists_the_changes(logged):
    checkpoint = _saved(_cfg())
    ConfigChangeHook().after_load_checkpoint(
        types.SimpleNamespace(cfg=_cfg(lr=0.02, max_iters=40)), checkpoint)
    assert len(logged) == 1
    line = logged[0]
    assert 'differs from the one it was trained with in 2 setting' in line
    assert 'optim_wrapper.optimizer.lr: 0.01 -> 0.02' in line
    assert 'train_cfg.max_iters: 20 -> 40' in line and 'w/iter_10.pth' in line


def test_long_lists_are_cut(logged):
    checkpoint = _saved(_cfg())
    current = _cfg(lr=0.5, max_iters=1, step_size=0.9, randomness=dict(seed=1))
    ConfigChangeHook(max_listed=3).after_load_checkpoint(
        types.SimpleNamespace(cfg=current), checkpoint)
    assert 'in 4 setting(s)' in logged[0] and 'and 1 more' in logged[0]
    assert "randomness.seed: '<absent>' -> 1" in logged[0]


@pytest.mark.parametrize('case', ['fine_tune', 'old_checkpoint'])
def test_load_without_resume_or_record_is_not_compared(logged, case):
    checkpoint = _saved(_cfg())
    if case == 'fine_tune':
        cfg = _cfg(lr=0.5, resume=False)
    else:
        cfg = _cfg(lr=0.5)
        del checkpoint['meta'][cch.META_KEY]
    ConfigChangeHook().after_load_checkpoint(
        types.SimpleNamespace(cfg=cfg), checkpoint)
    assert logged == []


def test_crafted_keys_cannot_write_to_the_terminal_or_the_log(logged):
    """Issue 32, item 7: a crafted key put a fake ``Iter(train)`` line,
    ESC sequences and an OSC window title into stderr and the log; a 50 MB
    key went into the log whole."""
    checkpoint = _saved(_cfg())
    record = json.loads(checkpoint['meta'][cch.META_KEY])
    record['x\n12/04 - mmengine - INFO - Iter(train) [9/9] loss: 0.0001'] = 1
    record['\x1b[2K\x1b[1A\x1b]0;owned\x07'] = '\x1b[31mred'
    record['k' * 50_000_000] = 2
    checkpoint['meta'][cch.META_KEY] = json.dumps(record)
    ConfigChangeHook(max_listed=10).after_load_checkpoint(
        types.SimpleNamespace(cfg=_cfg()), checkpoint)
    (line, ) = logged
    assert '\n' not in line and '\x1b' not in line and '\x07' not in line
    assert '\\x1b[2K' in line and '\\n12/04' in line
    assert len(line) < 5000 and '(50000000 characters)' in line


@pytest.mark.parametrize('stored', [
    '[1, 2]', '"text"', '[' * 100_000 + ']' * 100_000, '{"a": 1', '7',
    b'bytes', 42
])
def test_a_record_that_is_not_one_is_ignored_with_one_warning(logged, stored):
    """Issue 32, item 8: a JSON list (TypeError), a string
    (AttributeError) or deep nesting (RecursionError) aborted the resume
    with a traceback."""
    checkpoint = _saved(_cfg())
    checkpoint['meta'][cch.META_KEY] = stored
    ConfigChangeHook().after_load_checkpoint(
        types.SimpleNamespace(cfg=_cfg(lr=0.5)), checkpoint)
    assert len(logged) == 1 and 'ignored' in logged[0]


def test_resume_whose_optimizer_no_longer_fits_is_one_line(logged):
    """Issue 32, item 13: resuming across a learn_bases change listed the
    change, then stopped with the optimizer's parameter-group ValueError
    traceback."""
    from mmengine.optim import OptimWrapper

    from hemnet_mmseg.utils import UserError
    before, after = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    after.extra = torch.nn.Parameter(torch.zeros(3))  # learn_bases=True
    checkpoint = _saved(_cfg())
    checkpoint['optimizer'] = torch.optim.SGD(
        before.parameters(), lr=0.1).state_dict()
    runner = types.SimpleNamespace(
        cfg=_cfg(step_size=0.9),
        optim_wrapper=OptimWrapper(
            optimizer=torch.optim.SGD(after.parameters(), lr=0.1)))
    with pytest.raises(UserError, match=r'holds 2 parameters .* trains 3'):
        ConfigChangeHook().after_load_checkpoint(runner, checkpoint)
    assert len(logged) == 1  # the change is listed first
    runner.optim_wrapper = OptimWrapper(
        optimizer=torch.optim.SGD(before.parameters(), lr=0.1))
    ConfigChangeHook().after_load_checkpoint(runner, checkpoint)
