"""Which gradient estimator of the EM unit is closest to the exact one?

For the random head (no arguments) or a trained one (CONFIG CHECKPOINT, on
images of its validation set), every ``grad_mode`` that sends a gradient
through the unit (unrolled, one_step, implicit), at each T, eta and beta,
is compared with the reference: the implicit gradient at a converged
forward (``--ref-stages`` iterations at eta 1; the JSON gives the forward's
last change ``max |mu(T_ref) - mu(T_ref - 1)|`` and the adjoint's
iterations). Per row: cosine and norm ratio of dL/dX (X the unit's input)
and of the mid conv's weight gradient, backward wall time, and the bytes
autograd saved in the forward (the whole head's, so differences between
modes are the unit's). See :mod:`hemnet_mmseg.analysis.estimators`.

Usage::

    python tools/analysis/grad_estimators.py --out docs/estimators/random.json
    python tools/analysis/grad_estimators.py CONFIG CHECKPOINT --out x.json
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
from hemnet_mmseg.analysis.estimators import MODES, compare_estimators


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_source_arguments(parser)
    parser.set_defaults(etas=[1.0, 0.5, 0.2])
    parser.add_argument(
        '--stages',
        type=int,
        nargs='+',
        default=[1, 2, 3, 5, 10, 20],
        help='T values')
    parser.add_argument(
        '--inv-temperatures',
        type=float,
        nargs='+',
        default=[1.0, 0.1],
        help='beta values')
    parser.add_argument(
        '--ref-stages',
        type=int,
        default=1000,
        help='T of the reference (converged) forward')
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    check_source_arguments(parser, args)
    check_output_arguments(parser, args)
    if any(t < 1 for t in args.stages) or args.ref_stages < 2:
        parser.error('--stages must be >= 1 and --ref-stages >= 2')
    if any(not 0 < b <= 1e6 for b in args.inv_temperatures):
        parser.error('--inv-temperatures: each beta must be in (0, 1e6]')
    return args


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    betas = sorted({r['inv_temperature']
                    for r in result['rows']},
                   reverse=True)
    fig, axes = plt.subplots(
        1, len(betas), figsize=(6.5 * len(betas), 4.3), squeeze=False)
    styles = {'unrolled': '-', 'one_step': '--', 'implicit': ':'}
    for ax, beta in zip(axes[0], betas):
        ref = next(r for r in result['references']
                   if r['inv_temperature'] == beta)
        # to the exact gradient where the reference converged, else to the
        # unrolled gradient at the same T and eta
        key = 'cos_dx' if ref['converged'] else 'cos_dx_unrolled'
        rows = [r for r in result['rows'] if r['inv_temperature'] == beta]
        for eta in sorted({r['eta'] for r in rows}, reverse=True):
            for mode in MODES:
                sel = sorted(
                    (r for r in rows if r['eta'] == eta and r['mode'] == mode),
                    key=lambda r: r['num_stages'])
                ax.plot([r['num_stages'] for r in sel], [r[key] for r in sel],
                        styles[mode],
                        marker='o',
                        ms=3,
                        label=f'{mode} eta={eta}')
        target = 'the exact gradient' if ref['converged'] else \
            'unrolled, same T (no converged reference)'
        ax.set(
            xscale='log',
            xlabel='T',
            ylabel=f'cosine of dL/dX to {target}',
            title=f'beta={beta}: reference residual '
            f'{ref["forward_residual"]:.1e} at T {ref["num_stages"]}')
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(result['meta'].get('source', ''))
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    src = load_source(args)
    result = compare_estimators(src, args.stages, args.etas,
                                args.inv_temperatures, args.ref_stages)
    result['meta'] = dict(
        src.meta,
        tool='tools/analysis/grad_estimators.py',
        device=f'CPU ({torch.get_num_threads()} threads)',
        torch=torch.__version__,
        wall_s=round(time.time() - start, 1),
        ref_stages=args.ref_stages,
        note=('reference: implicit gradient at the forward after ref_stages '
              'iterations at eta 1 (forward_residual: its last change), '
              'adjoint to tol 1e-6; converged only if that residual is at '
              'most 1e-5 and the adjoint reached its tolerance, else rows '
              'carry no cosine to it (cos_dx_unrolled: to the unrolled '
              'gradient at the same T and eta); saved_mb: bytes autograd '
              'saved in the whole head forward; backward_ms: one backward, '
              'wall time (meaningful only on quiet cores)'))
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    plot(result, args.plot)
    return result


if __name__ == '__main__':
    main()
