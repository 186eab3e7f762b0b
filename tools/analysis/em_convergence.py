"""Convergence of highway EM: the mixture log-likelihood per iteration.

For random features and, given ``CONFIG CHECKPOINT``, for the real EM-unit
input features of a trained head on real images, this runs the unrolled
highway EM for each eta and records the objective of the method doc
(:func:`hemnet_mmseg.models.layers.log_likelihood`) after every iteration
t = 0..T. It checks the GEM property (never decreasing for 0 < eta <= 1) and
counts how many iterations each eta needs to reach what plain EM (eta = 1)
reaches at ``--reference-stages`` (what ``num_stages_eval`` is for).

Usage::

    python tools/analysis/em_convergence.py --out docs/em_convergence.json
    python tools/analysis/em_convergence.py CONFIG CHECKPOINT --out real.json
"""
import argparse
import json
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from hemnet_mmseg.analysis import find_hem_module, load_trained, trace_em
from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             check_output_arguments)
from hemnet_mmseg.cli.args import add_cfg_options
from hemnet_mmseg.models.layers import log_likelihood, unrolled_em


def curves(feats: torch.Tensor, bases: torch.Tensor, etas: List[float],
           max_stages: int, inv_temperature: float, normalize_bases: bool,
           mixing: str) -> Dict[float, List[float]]:
    """Mean log-likelihood after t = 0..T iterations, per eta.

    Args:
        feats (Tensor): X, (B, C, N). bases (Tensor): mu(0), (1, C, K).
    """
    out = {}
    with torch.no_grad():
        for eta in etas:
            res = unrolled_em(
                feats,
                bases,
                max_stages,
                eta,
                inv_temperature,
                normalize_bases,
                mixing,
                return_history=True)
            out[eta] = [
                float(
                    log_likelihood(feats, mu, inv_temperature,
                                   normalize_bases).mean())
                for mu in res.bases_history
            ]
    return out


def summarize(lls: Dict[float, List[float]],
              reference_stages: int,
              tol: float = 1e-6) -> List[dict]:
    """GEM check and iterations to reach plain EM at the reference T."""
    target = lls[1.0][reference_stages] if 1.0 in lls else None
    rows = []
    for eta, ll in lls.items():
        steps = [b - a for a, b in zip(ll[:-1], ll[1:])]
        scale = max(1.0, abs(ll[0]))
        reach = None
        if target is not None:
            reach = next(
                (t for t, v in enumerate(ll) if v >= target - tol * scale),
                None)
        rows.append(
            dict(
                eta=eta,
                gem_holds=min(steps) >= -tol * scale,
                min_step=min(steps),
                final=ll[-1],
                iterations_to_reach_em=reach))
    return rows


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    sources = result['sources']
    fig, axes = plt.subplots(
        1, len(sources), figsize=(6 * len(sources), 4), squeeze=False)
    for ax, src in zip(axes[0], sources):
        for eta, ll in src['log_likelihood'].items():
            ax.plot(range(len(ll)), ll, 'o-', ms=3, label=f'eta={eta}')
        ax.axvline(result['reference_stages'], color='grey', lw=0.8, ls='--')
        ax.set(
            title=f'{src["name"]} features',
            xlabel='iteration t',
            ylabel='mean log-likelihood')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle('highway EM keeps EM monotone; smaller eta converges slower')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?')
    parser.add_argument('checkpoint', nargs='?')
    add_output_arguments(parser)
    parser.add_argument(
        '--etas', type=float, nargs='+', default=[1.0, 0.8, 0.5, 0.2])
    parser.add_argument('--max-stages', type=int, default=20)
    parser.add_argument('--reference-stages', type=int, default=3)
    parser.add_argument('--inv-temperature', type=float, default=1.0)
    parser.add_argument(
        '--no-normalize',
        action='store_true',
        help='free means (Gaussian mixture objective)')
    parser.add_argument(
        '--mixing',
        default='unit',
        choices=['unit', 'raw'],
        help='N-step mixing with normalised bases')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=4,
        default=[2, 512, 1024, 64],
        metavar=('B', 'C', 'N', 'K'),
        help='random features')
    parser.add_argument('--num-images', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        parser.error('give both CONFIG and CHECKPOINT, or neither')
    check_output_arguments(parser, args)
    if any(not 0 < e <= 1 for e in args.etas):
        parser.error('--etas must be in (0, 1]')
    if not 1 <= args.reference_stages <= args.max_stages:
        parser.error('--reference-stages must be in [1, --max-stages]')
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    normalize = not args.no_normalize
    gen = torch.Generator().manual_seed(args.seed)
    B, C, N, K = args.shape
    inputs = [('random (unit-variance Gaussian)',
               torch.randn(B, C, N, generator=gen),
               F.normalize(torch.randn(1, C, K, generator=gen), dim=1))]
    meta = dict(seed=args.seed, random_shape=dict(B=B, C=C, N=N, K=K))
    if args.config:
        src = load_trained(
            args.config,
            args.checkpoint,
            args.num_images,
            cfg_options=args.cfg_options)
        module = find_hem_module(src.head)
        with trace_em(module) as traces, torch.no_grad():
            src.head(src.inputs)
        inputs.append(
            ('trained head, real images', traces[0].flat_feats().float(),
             module.initial_bases()))
        meta.update(src.meta)
    sources = []
    for name, feats, bases in inputs:
        lls = curves(feats.double(), bases.double(), args.etas,
                     args.max_stages, args.inv_temperature, normalize,
                     args.mixing)
        sources.append(
            dict(
                name=name,
                shape=list(feats.shape),
                num_bases=bases.shape[-1],
                log_likelihood={
                    str(k): v
                    for k, v in lls.items()
                },
                summary=summarize(lls, args.reference_stages)))
    result = dict(
        meta=meta,
        etas=args.etas,
        max_stages=args.max_stages,
        reference_stages=args.reference_stages,
        inv_temperature=args.inv_temperature,
        normalize_bases=normalize,
        highway_mixing=args.mixing,
        objective=('mean_n logsumexp_k(beta x_n . mu_k), unit-norm '
                   'mu' if normalize else 'Gaussian mixture '
                   'log-likelihood, equal weights, var 1/beta'),
        sources=sources)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    png = args.plot
    plot(result, png)
    print(f'wrote {args.out} and {png}')
    for src in sources:
        print(f'{src["name"]}: iterations to reach plain EM at '
              f'T={args.reference_stages}')
        for row in src['summary']:
            print(f'  eta={row["eta"]:<4} GEM holds: {row["gem_holds"]}  '
                  f'reach: {row["iterations_to_reach_em"]}  '
                  f'final: {row["final"]:.6g}')
    return result


if __name__ == '__main__':
    main()
