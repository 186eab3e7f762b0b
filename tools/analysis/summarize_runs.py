"""Turn the committed CamVid study runs into the README's tables.

Each run folder under ``docs/results/camvid/`` (written by
``tools/analysis/run_camvid_study.sh``) holds ``run.json`` (config, seed,
options, wall time, device, date), ``scalars.json`` (MMEngine's scalar log:
train losses and every validation's metrics) and ``train.log`` (with the
per-class IoU tables). This prints, or writes into README.md between the
``<!-- camvid-results:start -->`` and ``<!-- camvid-results:end -->``
markers, so that the tables are never typed by hand:

* the main comparison: mean +- std of the final val mIoU per method (runs
  named ``<method>_seed<k>``), with the seeds;
* the per-class IoU, mean over seeds;
* every run: the val mIoU at each validation (the learning curve), wall
  time, device and date.

Usage::

    python tools/analysis/summarize_runs.py [--runs docs/results/camvid]
        [--update-readme README.md]
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional

START = '<!-- camvid-results:start -->'
END = '<!-- camvid-results:end -->'


def read_run(folder: str) -> Optional[dict]:
    """One run's metadata, validation curve and last per-class table."""
    meta_path = osp.join(folder, 'run.json')
    if not osp.isfile(meta_path):
        return None
    run = json.load(open(meta_path))
    curve = []
    with open(osp.join(folder, 'scalars.json')) as f:
        for line in f:
            rec = json.loads(line)
            if 'mIoU' in rec:
                curve.append((rec['step'], rec['mIoU']))
    run['curve'] = curve
    run['miou'] = curve[-1][1] if curve else None
    run['per_class'] = per_class_iou(osp.join(folder, 'train.log'))
    return run


def per_class_iou(log_path: str) -> Dict[str, float]:
    """The last ``per class results`` table of an MMEngine log."""
    text = open(log_path).read()
    tables = text.split('per class results:')
    if len(tables) < 2:
        return {}
    rows = re.findall(r'^\|\s*([\w -]+?)\s*\|\s*([\d.nan]+)\s*\|',
                      tables[-1], flags=re.M)
    return {name: float(iou) for name, iou in rows if name != 'Class'}


def method_of(name: str) -> str:
    return re.sub(r'_seed\d+$', '', name)


def fmt_mean_std(values: List[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def tables(runs: List[dict]) -> str:
    by_method: Dict[str, List[dict]] = {}
    for run in runs:
        by_method.setdefault(method_of(run['name']), []).append(run)
    lines = ['#### Val mIoU (final iteration), mean ± std over seeds', '',
             '| Method | runs | seeds | val mIoU | config |',
             '| --- | --- | --- | --- | --- |']
    for method, rs in sorted(by_method.items()):
        done = [r for r in rs if r['miou'] is not None]
        if not done:
            continue
        seeds = ', '.join(str(r['seed']) for r in done)
        opts = done[0].get('cfg_options') or ''
        cfg = done[0]['config'] + (f' `{opts}`' if opts else '')
        lines.append(f'| {method} | {len(done)} | {seeds} | '
                     f'{fmt_mean_std([r["miou"] for r in done])} | {cfg} |')
    classes = []
    for r in runs:
        for c in r['per_class']:
            if c not in classes:
                classes.append(c)
    if classes:
        methods = sorted(by_method)
        lines += ['', '#### Per-class val IoU, mean over seeds', '',
                  '| class | ' + ' | '.join(methods) + ' |',
                  '| --- |' + ' --- |' * len(methods)]
        for c in classes:
            cells = []
            for m in methods:
                vals = [r['per_class'][c] for r in by_method[m]
                        if c in r['per_class']]
                cells.append(f'{statistics.mean(vals):.1f}' if vals else '-')
            lines.append(f'| {c} | ' + ' | '.join(cells) + ' |')
    lines += ['', '#### Every run: val mIoU at each validation', '',
              '| run | seed | mIoU by iteration | wall time | device | date |'
              ' log |', '| --- | --- | --- | --- | --- | --- | --- |']
    for r in sorted(runs, key=lambda r: r['name']):
        curve = ', '.join(f'{step}: {m:.2f}' for step, m in r['curve'])
        lines.append(
            f'| {r["name"]} | {r["seed"]} | {curve} | '
            f'{r["wall_s"] / 60:.1f} min | {r["device"]} | {r["date"]} | '
            f'[log](docs/results/camvid/{r["name"]}/train.log) |')
    return '\n'.join(lines)


def main(argv: Optional[list] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', default='docs/results/camvid')
    parser.add_argument('--update-readme', metavar='README')
    args = parser.parse_args(argv)
    runs = [r for r in (read_run(d) for d in sorted(
        glob.glob(osp.join(args.runs, '*')))) if r]
    text = tables(runs) if runs else '_No completed runs yet._'
    if args.update_readme:
        readme = open(args.update_readme).read()
        if START not in readme or END not in readme:
            raise SystemExit(f'{args.update_readme} has no {START} ... {END}')
        head, rest = readme.split(START, 1)
        _, tail = rest.split(END, 1)
        with open(args.update_readme, 'w') as f:
            f.write(f'{head}{START}\n{text}\n{END}{tail}')
    print(text)
    return text


if __name__ == '__main__':
    main()
