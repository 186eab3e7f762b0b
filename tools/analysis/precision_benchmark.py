"""Seconds per training iteration of a recipe in float32 against bf16
autocast (and bf16 with channels_last) or ``torch.compile``, side by side
in one process.

For each config, one segmentor per contender is built from the config with
the same initial weights, and a few real batches of its training set are
loaded once; a timed step is MMEngine's ``model.train_step(batch,
optim_wrapper)`` (data preprocessor, forward, loss, backward, SGD step),
the contenders interleaved after a warm-up (timing helpers:
:mod:`hemnet_mmseg.analysis.timing`). Data loading is not timed: in
training, dataloader workers overlap it.

Two contenders compile, in float32: ``compiled``, ``torch.compile`` of
``model.train_step`` (what MMEngine's ``compile=True`` does), and
``em_compiled``, ``torch.compile`` of each HEM unit's EM loop only (the
retired ``em_compile`` option). Their first step, which compiles, is timed
apart (``compile_s``, with the graph breaks and graphs dynamo counted).

Usage::

    python tools/analysis/precision_benchmark.py --out docs/benchmarks/precision_cpu.json
"""  # noqa: E501
import argparse
import copy
import json
import os.path as osp
import platform
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             check_output_arguments)
from hemnet_mmseg.analysis.timing import interleaved, ratio
from hemnet_mmseg.engine import cpu_has_native_bf16
from hemnet_mmseg.models import HEMModule
from hemnet_mmseg.utils import load_config, replace_syncbn

REPO = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')
CONFIGS = [
    'configs/hemnet/hemnet_r18-d8_1xb8-600_camvid-160x192.py',
    'configs/hemnet/hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py',
]
F32 = dict(type='OptimWrapper')
BF16 = dict(type='AutocastOptimWrapper', dtype='bfloat16')
#: contender -> (optimizer wrapper settings, channels_last, compile)
CONTENDERS = dict(
    float32=(F32, False, None),
    bf16=(BF16, False, None),
    bf16_channels_last=(BF16, True, None),
    compiled=(F32, False, 'train_step'),
    em_compiled=(F32, False, 'em'),
)


def recipe(config: str, data_root: Optional[str], num_batches: int):
    """The config's model (built, no pretrained weights) and a few batches
    of its training set."""
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if data_root:
        ds_cfg.data_root = data_root
    dataset = DATASETS.build(ds_cfg)
    batch_size = cfg.train_dataloader.batch_size
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    batches = [
        pseudo_collate(
            [dataset[i] for i in order[b * batch_size:(b + 1) * batch_size]])
        for b in range(num_batches)
    ]
    model_cfg = replace_syncbn(cfg.model.to_dict())
    model_cfg['pretrained'] = None
    return cfg, model_cfg, batches


def contenders(cfg, model_cfg, names: List[str]) -> Dict[str, tuple]:
    """(model, optim wrapper) per contender, same initial weights."""
    torch.manual_seed(0)
    base = MODELS.build(model_cfg)
    out = {}
    for name in names:
        wrapper_cfg, channels_last, compile_ = CONTENDERS[name]
        model = copy.deepcopy(base).train()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if compile_ == 'train_step':  # as MMEngine's Runner compiles
            model.train_step = torch.compile(model.train_step)
        elif compile_ == 'em':
            for unit in model.modules():
                if isinstance(unit, HEMModule):
                    unit.run_em = torch.compile(unit.run_em)
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        for key in ('dtype', 'loss_scale', 'fallback_float32'):
            optim_cfg.pop(key, None)
        optim_cfg.update(wrapper_cfg)
        out[name] = (model, build_optim_wrapper(model, optim_cfg))
    return out


def measure(config: str, args) -> dict:
    root = args.camvid_root if 'camvid' in osp.basename(config) else None
    cfg, model_cfg, batches = recipe(config, root, args.num_batches)
    models = contenders(cfg, model_cfg, args.contenders)
    state = {name: 0 for name in models}

    def step(name):
        model, wrapper = models[name]

        def run():
            batch = batches[state[name] % len(batches)]
            state[name] += 1
            model.train_step(batch, wrapper)

        return run

    compiles = {}
    for name in models:
        if CONTENDERS[name][2]:  # the first step compiles: timed apart
            torch._dynamo.reset()
            counters = torch._dynamo.utils.counters
            counters.clear()
            start = time.perf_counter()
            step(name)()
            compiles[name] = dict(
                compile_s=time.perf_counter() - start,
                graph_breaks=sum(counters['graph_break'].values()),
                graphs=counters['stats']['unique_graphs'])
    times = interleaved({name: step(name)
                         for name in models}, args.repeats, args.warmup,
                        torch.device('cpu'))
    ratios = [
        dict(figure='s/iteration', **ratio(times, 'float32', name))
        for name in models if name != 'float32'
    ]
    return dict(
        config=config,
        batch_size=cfg.train_dataloader.batch_size,
        crop=list(cfg.model.data_preprocessor.get('size') or []),
        decode_head=cfg.model.decode_head.type,
        train_step_time=times,
        first_compiled_step=compiles,
        ratios=ratios)


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=CONFIGS)
    add_output_arguments(parser, plot=False)
    parser.add_argument(
        '--camvid-root',
        default=osp.normpath(osp.join(REPO, '..', 'shared', 'data', 'camvid')))
    parser.add_argument(
        '--contenders',
        nargs='+',
        default=['float32', 'bf16', 'bf16_channels_last'],
        choices=list(CONTENDERS))
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--num-batches', type=int, default=4)
    args = parser.parse_args(argv)
    check_output_arguments(parser, args, *args.configs)
    if 'float32' not in args.contenders:
        parser.error('--contenders must include float32 (the denominator)')
    if not cpu_has_native_bf16() and any(CONTENDERS[c][0] is BF16
                                         for c in args.contenders):
        parser.error('this CPU has no native bf16 (AVX512-BF16 or AMX): '
                     'nothing to compare')
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    start = time.time()
    result = dict(
        meta=dict(
            device=f'CPU {platform.processor() or platform.machine()}'
            f', {torch.get_num_threads()} threads',
            native_bf16=cpu_has_native_bf16(),
            torch=torch.__version__,
            date=time.strftime('%Y-%m-%d'),
            repeats=args.repeats,
            warmup=args.warmup,
            command=' '.join(sys.argv)),
        recipes=[measure(c, args) for c in args.configs])
    result['meta']['wall_s'] = round(time.time() - start, 1)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'device: {result["meta"]["device"]}, torch {torch.__version__}')
    for rec in result['recipes']:
        t = rec['train_step_time']
        print(f'{osp.basename(rec["config"])}: ' +
              ', '.join(f'{k} {v["median"]:.3f} s' for k, v in t.items()))
        for r in rec['ratios']:
            print(f'  float32 / {r["denominator"]}: {r["ratio"]:.2f}x '
                  f'(spread {r["spread"]:.1%})')
    print(f'wrote {args.out} ({result["meta"]["wall_s"]} s)')
    return result


if __name__ == '__main__':
    main()
