"""Gradient flow through the unrolled (highway) EM of a HEMHead.

HEMNet's claim (https://arxiv.org/abs/2012.04926): with plain unrolled EM
(eta = 1) the gradient reaching early iterations decays as T grows; the
highway (eta < 1) keeps it alive. For each eta, inverse temperature beta and
T = 1..T_max this measures, on the head's own segmentation loss,

* ``||dL/d mu(t)||`` for every unrolled iteration t = 0..T, and
* ``||dL/dX||``, the gradient reaching the EM unit's input features X
  through the unit (the identity path around it does not pass through X);

and the same with the gradient switched off (EMANet), where none reaches X.

Usage::

    python tools/analysis/gradient_flow.py --out docs/gradient_flow.json
    python tools/analysis/gradient_flow.py CONFIG CHECKPOINT --out real.json
        [--mixing unit|raw]

It writes the JSON (``--out``) and a PNG beside it (``--plot``).
"""
import argparse
import json
import time
from typing import Dict, List, Optional

import torch

from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             add_source_arguments,
                                             check_output_arguments,
                                             check_source_arguments,
                                             load_source)
from hemnet_mmseg.analysis.gradients import em_gradients
from hemnet_mmseg.analysis.sources import HeadAndBatch


def run(src: HeadAndBatch, etas: List[float], max_stages: int,
        inv_temperatures: List[float], mixing: str) -> List[Dict]:
    """Every (eta, beta, T, t) record, HEMNet and the no-grad EMANet loop."""
    records = []
    settings = [(eta, True) for eta in etas] + [(1.0, False)]
    for beta in inv_temperatures:
        for eta, backprop in settings:
            for T in range(1, max_stages + 1):
                m = em_gradients(
                    src,
                    step_size=eta,
                    num_stages=T,
                    num_stages_eval=T,
                    inv_temperature=beta,
                    backprop_em=backprop,
                    highway_mixing=mixing)
                for t, g in enumerate(m['bases_grad']):
                    records.append(
                        dict(
                            eta=eta,
                            inv_temperature=beta,
                            backprop_em=backprop,
                            highway_mixing=mixing,
                            T=T,
                            t=t,
                            bases_grad_norm=g,
                            input_grad_norm=m['input_grad'],
                            loss=m['loss']))
    return records


def ratios(records: List[Dict], max_stages: int) -> List[Dict]:
    """||grad|| at T = max / at T = 1, for mu(0) and for X, per (eta, beta)."""
    out = []
    keys = sorted({(r['eta'], r['inv_temperature'], r['backprop_em'])
                   for r in records})
    for eta, beta, backprop in keys:
        sel = [
            r for r in records if (r['eta'], r['inv_temperature'],
                                   r['backprop_em']) == (eta, beta, backprop)
        ]

        def at(T, field):
            return next(r[field] for r in sel if r['T'] == T and r['t'] == 0)

        def ratio(a, b):
            return a / b if b > 0 else None

        out.append(
            dict(
                eta=eta,
                inv_temperature=beta,
                backprop_em=backprop,
                mu0_grad_T1=at(1, 'bases_grad_norm'),
                mu0_grad_Tmax=at(max_stages, 'bases_grad_norm'),
                mu0_ratio=ratio(
                    at(max_stages, 'bases_grad_norm'),
                    at(1, 'bases_grad_norm')),
                input_grad_T1=at(1, 'input_grad_norm'),
                input_grad_Tmax=at(max_stages, 'input_grad_norm'),
                input_ratio=ratio(
                    at(max_stages, 'input_grad_norm'),
                    at(1, 'input_grad_norm'))))
    return out


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    records, T = result['records'], result['max_stages']
    betas = result['inv_temperatures']
    etas = result['etas']
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    beta0 = 1.0 if 1.0 in betas else betas[len(betas) // 2]
    for eta in etas:
        sel = [
            r for r in records if r['eta'] == eta and r['backprop_em']
            and r['inv_temperature'] == beta0 and r['T'] == T
        ]
        axes[0].semilogy([r['t'] for r in sel],
                         [max(r['bases_grad_norm'], 1e-30) for r in sel],
                         'o-',
                         label=f'eta={eta}')
        sel0 = [
            r for r in records if r['eta'] == eta and r['backprop_em']
            and r['inv_temperature'] == beta0 and r['t'] == 0
        ]
        axes[1].semilogy([r['T'] for r in sel0],
                         [max(r['bases_grad_norm'], 1e-30) for r in sel0],
                         'o-',
                         label=f'eta={eta}')
    axes[0].set(
        title=f'||dL/d mu(t)||, T={T}, beta={beta0}',
        xlabel='unrolled iteration t',
        ylabel='gradient norm')
    axes[1].set(
        title=f'||dL/d mu(0)|| against T, beta={beta0}',
        xlabel='T (unrolled iterations)',
        ylabel='gradient norm')
    for eta in etas:
        sel = [
            r for r in result['ratios'] if r['eta'] == eta and r['backprop_em']
        ]
        axes[2].loglog([r['inv_temperature'] for r in sel],
                       [max(r['mu0_ratio'] or 1e-30, 1e-30) for r in sel],
                       'o-',
                       label=f'eta={eta}')
    axes[2].axhline(1.0, color='grey', lw=0.8)
    axes[2].set(
        title=f'||dL/d mu(0)||: T={T} / T=1',
        xlabel='inverse temperature beta',
        ylabel='ratio')
    for ax in axes:
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    source = result['meta']['source']
    fig.suptitle(f'gradient flow through unrolled EM ({source} head, '
                 f'{result["highway_mixing"]} mixing); EMANet (no grad) '
                 'sends none to X')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_source_arguments(parser)
    add_output_arguments(parser)
    parser.add_argument('--max-stages', type=int, default=10)
    parser.add_argument(
        '--inv-temperatures',
        type=float,
        nargs='+',
        default=[0.03, 0.1, 1.0, 3.0, 30.0])
    parser.add_argument(
        '--mixing',
        default='unit',
        choices=['unit', 'raw'],
        help='N-step mixing with normalised bases')
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    check_output_arguments(parser, args)
    if args.max_stages < 1:
        parser.error(f'--max-stages must be >= 1, got {args.max_stages}')
    if any(b <= 0 for b in args.inv_temperatures):
        parser.error('--inv-temperatures must all be > 0')
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    src = load_source(args)
    records = run(src, args.etas, args.max_stages, args.inv_temperatures,
                  args.mixing)
    result = dict(
        meta=dict(
            src.meta,
            seed=args.seed,
            torch=torch.__version__,
            device='cpu',
            wall_s=None,
            note='bases_grad_norm: ||dL/d mu(t)||; input_grad_norm: '
            '||dL/dX|| of the EM unit input X (B, C, N)'),
        etas=args.etas,
        max_stages=args.max_stages,
        highway_mixing=args.mixing,
        inv_temperatures=args.inv_temperatures,
        records=records,
        ratios=ratios(records, args.max_stages))
    result['meta']['wall_s'] = round(time.time() - start, 2)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    png = args.plot
    plot(result, png)
    print(f'wrote {args.out} and {png} in {result["meta"]["wall_s"]} s')
    print('||dL/d mu(0)|| and ||dL/dX||, T={} over T=1:'.format(
        args.max_stages))
    for r in result['ratios']:
        tag = 'EMANet (no grad)' if not r['backprop_em'] else \
            f'eta={r["eta"]}'
        fmt = lambda v: 'n/a' if v is None else f'{v:.3g}'  # noqa: E731
        print(f'  beta={r["inv_temperature"]:<6g} {tag:<17} mu(0): '
              f'{fmt(r["mu0_ratio"]):>9}  X: {fmt(r["input_ratio"]):>9}  '
              f'(|dL/dX| at T={args.max_stages}: '
              f'{r["input_grad_Tmax"]:.3g})')
    return result


if __name__ == '__main__':
    main()
