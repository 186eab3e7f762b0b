"""summarize_runs turns run folders into tables and updates the README."""
import importlib.util
import json
import os.path as osp

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the shape of MMEngine's config dump and per-class table in a run's log
HEAD = """model = dict(
    decode_head=dict(
        align_corners=False,
{keys}        loss_decode=dict(
            loss_weight=1.0, type='CrossEntropyLoss', use_sigmoid=False),
        norm_cfg=dict(requires_grad=True, type='SyncBN'),
        num_classes=11,
        type='{head}'),
    pretrained=None,
    type='EncoderDecoder')
"""
TABLE = """
11/27 - mmengine - INFO - per class results:
+-------+-------+-------+
| Class |  IoU  |  Acc  |
+-------+-------+-------+
|  sky  | {sky} | 90.0 |
|  road | {road} | 90.0 |
+-------+-------+-------+
"""
HEM_KEYS = '        backprop_em=True,\n        num_stages=3,\n' \
           '        step_size=0.5,\n'
EMA_KEYS = '        num_stages=3,\n'


def _tool():
    path = osp.join(REPO, 'tools', 'analysis', 'summarize_runs.py')
    spec = importlib.util.spec_from_file_location('tool_summarize', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _log(head, keys):
    return HEAD.format(head=head, keys=keys)


def _run(root, name, seed, mious, sky, road, head='HEMHead', keys=HEM_KEYS):
    d = root / name
    d.mkdir(parents=True)
    json.dump(dict(name=name, config='configs/x.py', seed=seed,
                   cfg_options='', wall_s=600, device='2-core CPU',
                   date='2026-11-27'), open(d / 'run.json', 'w'))
    with open(d / 'scalars.json', 'w') as f:
        f.write(json.dumps(dict(loss=1.0, step=10)) + '\n')
        for step, m in mious:
            f.write(json.dumps(dict(mIoU=m, aAcc=80.0, step=step)) + '\n')
    (d / 'train.log').write_text(
        _log(head, keys) + TABLE.format(sky=sky, road=road))
    return d


def _eval(run_dir, label, keys, miou, head='HEMHead'):
    d = run_dir / 'eval' / label
    d.mkdir(parents=True)
    (d / 'test.log').write_text(_log(head, keys))
    json.dump(dict(metrics=dict(mIoU=miou, aAcc=80.0)),
              open(d / 'test_metrics.json', 'w'))


@pytest.mark.parametrize('head,keys,expected', [
    ('EMAHead', EMA_KEYS,
     dict(head='EMAHead', eta='1 (EM)', t_train=3, t_eval=3, grad='no')),
    ('HEMHead', HEM_KEYS,
     dict(head='HEMHead', eta='0.5', t_train=3, t_eval=3, grad='yes',
          normalize='yes')),
    ('HEMHead', HEM_KEYS.replace('0.5', '1.0') +
     '        num_stages_eval=6,\n        normalize_bases=False,\n',
     dict(eta='1.0', t_train=3, t_eval=6, normalize='no')),
])
def test_head_settings_from_the_logged_config(head, keys, expected):
    settings = _tool().head_settings(_log(head, keys))
    # nested dicts (norm_cfg's type) must not be taken for the head's keys
    assert settings.items() >= expected.items(), settings


def test_head_settings_fill_unlogged_keys_with_hemhead_defaults():
    from hemnet_mmseg.models.decode_heads.hem_head import HEMHead
    settings = _tool().head_settings(
        _log('HEMHead', '        num_stages=2,\n'))
    defaults = _tool().hemhead_defaults()
    assert defaults['step_size'] == HEMHead(
        in_channels=8, channels=8, ema_channels=8, num_bases=4, num_stages=2,
        momentum=0.1, num_classes=3).step_size
    assert settings['eta'] == str(defaults['step_size'])
    assert settings['t_eval'] == 2  # num_stages_eval None means T train


def test_tables_and_readme_update(tmp_path):
    runs = tmp_path / 'runs'
    h0 = _run(runs, 'hemnet_seed0', 0, [(200, 30.0), (400, 40.0)], 80.0,
              90.0)
    _run(runs, 'hemnet_seed1', 1, [(200, 31.0), (400, 42.0)], 82.0, 92.0)
    _run(runs, 'emanet_seed0', 0, [(200, 29.0), (400, 39.5)], 79.0, 88.0,
         head='EMAHead', keys=EMA_KEYS)
    _run(runs, 'emanet_seed1', 1, [(200, 29.0), (400, 38.5)], 79.0, 88.0,
         head='EMAHead', keys=EMA_KEYS)
    _run(runs, 'hemnet_eta0.2_seed0', 0, [(400, 37.25)], 70.0, 80.0,
         keys=HEM_KEYS.replace('0.5', '0.2'))
    _eval(h0, 'T6', HEM_KEYS + '        num_stages_eval=6,\n', 41.5)
    readme = tmp_path / 'README.md'
    readme.write_text('intro\n<!-- camvid-results:start -->\nold\n'
                      '<!-- camvid-results:end -->\noutro\n')
    text = _tool().main(['--runs', str(runs), '--update-readme',
                         str(readme)])
    main, rest = text.split('#### Ablation')
    assert '| hemnet | 2 | 0, 1 | 41.00 ± 1.41 | 200: 30.50, 400: 41.00 |' \
        in main
    assert '| emanet | 2 | 0, 1 | 39.00 ± 0.71 |' in main
    assert 'eta0.2' not in main  # one seed: ablation only
    assert '| sky | 79.0 | 81.0 |' in main  # mean over seeds, per method
    assert ('| hemnet_eta0.2 | HEMHead | 0.2 | 3 | 3 | yes | yes | 0 | '
            '37.25 |') in rest
    assert '| emanet | EMAHead | 1 (EM) | 3 | 3 | no |' in rest
    # T eval: the run's own validation (T 3) next to its re-evaluation
    assert '| hemnet_seed0 | HEMHead | 3 | 40.00 | 41.50 | +1.50 |' in rest
    assert '2T - T, mean over runs: hemnet +1.50 (1 runs)' in rest
    assert '200: 30.00, 400: 40.00' in rest
    new = readme.read_text()
    assert 'old' not in new and text in new
    assert new.startswith('intro') and new.rstrip().endswith('outro')
