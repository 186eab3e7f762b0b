"""summarize_runs turns run folders into tables and updates the README."""
import importlib.util
import json
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOG = """
11/27 - mmengine - INFO - per class results:
+-------+-------+-------+
| Class |  IoU  |  Acc  |
+-------+-------+-------+
|  sky  | {sky} | 90.0 |
|  road | {road} | 90.0 |
+-------+-------+-------+
"""


def _tool():
    path = osp.join(REPO, 'tools', 'analysis', 'summarize_runs.py')
    spec = importlib.util.spec_from_file_location('tool_summarize', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _run(root, name, seed, mious, sky, road):
    d = root / name
    d.mkdir(parents=True)
    json.dump(dict(name=name, config='configs/x.py', seed=seed,
                   cfg_options='', wall_s=600, device='2-core CPU',
                   date='2026-11-27'), open(d / 'run.json', 'w'))
    with open(d / 'scalars.json', 'w') as f:
        f.write(json.dumps(dict(loss=1.0, step=10)) + '\n')
        for step, m in mious:
            f.write(json.dumps(dict(mIoU=m, aAcc=80.0, step=step)) + '\n')
    (d / 'train.log').write_text(LOG.format(sky=sky, road=road))


def test_tables_and_readme_update(tmp_path):
    runs = tmp_path / 'runs'
    _run(runs, 'hemnet_seed0', 0, [(200, 30.0), (400, 40.0)], 80.0, 90.0)
    _run(runs, 'hemnet_seed1', 1, [(200, 31.0), (400, 42.0)], 82.0, 92.0)
    _run(runs, 'emanet_seed0', 0, [(200, 29.0), (400, 39.5)], 79.0, 88.0)
    readme = tmp_path / 'README.md'
    readme.write_text('intro\n<!-- camvid-results:start -->\nold\n'
                      '<!-- camvid-results:end -->\noutro\n')
    text = _tool().main(['--runs', str(runs), '--update-readme',
                         str(readme)])
    assert '| hemnet | 2 | 0, 1 | 41.00 ± 1.41 |' in text
    assert '| emanet | 1 | 0 | 39.50 |' in text
    assert '| sky | 79.0 | 81.0 |' in text  # mean over seeds, per method
    assert '200: 30.00, 400: 40.00' in text
    new = readme.read_text()
    assert 'old' not in new and text in new
    assert new.startswith('intro') and new.rstrip().endswith('outro')
