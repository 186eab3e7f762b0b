"""Train a segmentor with MMEngine's Runner (mmseg 1.x ``tools/train.py``
arguments). hemnet_mmseg is imported before the config is parsed, so
``hemnet_mmseg::`` base configs resolve."""
import argparse
import logging
import os.path as osp
from typing import Optional

import torch
from mmengine.logging import print_log

from .common import (
    UserError,
    add_cfg_options,
    add_launcher_args,
    build_runner,
    check_checkpoint_file,
    check_data_roots,
    load_config,
    parse_with_local_rank,
    run_main,
    set_work_dir,
    setup_launcher,
)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        default=None,
        metavar='CHECKPOINT',
        help='resume from CHECKPOINT, or without a value from the latest '
        'checkpoint in the work_dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic mixed precision training (needs CUDA)')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parse_with_local_rank(parser, argv)


def build_train_config(args: argparse.Namespace):
    cfg = load_config(args.config, args.cfg_options)
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    setup_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        if not torch.cuda.is_available():
            raise UserError('--amp needs a CUDA GPU; none is available')
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise UserError('--amp works with optim_wrapper type '
                            f'OptimWrapper, the config has {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_checkpoint_file(args.resume)
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('load_from') and not str(cfg.load_from).startswith(
            ('http://', 'https://', 'open-mmlab://')):
        check_checkpoint_file(cfg.load_from)
    return cfg


def main(argv: Optional[list] = None) -> None:
    args = parse_args(argv)
    cfg = build_train_config(args)
    if cfg.get('resume') and not cfg.get('load_from') and not osp.isfile(
            osp.join(cfg.work_dir, 'last_checkpoint')):
        print_log(
            f'--resume: no last_checkpoint in {cfg.work_dir}; training '
            'starts from scratch',
            logger='current',
            level=logging.WARNING)
    runner = build_runner(cfg)
    runner.train()


def cli(argv: Optional[list] = None) -> None:
    run_main('train', main, argv)


if __name__ == '__main__':
    cli()
