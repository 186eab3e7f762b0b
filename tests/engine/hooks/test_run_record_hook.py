"""RunRecordHook writes run.json from the built model, in-process."""
import json
import types

import torch

from hemnet_mmseg.engine.hooks import RunRecordHook
from hemnet_mmseg.models import HEMHead
from hemnet_mmseg.models.layers import SETTINGS


def test_record_holds_every_unit_setting(tmp_path):
    """The record writes the unit's settings as they are (asdict), in the
    same keys for EMANet, with no list of names kept by hand."""
    model = torch.nn.Module()
    model.decode_head = HEMHead(
        in_channels=8,
        in_index=0,
        channels=8,
        ema_channels=8,
        num_bases=4,
        num_stages=3,
        num_classes=3,
        norm_cfg=dict(type='BN', requires_grad=True),
        grad_mode='one_step')
    runner = types.SimpleNamespace(
        model=model,
        cfg=types.SimpleNamespace(filename='configs/x.py'),
        seed=3,
        max_iters=10,
        iter=0,
        optim_wrapper=types.SimpleNamespace(precision_reason='measured here'),
        log_dir=str(tmp_path))
    hook = RunRecordHook()
    hook.before_train(runner)
    hook.after_train(runner)
    record = json.load(open(tmp_path / 'run.json'))
    head = record['decode_head']
    assert head['type'] == 'HEMHead' and head['step_size'] == 0.5
    assert head['grad_mode'] == 'one_step'
    assert set(head) == set(SETTINGS) | {'type', 'momentum'}
    assert record['precision'] == 'float32' and record['seed'] == 3
    # issue 32, item 10: the record says why it trained in its precision
    assert record['precision_reason'] == 'measured here'
