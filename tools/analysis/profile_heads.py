"""Profile one training step per contender with ``torch.profiler``.

Where the time of a head step goes, and how many kernels it launches: on a
GPU the HEM unit's step is launch-bound (issue 26), so the count of device
kernels per step is the figure the analytic backward and ``torch.compile``
should cut. For each contender of ``tools/analysis/benchmark.py``'s head
figures (``ema``, ``f32ema``, ``hem``, ``hem_autograd``, ``hem_one_step``,
with ``--compile`` ``hem_compiled``) and for the
R50-D8 segmentors (``emanet``, ``hemnet``, ``hemnet_autograd``): warm-up
steps, then one profiled step; written to ``OUT/profile.json``: device
kernels launched, CPU ops, total self device and CPU time, the ten
costliest ops; with ``--trace`` also a Chrome trace per contender.

Usage (the GPU check's first step)::

    python tools/analysis/profile_heads.py --out docs/gpu/DATE/profile
    python tools/analysis/profile_heads.py --quick --out /tmp/p  # CPU, tiny
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, Optional

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from hemnet_mmseg.analysis import contenders
from hemnet_mmseg.analysis.timing import sync, train_step


def profile_step(step: Callable[[], None], device: torch.device, warmup: int,
                 trace: Optional[str]) -> dict:
    """Run ``step`` ``warmup`` times, then profile one call.

    Returns:
        dict: ``device_kernels`` (CUDA kernels launched; 0 on a CPU),
        ``cpu_ops`` (aten ops dispatched), ``device_time_ms`` and
        ``cpu_time_ms`` (self time summed over events) and ``top`` (the ten
        ops with the most self time on the device, else on the CPU).
    """
    for _ in range(warmup):
        step()
    sync(device)
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step()
        sync(device)
    if trace:
        prof.export_chrome_trace(trace)
    events = prof.events()
    kernels = sum(1 for e in events if e.device_type == DeviceType.CUDA)
    cpu_ops = sum(1 for e in events if e.name.startswith('aten::'))
    averages = prof.key_averages()
    on_device = device.type == 'cuda'

    def self_time(avg) -> float:
        return (avg.self_device_time_total
                if on_device else avg.self_cpu_time_total) / 1e3

    top = sorted(averages, key=self_time, reverse=True)[:10]
    return dict(
        device_kernels=kernels,
        cpu_ops=cpu_ops,
        device_time_ms=sum(a.self_device_time_total
                           for a in averages) / 1e3 if on_device else None,
        cpu_time_ms=sum(a.self_cpu_time_total for a in averages) / 1e3,
        top=[
            dict(name=a.key, calls=a.count, self_ms=round(self_time(a), 4))
            for a in top
        ])


def head_profiles(args, device, out: str) -> Dict[str, dict]:
    B, C, H, W = args.head_shape
    heads = contenders.make_heads(args, C, device)
    heads.pop('hem_raw')
    heads.pop('unrolled')
    heads.pop('hem_implicit')  # an adjoint loop: not a per-step figure
    x = [torch.randn(B, C, H, W, device=device).relu()]
    target = torch.randint(0, 19, (B, H, W), device=device)
    results = {}
    for name, head in heads.items():

        def loss(head=head):
            return torch.nn.functional.cross_entropy(head(x), target)

        results[name] = profile_step(
            train_step(head, loss, args.dtype), device, args.warmup,
            osp.join(out, f'head_{name}.json') if args.trace else None)
    return results


def segmentor_profiles(args, device, out: str) -> Dict[str, dict]:
    models, loss_fn = contenders.build_segmentors(args, device)
    results = {}
    for name, model in models.items():
        results[name] = profile_step(
            train_step(model, loss_fn(model), args.dtype), device, args.warmup,
            osp.join(out, f'segmentor_{name}.json') if args.trace else None)
    return results


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default=None)
    parser.add_argument(
        '--amp-dtype',
        choices=sorted(contenders.DTYPES),
        help='profile the steps under autocast')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--compile', action='store_true')
    parser.add_argument(
        '--trace', action='store_true', help='also write Chrome traces')
    parser.add_argument('--skip-segmentor', action='store_true')
    parser.add_argument('--quick', action='store_true')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='write into an --out folder that already holds a profile.json')
    args = parser.parse_args(argv)
    if osp.exists(osp.join(args.out, 'profile.json')) and not args.overwrite:
        parser.error(f'--out {args.out} holds a profile.json; pass '
                     '--overwrite to replace it')
    args.device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    gpu = args.device.type == 'cuda'
    args.norm, args.ema_channels, args.num_bases = 'BN', 512, 64
    args.head_shape = [2, 2048, 64, 128] if gpu else [1, 2048, 32, 64]
    args.seg_size, args.seg_batch = ([512, 1024], 2) if gpu else ([256, 512],
                                                                  1)
    if args.quick:
        args.head_shape, args.seg_size = [1, 32, 8, 8], [64, 64]
        args.ema_channels, args.num_bases, args.warmup = 32, 8, 1
    args.dtype = contenders.DTYPES.get(args.amp_dtype)
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    result = dict(
        meta=dict(
            device=(torch.cuda.get_device_name()
                    if args.device.type == 'cuda' else 'CPU'),
            torch=torch.__version__,
            amp_dtype=args.amp_dtype,
            head_shape=args.head_shape,
            seg_size=args.seg_size,
            date=time.strftime('%Y-%m-%d'),
            command=' '.join(['tools/analysis/profile_heads.py'] +
                             (argv if argv is not None else sys.argv[1:]))),
        head=head_profiles(args, args.device, args.out))
    if not args.skip_segmentor:
        result['segmentor'] = segmentor_profiles(args, args.device, args.out)
    result['meta']['wall_s'] = round(time.time() - start, 1)
    with open(osp.join(args.out, 'profile.json'), 'w') as f:
        json.dump(result, f, indent=1)
    for part in ('head', 'segmentor'):
        for name, fig in result.get(part, {}).items():
            print(f'{part} {name}: {fig["device_kernels"]} device kernels, '
                  f'{fig["cpu_ops"]} CPU ops')
    return result


if __name__ == '__main__':
    main()
