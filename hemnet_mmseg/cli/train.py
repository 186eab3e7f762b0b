"""Train a segmentor with MMEngine's Runner (mmseg 1.x ``tools/train.py``
arguments). hemnet_mmseg is imported before the config is parsed, so
``hemnet_mmseg::`` base configs resolve."""
import argparse
import logging
from typing import Optional

import torch
from mmengine.logging import print_log

from hemnet_mmseg.checkpoint import (check_checkpoint_file,
                                     find_resume_checkpoint)
from hemnet_mmseg.checkpoint.files import resume_candidates
from hemnet_mmseg.engine import unsupported_reason
from hemnet_mmseg.utils import UserError, load_config
from hemnet_mmseg.utils.errors import Terminated
from .args import add_cfg_options, add_launcher_args, parse_with_local_rank
from .config_checks import check_data_roots, check_num_classes, set_work_dir
from .launcher import setup_launcher
from .process import run_main
from .runner import add_plugin_hooks, build_runner


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
        help='resume from CHECKPOINT, or without a value from the newest '
        'intact checkpoint in the work_dir (a damaged one is skipped)')
    amp = parser.add_mutually_exclusive_group()
    amp.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='mixed precision training: fp16 with a dynamic loss scale on '
        'CUDA (as mmseg), bf16 autocast on a CPU with native bf16')
    amp.add_argument(
        '--no-amp',
        action='store_true',
        help='train in float32 even if the config asks for mixed precision')
    parser.add_argument(
        '--amp-dtype',
        choices=['bfloat16', 'float16'],
        help='autocast dtype (implies --amp): bfloat16 needs no loss scale '
        '(CPU with native bf16, Ampere/Hopper GPUs); float16 is CUDA only')
    parser.add_argument(
        '--allow-mismatched-keys',
        action='store_true',
        help='resume from a checkpoint whose keys or tensor shapes do not '
        'match the model (refused by default)')
    add_cfg_options(parser)
    add_launcher_args(parser)
    return parse_with_local_rank(parser, argv)


WRAPPERS = ('OptimWrapper', 'AmpOptimWrapper', 'AutocastOptimWrapper')


def set_precision(cfg, dtype: Optional[str]) -> None:
    """Point ``cfg.optim_wrapper`` at the precision asked for.

    Args:
        dtype (str | None): None keeps the config's; ``'float32'`` turns
            autocast off; ``'auto'`` (``--amp``) is float16 with a dynamic
            loss scale on CUDA (``AmpOptimWrapper``, as mmseg) and bfloat16
            on a CPU; ``'bfloat16'``/``'float16'`` choose.

    Raises:
        UserError: the config's wrapper is not one of :data:`WRAPPERS`, or
            the device cannot run the dtype natively.
    """
    wrapper = cfg.optim_wrapper
    kind = wrapper.get('type', 'OptimWrapper')
    if dtype is None:  # the config's own request, checked up front
        if kind in ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper'
                    ) and not torch.cuda.is_available():
            raise UserError(
                f'the config\'s optim_wrapper is {kind} (float16 with a loss '
                'scale), which MMEngine runs on CUDA only and this machine '
                'has none; use --amp (bfloat16 autocast on a CPU) or '
                '--no-amp (float32)')
        if kind == 'AutocastOptimWrapper' and not wrapper.get(
                'fallback_float32', False):
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
            asked = wrapper.get('dtype', 'bfloat16')
            # 'auto' measures and falls back by itself
            reason = '' if asked == 'auto' else unsupported_reason(
                device, asked)
            if reason:
                raise UserError(f'the config trains in {asked} on {device}: '
                                f'{reason}; use --no-amp for float32')
        return
    if kind not in WRAPPERS:
        raise UserError(f'--amp/--no-amp/--amp-dtype work with optim_wrapper '
                        f'types {", ".join(WRAPPERS)}; the config has {kind}')
    for key in ('dtype', 'loss_scale', 'fallback_float32'):
        wrapper.pop(key, None)
    if dtype == 'float32':
        wrapper.type = 'OptimWrapper'
        return
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if dtype == 'auto':
        dtype = 'float16' if device == 'cuda' else 'bfloat16'
    reason = unsupported_reason(device, dtype)
    if reason:
        raise UserError(f'--amp ({dtype} on {device}): {reason}; train in '
                        'float32 (without --amp)')
    if dtype == 'float16':
        wrapper.type = 'AmpOptimWrapper'
        wrapper.loss_scale = 'dynamic'
    else:
        wrapper.type = 'AutocastOptimWrapper'
        wrapper.dtype = dtype


def build_train_config(args: argparse.Namespace):
    cfg = load_config(args.config, args.cfg_options)
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    check_num_classes(cfg, ('train_dataloader', 'val_dataloader'))
    setup_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    add_plugin_hooks(cfg)
    if args.no_amp and args.amp_dtype:
        raise UserError('--no-amp and --amp-dtype contradict each other')
    set_precision(
        cfg, 'float32' if args.no_amp else args.amp_dtype or
        ('auto' if args.amp else None))
    if args.resume == 'auto':
        # the newest intact checkpoint, not blindly what last_checkpoint says
        cfg.resume = True
        cfg.load_from = find_resume_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        check_checkpoint_file(args.resume)
        cfg.resume = True
        cfg.load_from = args.resume
    if cfg.get('resume') and cfg.get('load_from') and \
            not args.allow_mismatched_keys:
        # another num_bases or channel width used to re-initialise the
        # mismatched tensors and train on
        cfg.custom_hooks.append(dict(type='CheckpointKeysHook'))
    remote = ('http://', 'https://', 'open-mmlab://')
    if cfg.get('load_from') and not str(cfg.load_from).startswith(remote):
        check_checkpoint_file(cfg.load_from)
    return cfg


def main(argv: Optional[list] = None) -> None:
    args = parse_args(argv)
    cfg = build_train_config(args)
    if cfg.get('resume') and not cfg.get('load_from'):
        print_log(
            f'--resume: no checkpoint in {cfg.work_dir}; training '
            'starts from scratch',
            logger='current',
            level=logging.WARNING)
    runner = build_runner(cfg)
    try:
        runner.train()
    except (KeyboardInterrupt, Terminated) as err:
        err.hint = resume_hint(cfg.work_dir)
        raise


def resume_hint(work_dir: str) -> str:
    """What an interrupted training leaves to resume from."""
    if resume_candidates(work_dir):
        return ('the checkpoints already written are intact; resume with '
                '--resume')
    return 'no checkpoint was written yet: --resume would start anew'


def cli(argv: Optional[list] = None) -> None:
    run_main('train', main, argv)


if __name__ == '__main__':
    cli()
