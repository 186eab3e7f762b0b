"""Turn the committed CamVid study runs into the README's tables.

Each run folder under ``docs/results/camvid/`` (written by
``tools/analysis/run_camvid_study.sh``) holds ``run.json`` (config, seed,
options, wall time, device, date), ``scalars.json`` (MMEngine's scalar log:
train losses and every validation's metrics) and ``train.log`` (the dumped
config and the per-class IoU tables). ``eval/LABEL/`` sub-folders (written by
``tools/analysis/eval_camvid_study.sh``) hold re-evaluations of the run's
final checkpoint with other test-time settings (``test.log``,
``test_metrics.json``). This prints, or writes into README.md between the
``<!-- camvid-results:start -->`` and ``<!-- camvid-results:end -->``
markers, so that the tables are never typed by hand:

* the main comparison: mean +- std of the final val mIoU per method (runs
  named ``<method>_seed<k>``) with more than one seed, and their per-class
  IoU (mean over seeds);
* the ablation: every method with its head settings (eta, T train, T eval,
  gradient through EM), read from the config each log dumped;
* T eval: val mIoU of the same checkpoints evaluated with other T;
* every run: the val mIoU at each validation (the learning curve), wall
  time, device and date.

Usage::

    python tools/analysis/summarize_runs.py [--runs docs/results/camvid]
        [--update-readme README.md]
"""
import argparse
import glob
import inspect
import json
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional

START = '<!-- camvid-results:start -->'
END = '<!-- camvid-results:end -->'


def hemhead_defaults() -> Dict[str, object]:
    """HEMHead's constructor defaults: a logged config omits unset keys."""
    try:
        from hemnet_mmseg.models.decode_heads.hem_head import HEMHead
    except ImportError:  # the tables still build, with '?' for unset keys
        return {}
    return {k: p.default for k, p in
            inspect.signature(HEMHead.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def head_settings(log_text: str) -> Dict[str, object]:
    """eta, T train, T eval and gradient flag of the decode head in the
    config that an MMEngine log dumped (``decode_head=dict(...)``)."""
    lines = log_text.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.strip() == 'decode_head=dict('), None)
    if start is None:
        return {}
    indent = len(lines[start]) - len(lines[start].lstrip()) + 4
    raw = {}
    for line in lines[start + 1:]:
        if len(line) - len(line.lstrip()) < indent:
            break
        item = re.match(r' {%d}(\w+)=([^(]*?)\)?,?$' % indent, line)
        if item:  # only the head's own keys, not those of nested dicts
            raw[item.group(1)] = item.group(2)
    head = raw.get('type', '?').strip("'")
    if head == 'EMAHead':  # EMANet: plain EM, no gradient through it
        t = int(raw.get('num_stages', 0))
        return dict(head=head, eta='1 (EM)', t_train=t, t_eval=t,
                    grad='no', normalize='yes')
    defaults = hemhead_defaults()

    def get(key):
        value = raw.get(key, repr(defaults.get(key, '?')))
        return value.strip().strip("'")

    t = int(get('num_stages'))
    t_eval = get('num_stages_eval')
    return dict(head=head, eta=get('step_size'), t_train=t,
                t_eval=t if t_eval == 'None' else int(t_eval),
                grad='yes' if get('backprop_em') == 'True' else 'no',
                normalize='yes' if get('normalize_bases') == 'True' else 'no')


def read_run(folder: str) -> Optional[dict]:
    """One run's metadata, head settings, validation curve, last per-class
    table and re-evaluations."""
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
    log_text = open(osp.join(folder, 'train.log')).read()
    run['per_class'] = per_class_iou(log_text)
    run['settings'] = head_settings(log_text)
    run['evals'] = {}
    for metrics_path in sorted(
            glob.glob(osp.join(folder, 'eval', '*', 'test_metrics.json'))):
        eval_dir = osp.dirname(metrics_path)
        settings = head_settings(open(osp.join(eval_dir, 'test.log')).read())
        miou = json.load(open(metrics_path))['metrics']['mIoU']
        run['evals'][settings.get('t_eval')] = miou
    return run


def per_class_iou(log_text: str) -> Dict[str, float]:
    """The last ``per class results`` table of an MMEngine log."""
    tables = log_text.split('per class results:')
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


def group(runs: List[dict]) -> Dict[str, List[dict]]:
    by_method: Dict[str, List[dict]] = {}
    for run in runs:
        if run['miou'] is not None:
            by_method.setdefault(method_of(run['name']), []).append(run)
    return by_method


def mean_curve(runs: List[dict]) -> str:
    """Mean val mIoU at each validation step that every run reached."""
    steps = set.intersection(*({step for step, _ in r['curve']}
                               for r in runs))
    means = {step: statistics.mean(dict(r['curve'])[step] for r in runs)
             for step in steps}
    return ', '.join(f'{step}: {means[step]:.2f}' for step in sorted(steps))


def main_table(by_method: Dict[str, List[dict]]) -> List[str]:
    main = {m: rs for m, rs in by_method.items() if len(rs) > 1}
    lines = ['#### Main comparison: val mIoU (final iteration), '
             'mean ± std over seeds', '',
             '| Method | runs | seeds | val mIoU | mean mIoU by iteration | '
             'config |', '| --- | --- | --- | --- | --- | --- |']
    for method, rs in sorted(main.items()):
        seeds = ', '.join(str(r['seed']) for r in rs)
        lines.append(f'| {method} | {len(rs)} | {seeds} | '
                     f'{fmt_mean_std([r["miou"] for r in rs])} | '
                     f'{mean_curve(rs)} | {rs[0]["config"]} |')
    classes = []
    for rs in main.values():
        for r in rs:
            classes += [c for c in r['per_class'] if c not in classes]
    if classes:
        methods = sorted(main)
        lines += ['', '#### Per-class val IoU, mean over seeds', '',
                  '| class | ' + ' | '.join(methods) + ' |',
                  '| --- |' + ' --- |' * len(methods)]
        for c in classes:
            cells = []
            for m in methods:
                vals = [r['per_class'][c] for r in main[m]
                        if c in r['per_class']]
                cells.append(f'{statistics.mean(vals):.1f}' if vals else '-')
            lines.append(f'| {c} | ' + ' | '.join(cells) + ' |')
    return lines


def ablation_table(by_method: Dict[str, List[dict]]) -> List[str]:
    lines = ['', '#### Ablation: every method with its head settings', '',
             '| Method | head | eta | T train | T eval | grad through EM | '
             'normalised bases | seeds | val mIoU | options |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']

    def key(item):
        s = item[1][0]['settings']
        return (s.get('head', ''), str(s.get('eta')), s.get('t_train', 0),
                item[0])

    for method, rs in sorted(by_method.items(), key=key):
        s = rs[0]['settings']
        opts = rs[0].get('cfg_options') or ''
        seeds = ', '.join(str(r['seed']) for r in rs)
        lines.append(
            f'| {method} | {s.get("head", "?")} | {s.get("eta", "?")} | '
            f'{s.get("t_train", "?")} | {s.get("t_eval", "?")} | '
            f'{s.get("grad", "?")} | {s.get("normalize", "?")} | {seeds} | '
            f'{fmt_mean_std([r["miou"] for r in rs])} | '
            f'{f"`{opts}`" if opts else "-"} |')
    return lines


def t_eval_table(runs: List[dict]) -> List[str]:
    evaluated = [r for r in runs if r['evals']]
    if not evaluated:
        return []
    # a run's own validation is the T eval it was trained with
    evals = {r['name']: {r['settings'].get('t_eval'): r['miou'],
                         **r['evals']} for r in evaluated}
    t_evals = sorted({t for e in evals.values() for t in e})
    lines = ['', '#### T eval: the final checkpoints evaluated with other '
             'numbers of EM iterations (val mIoU)', '',
             '| run | head | T train | ' +
             ' | '.join(f'T eval {t}' for t in t_evals) + ' | 2T - T |',
             '| --- | --- | --- |' + ' --- |' * (len(t_evals) + 1)]
    gains: Dict[str, List[float]] = {}
    for r in sorted(evaluated, key=lambda r: r['name']):
        s, e = r['settings'], evals[r['name']]
        cells = [f'{e[t]:.2f}' if t in e else '-' for t in t_evals]
        t = s.get('t_train')
        if t in e and 2 * t in e:  # paired: the same checkpoint
            gain = e[2 * t] - e[t]
            gains.setdefault(method_of(r['name']), []).append(gain)
            cells.append(f'{gain:+.2f}')
        else:
            cells.append('-')
        lines.append(f'| {r["name"]} | {s.get("head", "?")} | '
                     f'{s.get("t_train", "?")} | ' + ' | '.join(cells) + ' |')
    lines += ['', '2T - T, mean over runs: ' + ', '.join(
        f'{m} {statistics.mean(g):+.2f} ({len(g)} runs)'
        for m, g in sorted(gains.items()))]
    return lines


def runs_table(runs: List[dict]) -> List[str]:
    lines = ['', '#### Every run: val mIoU at each validation', '',
             '| run | seed | mIoU by iteration | wall time | device | date |'
             ' log |', '| --- | --- | --- | --- | --- | --- | --- |']
    for r in sorted(runs, key=lambda r: r['name']):
        curve = ', '.join(f'{step}: {m:.2f}' for step, m in r['curve'])
        lines.append(
            f'| {r["name"]} | {r["seed"]} | {curve} | '
            f'{r["wall_s"] / 60:.1f} min | {r["device"]} | {r["date"]} | '
            f'[log](docs/results/camvid/{r["name"]}/train.log) |')
    return lines


def tables(runs: List[dict]) -> str:
    by_method = group(runs)
    return '\n'.join(main_table(by_method) + ablation_table(by_method) +
                     t_eval_table(runs) + runs_table(runs))


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
