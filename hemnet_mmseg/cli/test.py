"""Evaluate a checkpoint with MMEngine's Runner (mmseg 1.x ``tools/test.py``
arguments) and print the metrics."""
import argparse
import json
import os.path as osp
from typing import Optional

from hemnet_mmseg.checkpoint import check_checkpoint_file
from hemnet_mmseg.utils import UserError, atomic_write, load_config
from .args import add_cfg_options, add_launcher_args, parse_with_local_rank
from .config_checks import check_data_roots, check_num_classes, set_work_dir
from .launcher import setup_launcher
from .outputs import check_output_dir
from .process import run_main
from .runner import add_plugin_hooks, build_runner


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate a segmentor checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out', type=str, help='the dir to save the predicted label maps')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='write --out into a folder that already holds files')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='dir to save painted images (relative: under the work dir)')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    add_cfg_options(parser)
    add_launcher_args(parser)
    parser.add_argument(
        '--tta', action='store_true', help='test time augmentation')
    parser.add_argument(
        '--allow-mismatched-keys',
        action='store_true',
        help='evaluate a checkpoint whose keys do not match the model '
        '(refused by default: it would be a mostly random model)')
    return parse_with_local_rank(parser, argv)


def trigger_visualization_hook(cfg, args):
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise UserError('--show/--show-dir need a "visualization" hook in '
                        'default_hooks (SegVisualizationHook)')
    hook['draw'] = True
    # paint every test image unless the config chose an interval
    hook.setdefault('interval', 1)
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        # a relative --show-dir lives in the work dir, not the cwd
        cfg.visualizer['save_dir'] = osp.join(cfg.work_dir, args.show_dir)
    return cfg


def build_test_config(args: argparse.Namespace):
    check_checkpoint_file(args.checkpoint)
    cfg = load_config(args.config, args.cfg_options)
    check_data_roots(cfg, ('test_dataloader', ))
    check_num_classes(cfg, ('test_dataloader', ))
    setup_launcher(cfg, args.launcher)
    set_work_dir(cfg, args.config, args.work_dir)
    add_plugin_hooks(cfg)
    if not args.allow_mismatched_keys:
        cfg.custom_hooks.append(dict(type='CheckpointKeysHook'))
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_pipeline' not in cfg:
            raise UserError(f'--tta: {args.config} has no tta_pipeline')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        check_output_dir(args.out, cfg, 'test_dataloader', args.overwrite)
        cfg.test_evaluator['output_dir'] = args.out
        cfg.test_evaluator['keep_results'] = True
    return cfg


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    cfg = build_test_config(args)
    runner = build_runner(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        metrics = {k: float(v) for k, v in metrics.items()}
        summary = '  '.join(f'{k}: {v:.2f}' for k, v in metrics.items())
        print(
            f'test metrics ({"tta" if args.tta else "single scale"}): '
            f'{summary}',
            flush=True)
        path = osp.join(runner.log_dir, 'test_metrics.json')
        record = dict(
            config=args.config,
            checkpoint=args.checkpoint,
            tta=args.tta,
            metrics=metrics)
        try:  # all of it or none: a full disk left a 0-byte file
            atomic_write(path, json.dumps(record, indent=2))
        except OSError as err:
            raise UserError(f'could not write {path}: {err.strerror}; the '
                            'metrics are printed above') from err
        print(f'metrics written to {path}', flush=True)
    return metrics


def cli(argv: Optional[list] = None) -> None:
    run_main('test', main, argv)


if __name__ == '__main__':
    cli()
