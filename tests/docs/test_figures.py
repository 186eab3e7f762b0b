"""The headline figures of the README and the model page agree with the
committed run folders they come from (issue 34: the README said 3.3 minutes
and 69.12 for a demo that by then gave 69.84, and "19 pre-registered runs"
when there were 33)."""
import glob
import json
import os.path as osp
import re

import yaml

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
README = open(osp.join(REPO, 'README.md')).read()
MODEL_PAGE = open(osp.join(REPO, 'configs', 'hemnet', 'README.md')).read()


def _toy_rows() -> dict:
    """method -> (mIoU, minutes, run folder, fps, mIoU(ms+flip)) of the
    model page's toy table."""
    table = MODEL_PAGE.split('### Toy shapes', 1)[1].split('###', 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        log = re.search(r'\(\.\./\.\./(studies/toy/[^)]+)/train\.log\)', line)
        if len(cells) > 7 and log:
            rows[cells[0].split(' ')[0]] = (float(cells[6]),
                                            float(cells[7].split()[0]),
                                            osp.join(REPO, log.group(1)),
                                            cells[9], cells[10])
    return rows


def _recorded(folder: str) -> tuple:
    metrics = json.load(open(osp.join(folder, 'test_metrics.json')))
    seconds = int(open(osp.join(folder, 'wall_s.txt')).read().split()[0])
    return round(metrics['metrics']['mIoU'], 2), round(seconds / 60, 1)


def test_the_model_pages_toy_rows_are_their_runs():
    rows = _toy_rows()
    assert {'HEMNet', 'EMANet', 'per-pixel'} <= set(rows)
    for method, (miou, minutes, folder, fps, tta) in rows.items():
        assert (miou, minutes) == _recorded(folder), method
        if tta != '-':  # mIoU(ms+flip): tools/test.py --tta
            metrics = json.load(
                open(osp.join(folder, 'tta', 'test_metrics.json')))
            assert float(tta) == round(metrics['metrics']['mIoU'], 2)
        if fps != '-':  # 1 / tools/test.py's mean time per image
            lines = open(osp.join(folder, 'test.log')).read().splitlines()
            last = [ln for ln in lines if 'Iter(test)' in ln and 'mIoU' in ln]
            seconds = float(re.findall(r'time: ([\d.]+)', last[-1])[-1])
            assert float(fps) == round(1 / seconds, 1), method


def test_the_demo_row_is_the_newest_demo_run():
    """The 3.3 minutes and 69.12 stayed in the README after a newer
    default's run (69.84) was committed beside them."""
    runs = glob.glob(
        osp.join(REPO, 'studies', 'toy',
                 'hemnet_r18-d8_1xb8-1k_toy-shapes-64x64*', 'run.json'))
    newest = max(runs, key=lambda p: (json.load(open(p))['date'], p))
    assert _toy_rows()['HEMNet'][2] == osp.dirname(newest)


def test_the_readme_demo_figures_are_the_model_pages():
    miou, minutes = _toy_rows()['HEMNet'][:2]
    ema = _toy_rows()['EMANet'][0]
    said = re.search(
        r'([\d.]+) minutes on 2 CPU cores with bf16 .*?'
        r'val mIoU ([\d.]+)',
        README,
        flags=re.S)
    assert said and (float(said.group(1)), float(said.group(2))) == \
        (minutes, miou)
    row = next(line for line in README.splitlines()
               if line.startswith('| toy shapes (`make demo`)'))
    assert [float(c) for c in row.split('|')[3:5]] == [miou, ema]


def test_the_metafiles_toy_results_are_the_runs():
    rows = _toy_rows()
    for algo, method in (('hemnet', 'HEMNet'), ('emanet', 'EMANet')):
        meta = yaml.safe_load(
            open(osp.join(REPO, 'configs', algo, 'metafile.yaml')))
        model = next(m for m in meta['Models']
                     if m['Name'] == f'{algo}_r18-d8_1xb8-1k_toy-shapes-64x64')
        assert model['Results']['Metrics']['mIoU'] == rows[method][0]
        assert osp.join(REPO, model['Training log']) == osp.join(
            rows[method][2], 'train.log')


def test_the_readme_counts_the_pre_registered_runs():
    said = re.search(r'(\d+) pre-registered runs in rounds 2 to 4', README)
    runs = [
        e for study in ('camvid2', 'camvid3', 'camvid4') for e in json.load(
            open(osp.join(REPO, 'studies', study, 'plan.json')))['runs']
        if e.get('status') == 'done' and not e.get('post_hoc')
    ]
    assert said and int(said.group(1)) == len(runs)
    assert all(
        osp.isfile(osp.join(REPO, 'studies', s, e['name'], 'run.json'))
        for s in ('camvid4', ) for e in json.load(
            open(osp.join(REPO, 'studies', s, 'plan.json')))['runs'])
    assert glob.glob(osp.join(REPO, 'studies', 'camvid2', '*', 'run.json'))
