"""Turn the committed CamVid study runs into the study page's tables.

Each run folder (written by ``studies/camvid_study.py`` or, for the
first round, ``run_camvid_study.sh``) holds ``run.json`` (config, seed,
options, wall time, device, date, and the resolved ``decode_head``
settings, ``precision`` and ``em_float32``), ``scalars.json`` (MMEngine's
scalar log: every validation's metrics) and ``train.log`` (for the
per-class IoU table). ``eval/LABEL/`` sub-folders hold re-evaluations of
the final checkpoint with another T eval (``eval.json``: the T eval,
``test_metrics.json``), and ``regime.json`` the effective-highway and
gradient measurements of the final checkpoint. Head settings are read from
``run.json`` only; a HEMHead run without ``highway_mixing`` predates the
switch and used the previous (raw) mixing.

This prints, or writes into a page between ``<!-- MARKER:start -->`` and
``<!-- MARKER:end -->``, so that the tables are never typed by hand:

* the main comparison: mean +- std of the final val mIoU per method (runs
  named ``<method>_seed<k>``) with more than one seed, the mean learning
  curve, its rise over the last third, and the per-class IoU;
* every method with its head settings and precision;
* one setting at a time: every pair of methods that differ in one thing
  (the kind of head: EMANet, unrolled EM, HEMNet at an eta; T; beta;
  learned mu(0); mixing; precision), val mIoU paired by seed;
* T eval: val mIoU of the same checkpoints with 2T iterations;
* the regime each head trained in (share kept, angular fraction, gradient
  ratios), when measured;
* the gradient estimators of each final checkpoint against the exact
  gradient (``estimators.json``), when measured;
* runs of another study beside these (``--beside DIR:METHOD``), named
  ``<method> (<folder>)``;
* every run's learning curve, wall time, device and date, and the CPU hours.

Usage::

    python studies/summarize_runs.py [--runs studies/camvid]
        [--update docs/camvid_study.md --marker camvid-results]
"""
import argparse
import glob
import json
import os.path as osp
import re
import statistics
from typing import Dict, List, Optional


def mixing_of(head: dict) -> str:
    """The N-step mixing a run trained with ('-' for EMANet)."""
    if head.get('type') != 'HEMHead':
        return '-'
    return head.get('highway_mixing', 'raw')


def grad_mode_of(head: dict) -> str:
    """The backward through the EM a run trained with (``grad_mode``;
    older runs recorded only ``backprop_em``)."""
    if head.get('type') != 'HEMHead':
        return 'none'
    return head.get('grad_mode') or ('unrolled'
                                     if head.get('backprop_em') else 'none')


def settings_row(run: dict) -> Dict[str, str]:
    """The head settings and precision of a run, as table cells."""
    head = run['decode_head']
    hem = head.get('type') == 'HEMHead'
    t = head['num_stages']
    return dict(
        head=head['type'],
        eta=f'{head["step_size"]:g}' if hem else '1 (EM)',
        mixing=mixing_of(head),
        t_train=str(t),
        t_eval=str(head.get('num_stages_eval') or t),
        beta=f'{head.get("inv_temperature", 1.0):g}',
        grad=grad_mode_of(head),
        learned='yes' if head.get('learn_bases') else 'no',
        precision=run.get('precision', 'float32'),
        em32='yes' if run.get('em_float32', True) else 'no')


def per_class_iou(log_text: str) -> Dict[str, float]:
    """The last ``per class results`` table of an MMEngine log."""
    tables = log_text.split('per class results:')
    if len(tables) < 2:
        return {}
    rows = re.findall(
        r'^\|\s*([\w -]+?)\s*\|\s*([\d.nan]+)\s*\|', tables[-1], flags=re.M)
    return {name: float(iou) for name, iou in rows if name != 'Class'}


def md_cell(value) -> str:
    """Text from a run record, safe in a Markdown table cell: on one line,
    no ``|`` that would split the cell, no raw HTML (a ``<!-- ...:end -->``
    in a name made the page grow on every update)."""
    text = ' '.join(str(value).split())
    for raw, escaped in (('&', '&amp;'), ('<', '&lt;'), ('>', '&gt;'),
                         ('|', '\\|')):
        text = text.replace(raw, escaped)
    return text


def read_run(folder: str) -> Optional[dict]:
    """One run's record, curve, per-class table, re-evaluations, regime;
    the record's text fields escaped for the tables (:func:`md_cell`)."""
    meta_path = osp.join(folder, 'run.json')
    if not osp.isfile(meta_path):
        return None
    with open(meta_path) as f:
        run = json.load(f)
    for key in ('name', 'device', 'date', 'cfg_options'):
        if key in run:
            run[key] = md_cell(run[key])
    run['folder'] = osp.basename(osp.normpath(folder))
    curve, run['train'] = [], []
    with open(osp.join(folder, 'scalars.json')) as f:
        for line in f:
            rec = json.loads(line)
            if 'mIoU' in rec:
                curve.append((rec['step'], rec['mIoU']))
            elif 'loss' in rec:
                run['train'].append(rec)
    run['curve'] = curve
    run['miou'] = curve[-1][1] if curve else None
    with open(osp.join(folder, 'train.log')) as f:
        run['per_class'] = per_class_iou(f.read())
    run['evals'] = {}
    for path in sorted(glob.glob(osp.join(folder, 'eval', '*', 'eval.json'))):
        with open(path) as f:
            t_eval = json.load(f)['num_stages_eval']
        with open(osp.join(osp.dirname(path), 'test_metrics.json')) as f:
            run['evals'][t_eval] = json.load(f)['metrics']['mIoU']
    run['estimators'] = None
    estimators = osp.join(folder, 'estimators.json')
    if osp.isfile(estimators):
        with open(estimators) as f:
            run['estimators'] = json.load(f)
    regime = osp.join(folder, 'regime.json')
    run['regime'] = None
    if osp.isfile(regime):
        with open(regime) as f:
            run['regime'] = json.load(f)
    return run


def method_of(name: str) -> str:
    """A run's method: its name without ``_seed<k>`` (at the end, or
    before a suffix: ``implicit_seed1_logged`` is ``implicit_logged``)."""
    return re.sub(r'_seed\d+(?=_|$)', '', name, count=1)


def n_runs(n: int) -> str:
    """'1 run', '3 runs'."""
    return f'{n} run' + 's' * (n != 1)


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


def mean_curve(runs: List[dict]) -> Dict[int, float]:
    """Mean val mIoU at each validation step that every run reached."""
    steps = set.intersection(*({step for step, _ in r['curve']} for r in runs))
    return {
        step: statistics.mean(dict(r['curve'])[step] for r in runs)
        for step in sorted(steps)
    }


def rise_over_last_third(curve: Dict[int, float]) -> Optional[float]:
    """Final mIoU minus the mIoU at 2/3 of the last step (interpolated)."""
    steps = sorted(curve)
    if len(steps) < 2:
        return None
    at = steps[-1] * 2 / 3
    below = max((s for s in steps if s <= at), default=None)
    above = min((s for s in steps if s >= at), default=None)
    if below is None:
        return None
    value = curve[below] if above == below else curve[below] + (
        curve[above] - curve[below]) * (at - below) / (
            above - below)
    return curve[steps[-1]] - value


def main_table(by_method: Dict[str, List[dict]]) -> List[str]:
    beside = any(rs[0].get('beside') for rs in by_method.values())
    # beside another study's rows, this study's single-seed methods too
    main = {m: rs for m, rs in by_method.items() if len(rs) > 1 or beside}
    note = []
    if not main:  # a study under way: one seed of each so far
        main = dict(by_method)
        note = ['One seed of each method so far: no std yet.', '']
    lines = [
        '#### Main comparison: val mIoU (final iteration), '
        'mean ± std over seeds', ''
    ] + note + [
        '| Method | runs | seeds | val mIoU | mean mIoU by iteration | '
        'rise over the last third | config |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for method, rs in sorted(main.items()):
        seeds = ', '.join(str(r['seed']) for r in rs)
        curve = mean_curve(rs)
        rise = rise_over_last_third(curve)
        lines.append(f'| {method} | {len(rs)} | {seeds} | '
                     f'{fmt_mean_std([r["miou"] for r in rs])} | ' +
                     ', '.join(f'{s}: {m:.2f}' for s, m in curve.items()) +
                     f' | {"-" if rise is None else f"{rise:+.2f}"} | '
                     f'{rs[0]["config"]} |')
    classes: List[str] = []
    for rs in main.values():
        for r in rs:
            classes += [c for c in r['per_class'] if c not in classes]
    if classes:
        methods = sorted(main)
        lines += [
            '', '#### Per-class val IoU, mean over seeds', '',
            '| class | ' + ' | '.join(methods) + ' |',
            '| --- |' + ' --- |' * len(methods)
        ]
        for c in classes:
            cells = []
            for m in methods:
                vals = [
                    r['per_class'][c] for r in main[m] if c in r['per_class']
                ]
                cells.append(f'{statistics.mean(vals):.1f}' if vals else '-')
            lines.append(f'| {c} | ' + ' | '.join(cells) + ' |')
    return lines


SETTING_COLUMNS = [('head', 'head'), ('eta', 'eta'), ('mixing', 'mixing'),
                   ('t_train', 'T train'), ('t_eval', 'T eval'),
                   ('beta', 'beta'), ('grad', 'grad_mode'),
                   ('learned', 'learned mu(0)'), ('precision', 'precision'),
                   ('em32', 'EM in float32')]


def settings_table(by_method: Dict[str, List[dict]]) -> List[str]:
    names = [title for _, title in SETTING_COLUMNS]
    lines = [
        '', '#### Every method with its head settings and precision', '',
        '| Method | ' + ' | '.join(names) + ' | seeds | val mIoU | '
        'options |', '| --- |' + ' --- |' * (len(names) + 3)
    ]

    def key(item):
        s = settings_row(item[1][0])
        return (s['head'], s['t_train'], s['mixing'], s['eta'], item[0])

    for method, rs in sorted(by_method.items(), key=key):
        s = settings_row(rs[0])
        opts = rs[0].get('cfg_options') or ''
        seeds = ', '.join(str(r['seed']) for r in rs)
        lines.append(f'| {method} | ' +
                     ' | '.join(s[k] for k, _ in SETTING_COLUMNS) +
                     f' | {seeds} | {fmt_mean_std([r["miou"] for r in rs])} | '
                     f'{f"`{opts}`" if opts else "-"} |')
    return lines


# What a contrast may change: one of these, everything else equal.
CONTRAST_FIELDS = ('kind', 'T train / T eval', 'beta', 'learned mu(0)',
                   'mixing', 'precision')

#: the kind of an eta-1 head by its gradient through the EM
KIND_OF_MODE = {
    'unrolled': 'unrolled EM',
    'one_step': 'one-step EM',
    'implicit': 'implicit EM'
}
KIND_ORDER = ['EMANet'] + list(KIND_OF_MODE.values())


def contrast_key(run: dict) -> Dict[str, str]:
    """The settings a contrast compares, with the kind of head as one."""
    s = settings_row(run)
    if s['grad'] == 'none':
        kind = 'EMANet' if s['eta'] in ('1', '1 (EM)') else \
            f'HEMNet eta {s["eta"]}, no grad'
    elif s['eta'] == '1':
        kind = KIND_OF_MODE[s['grad']]
    else:
        kind = f'HEMNet eta {s["eta"]}' + ('' if s['grad'] == 'unrolled' else
                                           f', {s["grad"]}')
    return {
        'kind': kind,
        'T train / T eval': f'{s["t_train"]}/{s["t_eval"]}',
        'beta': s['beta'],
        'learned mu(0)': s['learned'],
        # eta 1 takes the M-step whole: no mixing to compare
        'mixing': s['mixing'] if kind.startswith('HEMNet') else None,
        'precision':
        s['precision'] + ('' if s['em32'] == 'yes' else ', EM too')
    }


def _contrast_order(field: str, value: str) -> tuple:
    """From which value to which a contrast reads (the baseline first)."""
    if field == 'kind':
        return (KIND_ORDER.index(value)
                if value in KIND_ORDER else len(KIND_ORDER), value)
    if field == 'T train / T eval':
        return tuple(int(v) for v in value.split('/'))
    if field == 'beta':
        return (-float(value), )  # from the default 1 to a flatter E-step
    return (value, )


def contrast_table(by_method: Dict[str, List[dict]]) -> List[str]:
    keys = {m: contrast_key(rs[0]) for m, rs in by_method.items()}
    rows = []
    for a in sorted(by_method):
        for b in sorted(by_method):
            diff = [
                f for f in CONTRAST_FIELDS
                if keys[a][f] != keys[b][f] and None not in (keys[a][f],
                                                             keys[b][f])
            ]
            if len(diff) != 1:
                continue
            field = diff[0]
            if _contrast_order(field, keys[a][field]) >= _contrast_order(
                    field, keys[b][field]):
                continue
            miou_a = {r['seed']: r['miou'] for r in by_method[a]}
            miou_b = {r['seed']: r['miou'] for r in by_method[b]}
            seeds = sorted(set(miou_a) & set(miou_b))
            if not seeds:
                continue
            deltas = [miou_b[k] - miou_a[k] for k in seeds]
            rows.append((CONTRAST_FIELDS.index(field), keys[a][field], a, b,
                         f'| {field} | {keys[a][field]} -> {keys[b][field]} '
                         f'| {a} | {b} | ' + ', '.join(map(str, seeds)) +
                         ' | ' + ', '.join(f'{d:+.2f}' for d in deltas) +
                         f' | {statistics.mean(deltas):+.2f} |'))
    if not rows:
        return []
    return [
        '', '#### One setting at a time: val mIoU of the second method '
        'minus the first, paired by seed', '',
        'Every pair of methods that differ in exactly one setting (the '
        'kind of head counts as one: EMANet trains without gradient '
        'through its EM; unrolled, one-step and implicit EM run the same '
        'eta-1 forward with the gradient of their grad_mode; HEMNet is '
        'eta < 1). Read a difference against the seed std of the main '
        'comparison.', '',
        '| changed | from -> to | first | second | seeds | per seed | '
        'mean |', '| --- | --- | --- | --- | --- | --- | --- |'
    ] + [row[-1] for row in sorted(rows)]


def t_eval_table(runs: List[dict]) -> List[str]:
    evaluated = [r for r in runs if r['evals']]
    if not evaluated:
        return []
    evals = {}
    for r in evaluated:
        own = int(settings_row(r)['t_eval'])  # the run's own validation
        evals[r['name']] = {own: r['miou'], **r['evals']}
    t_evals = sorted({t for e in evals.values() for t in e})
    lines = [
        '', '#### T eval: the final checkpoints evaluated with other '
        'numbers of EM iterations (val mIoU)', '',
        '| run | head | T train | ' + ' | '.join(f'T eval {t}'
                                                 for t in t_evals) +
        ' | 2T - T |', '| --- | --- | --- |' + ' --- |' * (len(t_evals) + 1)
    ]
    gains: Dict[str, List[float]] = {}
    for r in sorted(evaluated, key=lambda r: r['name']):
        e = evals[r['name']]
        t = r['decode_head']['num_stages']
        cells = [f'{e[x]:.2f}' if x in e else '-' for x in t_evals]
        if t in e and 2 * t in e:  # paired: the same checkpoint
            gain = e[2 * t] - e[t]
            gains.setdefault(method_of(r['name']), []).append(gain)
            cells.append(f'{gain:+.2f}')
        else:
            cells.append('-')
        lines.append(f'| {r["name"]} | {r["decode_head"]["type"]} | {t} | ' +
                     ' | '.join(cells) + ' |')
    lines += [
        '', '2T - T, mean over runs: ' +
        ', '.join(f'{m} {statistics.mean(g):+.2f} ({n_runs(len(g))})'
                  for m, g in sorted(gains.items()))
    ]
    return lines


def regime_table(runs: List[dict]) -> List[str]:
    """The measured regime at each run's own eta and mixing (EMANet rows:
    plain EM, measured as eta 1 with the gradient switched on)."""
    measured = [r for r in runs if r['regime']]
    if not measured:
        return []
    lines = [
        '', '#### The regime each head trained in (final checkpoint, '
        'its own beta; t = 1 of T = 10)', '',
        '| run | eta | mixing | median ‖mu_hat‖ | share kept | '
        'angular fraction | ‖dL/dmu(0)‖ T10/T1 | ‖dL/dX‖ T10/T1 |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in sorted(measured, key=lambda r: r['name']):
        head = r['decode_head']
        eta = head['step_size']
        mixing = head.get('highway_mixing') or 'unit'
        row = next((x for x in r['regime']['rows']
                    if x['eta'] == eta and x['mixing'] == mixing), None)
        if row is None:
            continue
        step = row['steps'][0]
        fmt = lambda v: '-' if v is None else f'{v:.3g}'  # noqa: E731
        lines.append(
            f'| {r["name"]} | {eta:g} | {mixing_of(head)} | '
            f'{step["mu_hat_norm"]:.3g} | {step["share"]:.3f} | '
            f'{step["angular_fraction"]:.3f} | {fmt(row["mu0_ratio"])} | '
            f'{fmt(row["input_ratio"])} |')
    return lines


def estimators_table(runs: List[dict]) -> List[str]:
    """Each trained head's gradient estimators against the exact gradient
    (``estimators.json``), at the head's own beta and eta, at its own T
    and T 10: cosine of dL/dX (norm ratio)."""
    measured = [r for r in runs if r.get('estimators')]
    if not measured:
        return []
    lines = [
        '', '#### The gradient estimators on each final checkpoint '
        '(its own beta and eta; cosine of dL/dX to the exact gradient, '
        'norm ratio in brackets; without a converged reference, the cosine '
        'to the unrolled gradient at the same T)', '',
        '| run | T | reference residual | unrolled | one_step | implicit |'
        ' unrolled, T 10 | one_step, T 10 | implicit, T 10 |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in sorted(measured, key=lambda r: r['name']):
        head, est = r['decode_head'], r['estimators']
        beta = head.get('inv_temperature', 1.0)
        eta = head['step_size']
        t_own = head['num_stages']
        ref = next(
            (x for x in est['references'] if x['inv_temperature'] == beta),
            None)
        if ref is None:
            continue

        def cell(mode, t):
            row = next((x for x in est['rows']
                        if x['inv_temperature'] == beta and x['eta'] == eta
                        and x['num_stages'] == t and x['mode'] == mode), None)
            if row is None:
                return '-'
            if row['cos_dx'] is None:  # no exact gradient to compare with
                return f'{row["cos_dx_unrolled"]:.3f} to unrolled'
            return f'{row["cos_dx"]:.3f} ({row["ratio_dx"]:.2f})'

        residual = f'{ref["forward_residual"]:.1e}'
        if not ref['converged']:
            what = 'forward' if ref['forward_residual'] > 1e-5 else 'adjoint'
            residual += f' ({what} not converged)'
        lines.append(f'| {r["name"]} | {t_own} | {residual} | ' + ' | '.join(
            cell(m, t) for t in (t_own, 10)
            for m in ('unrolled', 'one_step', 'implicit')) + ' |')
    return lines


#: the training stretches of round 3's implicit breakdown (seed 1)
JUMPS = ((360, 380), (900, 920))


def loss_rises(train: List[dict], every: int = 20) -> List[tuple]:
    """``(step, rise)`` where the logged (10-iteration mean) loss rose by
    more than 0.25 over ``every`` iterations: round 3's breakdown
    criterion."""
    loss = {r['step']: r['loss'] for r in train}
    return [(s, loss[s] - loss[s - every]) for s in sorted(loss)
            if s - every in loss and s % every == 0 and loss[s] -
            loss[s - every] > 0.25]


def adjoint_table(runs: List[dict]) -> List[str]:
    """The implicit backward's adjoint solve, logged every iteration
    (``adjoint_*`` in scalars.json): convergence, fallbacks, the norm
    ratio of the solve's dL/dX to iterate 0's, in round 3's breakdown
    stretches (:data:`JUMPS`) and elsewhere, and the loss rises."""
    logged = [
        r for r in runs
        if any('adjoint_grad_ratio' in x for x in r.get('train', []))
    ]
    if not logged:
        return []
    lines = [
        '', '#### The adjoint solve of the implicit gradient, every '
        'iteration (ratio: ||dL/dX|| of the solve over iterate 0\'s)', '',
        '| run | iterations | converged | fell back | ratio median | '
        'ratio > 2 (iterations) | max ratio (iteration) | '
        'max ratio at 360-380 / 900-920 | median residual | '
        'loss rises > 0.25 |', '| --- |' + ' --- |' * 9
    ]

    def window(rows, lo, hi):
        vals = [x['adjoint_grad_ratio'] for x in rows if lo <= x['step'] <= hi]
        return f'{max(vals):.2f}' if vals else '-'

    for r in sorted(logged, key=lambda r: r['name']):
        rows = [x for x in r['train'] if 'adjoint_grad_ratio' in x]
        ratios = [x['adjoint_grad_ratio'] for x in rows]
        top = max(rows, key=lambda x: x['adjoint_grad_ratio'])
        big = [x['step'] for x in rows if x['adjoint_grad_ratio'] > 2]
        rises = loss_rises(r['train'])
        listed = ', '.join(map(str, big[:8])) + (', ...' if big[8:] else '')
        cells = [
            r['name'],
            len(rows), f'{sum(x["adjoint_converged"] for x in rows):.0f}',
            f'{sum(x.get("adjoint_fallback", 0) for x in rows):.0f}',
            f'{statistics.median(ratios):.3f}', f'{len(big)} ({listed})',
            f'{top["adjoint_grad_ratio"]:.2f} ({top["step"]})',
            ' / '.join(window(rows, lo, hi) for lo, hi in JUMPS),
            f'{statistics.median(x["adjoint_change"] for x in rows):.3f}',
            ', '.join(f'{s} (+{d:.2f})' for s, d in rises) or 'none'
        ]
        lines.append('| ' + ' | '.join(map(str, cells)) + ' |')
    return lines


def plot_adjoint(runs: List[dict], path: str) -> None:
    """Per iteration, for the runs whose scalars log the adjoint solve: the
    norm ratio of the solve's dL/dX to iterate 0's (log scale) and the
    training loss, with the loss of the implicit runs shown beside
    (dashed), round 3's breakdown stretches shaded."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    logged = sorted((r for r in runs if any('adjoint_grad_ratio' in x
                                            for x in r.get('train', []))),
                    key=lambda r: r['name'])
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for r in logged:
        rows = [x for x in r['train'] if 'adjoint_grad_ratio' in x]
        steps = [x['step'] for x in rows]
        axes[0].plot(
            steps, [x['adjoint_grad_ratio'] for x in rows],
            lw=0.6,
            label=r['name'])
        axes[1].plot(steps, [x['loss'] for x in rows], lw=0.6)
    for r in runs:  # the implicit runs of another study, loss only
        if r.get('beside') and r['name'].startswith('implicit') and r['train']:
            axes[1].plot([x['step'] for x in r['train']],
                         [x['loss'] for x in r['train']],
                         '--',
                         lw=0.8,
                         label=r['name'])
    axes[1].legend(fontsize=7)
    for ax in axes:
        for lo, hi in JUMPS:
            ax.axvspan(lo, hi, color='0.85')
    axes[0].set(
        yscale='log',
        ylabel='||dL/dX|| solve / iterate 0',
        title='implicit gradient: the adjoint solve, every iteration '
        '(shaded: round 3 seed 1 loss jumps)')
    axes[1].set(xlabel='iteration', ylabel='training loss (10-iter mean)')
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def runs_table(runs: List[dict], runs_dir: str, link_base: str) -> List[str]:
    lines = [
        '', '#### Every run: val mIoU at each validation', '',
        '| run | seed | mIoU by iteration | wall time | device | date |'
        ' log |', '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for r in sorted(runs, key=lambda r: r['name']):
        curve = ', '.join(f'{step}: {m:.2f}' for step, m in r['curve'])
        log = osp.join(link_base, osp.basename(runs_dir), r['folder'],
                       'train.log')
        lines.append(
            f'| {r["name"]} | {r["seed"]} | {curve} | '
            f'{r["wall_s"] / 60:.1f} min | {r["device"]} | {r["date"]} | '
            f'[log]({log}) |')
    hours = sum(r['wall_s'] for r in runs) / 3600
    lines += [
        '', f'{n_runs(len(runs))}, {hours:.1f} CPU hours of wall '
        'time in all (training, validation and, where made, the '
        're-evaluation and regime measurements).'
    ]
    return lines


def tables(runs: List[dict], runs_dir: str, link_base: str) -> str:
    by_method = group(runs)
    return '\n'.join(
        main_table(by_method) + settings_table(by_method) +
        contrast_table(by_method) + t_eval_table(runs) + regime_table(runs) +
        estimators_table(runs) + adjoint_table(runs) +
        runs_table([r for r in runs
                    if not r.get('beside')], runs_dir, link_base))


def update_page(path: str, marker: str, text: str) -> None:
    start, end = f'<!-- {marker}:start -->', f'<!-- {marker}:end -->'
    with open(path) as f:
        page = f.read()
    if start not in page or end not in page:
        raise SystemExit(f'{path} has no {start} ... {end}')
    head, rest = page.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(path, 'w') as f:
        f.write(f'{head}{start}\n{text}\n{end}{tail}')


def main(argv: Optional[list] = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', default='studies/camvid')
    parser.add_argument(
        '--update',
        metavar='PAGE',
        help='write the tables into PAGE between markers')
    parser.add_argument('--marker', default='camvid-results')
    parser.add_argument(
        '--beside',
        nargs='+',
        metavar='DIR:METHOD',
        default=[],
        help='runs of another study shown beside these in the comparison '
        'tables, named "<method> (<folder>)", e.g. '
        'studies/camvid2:emanet (its runs table is not repeated)')
    parser.add_argument(
        '--adjoint-plot',
        metavar='PNG',
        help='plot the logged adjoint statistics of the implicit runs')
    parser.add_argument(
        '--link-base',
        default='../studies',
        help="the runs folder's parent, relative to PAGE")
    args = parser.parse_args(argv)
    runs = [
        r for r in (read_run(d)
                    for d in sorted(glob.glob(osp.join(args.runs, '*')))) if r
    ]
    for spec in args.beside:
        folder, _, method = spec.rpartition(':')
        for d in sorted(glob.glob(osp.join(folder, f'{method}_seed*'))):
            run = read_run(d)
            if run and method_of(run['name']) == method:
                tag = osp.basename(osp.normpath(folder))
                run.update(
                    name=f'{method} ({tag})_seed{run["seed"]}', beside=True)
                runs.append(run)
    if args.adjoint_plot:
        plot_adjoint(runs, args.adjoint_plot)
    text = tables(runs, args.runs, args.link_base) if runs else \
        '_No completed runs yet._'
    if args.update:
        update_page(args.update, args.marker, text)
    print(text)
    return text


if __name__ == '__main__':
    main()
