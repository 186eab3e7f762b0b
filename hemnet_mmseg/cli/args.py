"""The command-line arguments the tools share with mmseg's own."""
import os

from mmengine.config import DictAction


def add_cfg_options(parser) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs '
        '(e.g. train_cfg.max_iters=100 randomness.seed=1)')


def add_launcher_args(parser) -> None:
    """``--launcher`` and the ``--local_rank`` torch.distributed.launch
    passes (torchrun sets ``$LOCAL_RANK`` instead)."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_with_local_rank(parser, argv=None):
    """``parser.parse_args`` and export ``LOCAL_RANK`` if unset."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args
