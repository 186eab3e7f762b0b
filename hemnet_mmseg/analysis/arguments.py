"""The command-line arguments the analysis tools share: which head to
analyse (``CONFIG CHECKPOINT`` or the random head), the etas, the seed and
``--cfg-options``, and their outputs, guarded as the tools' own. The heads
themselves come from :mod:`hemnet_mmseg.analysis.sources`."""
import argparse
import os.path as osp

from hemnet_mmseg.cli.args import add_cfg_options
from hemnet_mmseg.cli.outputs import check_output_file
from hemnet_mmseg.utils import UserError
from .sources import HeadAndBatch, load_head


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """``CONFIG CHECKPOINT`` (a trained head on ``--num-images`` val images)
    or neither (a random head on ``--size`` random features), plus
    ``--etas``, ``--seed`` and ``--cfg-options``."""
    parser.add_argument('config', nargs='?', help='config (with CHECKPOINT)')
    parser.add_argument('checkpoint', nargs='?', help='trained checkpoint')
    parser.add_argument(
        '--etas', type=float, nargs='+', default=[1.0, 0.8, 0.5, 0.2])
    parser.add_argument('--num-images', type=int, default=2)
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=[16, 16],
        metavar=('H', 'W'),
        help='random features: H W')
    parser.add_argument('--seed', type=int, default=0)
    add_cfg_options(parser)


def check_source_arguments(parser: argparse.ArgumentParser,
                           args: argparse.Namespace) -> None:
    """``parser.error`` for a lone CONFIG or CHECKPOINT or an eta outside
    (0, 1]."""
    if (args.config is None) != (args.checkpoint is None):
        parser.error('give both CONFIG and CHECKPOINT, or neither')
    for eta in args.etas:
        if not 0 < eta <= 1:
            parser.error(f'--etas: each eta must be in (0, 1], got {eta}')


def load_source(args: argparse.Namespace) -> HeadAndBatch:
    """The head and batch :func:`add_source_arguments` chose."""
    return load_head(args.config, args.checkpoint, args.num_images,
                     tuple(args.size), args.seed, args.cfg_options)


def add_output_arguments(parser: argparse.ArgumentParser,
                         what: str = 'JSON output path',
                         plot: bool = True) -> None:
    """``--out`` (``what``), ``--plot`` (a PNG beside it by default) when
    the tool draws one, and ``--overwrite``."""
    parser.add_argument('--out', required=True, help=what)
    if plot:
        parser.add_argument('--plot', help='PNG path (default: beside --out)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace output files that exist (refused by default)')


def check_output_arguments(parser: argparse.ArgumentParser,
                           args: argparse.Namespace, *inputs: str) -> None:
    """``parser.error`` unless every output (``--out``, and ``--plot``,
    resolved here to its default beside ``--out``) is none of the inputs
    (``inputs`` and the tool's CONFIG and CHECKPOINT) and, without
    ``--overwrite``, does not exist yet."""
    outs = [args.out]
    if 'plot' in args:
        args.plot = args.plot or osp.splitext(args.out)[0] + '.png'
        outs.append(args.plot)
    if len(set(map(osp.realpath, outs))) < len(outs):
        parser.error(f'--out and --plot are the same file: {args.out}')
    named = [getattr(args, 'config', None), getattr(args, 'checkpoint', None)]
    try:
        for out in outs:
            check_output_file(out, [p for p in (*inputs, *named) if p],
                              args.overwrite)
    except UserError as err:
        parser.error(str(err))
