"""The effective highway of a head: what each N-step mixing and eta does on
its features, and how much gradient reaches mu(0) and X through T steps.

For the random head (no arguments) or a trained one (CONFIG CHECKPOINT, on
images of its validation set), for both mixings and each eta, at the head's
own inverse temperature: per unrolled iteration the median ``||mu_hat||``,
the share of the old bases kept, the angular fraction of the way to the
M-step's maximiser, and ``||dL/dmu(0)||``, ``||dL/dX||`` at T = max over
T = 1 (see :mod:`hemnet_mmseg.analysis.regime`). A row whose mixing
or eta is not the one the head was trained with is a counterfactual, and
says so.

Usage::

    python tools/analysis/highway_regime.py --out docs/highway/random.json
    python tools/analysis/highway_regime.py CONFIG CHECKPOINT --out x.json
"""
import argparse
import json
import time
from typing import Optional

import torch

from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             add_source_arguments,
                                             check_output_arguments,
                                             check_source_arguments,
                                             load_source)
from hemnet_mmseg.analysis.em_trace import find_hem_module
from hemnet_mmseg.analysis.regime import measure_regime


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for row in result['rows']:
        style = '-' if row['mixing'] == 'unit' else '--'
        label = f'{row["mixing"]} eta={row["eta"]}'
        ts = [s['t'] for s in row['steps']]
        axes[0].plot(
            ts, [s['share'] for s in row['steps']],
            style,
            marker='o',
            ms=3,
            label=label)
        axes[1].plot(
            ts, [s['angular_fraction'] for s in row['steps']],
            style,
            marker='o',
            ms=3,
            label=label)
    mixings = sorted({r['mixing'] for r in result['rows']})
    etas = sorted({r['eta'] for r in result['rows']})
    width = 0.8 / max(len(mixings), 1)
    for i, mixing in enumerate(mixings):
        vals = [
            next((r['mu0_ratio'] or 1e-30) for r in result['rows']
                 if r['mixing'] == mixing and r['eta'] == eta) for eta in etas
        ]
        axes[2].bar([j + i * width for j in range(len(etas))],
                    vals,
                    width,
                    label=mixing,
                    log=True)
    axes[2].set_xticks(
        [j + width * (len(mixings) - 1) / 2 for j in range(len(etas))])
    axes[2].set_xticklabels([f'eta={e}' for e in etas])
    axes[0].set(
        title='share of mu(t-1) kept, a / (a + b)',
        xlabel='iteration t',
        ylim=(-0.02, 1.02))
    axes[1].set(
        title='angular fraction of the way to l2norm(mu_hat)',
        xlabel='iteration t',
        ylim=(-0.02, 1.05))
    axes[2].set(
        title=f'||dL/dmu(0)||: T={result["max_stages"]} / T=1', ylabel='ratio')
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f'effective highway ({result["meta"]["source"]} head, '
                 f'beta={result["inv_temperature"]}; dashed: raw mixing)')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_source_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument(
        '--mixings',
        nargs='+',
        default=['unit', 'raw'],
        choices=['unit', 'raw'])
    parser.add_argument('--max-stages', type=int, default=10)
    parser.add_argument(
        '--inv-temperature',
        type=float,
        default=None,
        help="beta (default: the head's own)")
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    check_output_arguments(parser, args)
    if args.max_stages < 2:
        parser.error(f'--max-stages must be >= 2, got {args.max_stages}')
    if args.inv_temperature is not None and not args.inv_temperature > 0:
        parser.error('--inv-temperature must be > 0')
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    src = load_source(args)
    unit = find_hem_module(src.head)
    trained = dict(
        step_size=unit.step_size,
        highway_mixing=unit.highway_mixing,
        inv_temperature=unit.inv_temperature,
        num_stages=unit.num_stages,
        learn_bases=unit.learn_bases)
    beta = args.inv_temperature or unit.inv_temperature
    rows = measure_regime(src, args.etas, args.mixings, args.max_stages, beta)
    for row in rows:
        row['counterfactual'] = bool(
            args.config and (row['mixing'] != trained['highway_mixing']
                             or row['eta'] != trained['step_size']))
    result = dict(
        meta=dict(
            src.meta,
            seed=args.seed,
            torch=torch.__version__,
            device='cpu',
            wall_s=round(time.time() - start, 2),
            trained=trained if args.config else None,
            note='share: a / (a + b) with mu(t) ~ a mu(t-1) + b '
            'l2norm(mu_hat(t)); angular_fraction: angle moved / angle '
            'to l2norm(mu_hat(t)); ratios: T=max over T=1; '
            'counterfactual: measured under a mixing or eta the head '
            'was not trained with'),
        max_stages=args.max_stages,
        inv_temperature=beta,
        rows=rows)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    png = args.plot
    plot(result, png)
    print(f'wrote {args.out} and {png} in {result["meta"]["wall_s"]} s')
    print(f'beta {beta}; per row: median ||mu_hat|| (t=1), share and '
          f'angular fraction (t=1, t={args.max_stages}), gradient ratios '
          f'T={args.max_stages}/T=1')
    for r in rows:
        first, last = r['steps'][0], r['steps'][-1]
        fmt = lambda v: 'n/a' if v is None else f'{v:.3g}'  # noqa: E731
        tag = ' (counterfactual)' if r['counterfactual'] else ''
        print(f'  {r["mixing"]:<4} eta={r["eta"]:<4} |mu_hat| '
              f'{first["mu_hat_norm"]:7.3g}  share {first["share"]:.3f}/'
              f'{last["share"]:.3f}  angle {first["angular_fraction"]:.3f}/'
              f'{last["angular_fraction"]:.3f}  mu(0) {fmt(r["mu0_ratio"])}'
              f'  X {fmt(r["input_ratio"])}{tag}')
    return result


if __name__ == '__main__':
    main()
