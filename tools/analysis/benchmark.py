"""Cost of HEMNet against EMANet, measured side by side in one process.

Contenders, with the same weights:
  * ``ema``: mmseg's ``EMAHead`` (what users switch from);
  * ``hem``: ``HEMHead`` with its defaults (gradient through the loop);
  * ``unrolled``: ``HEMHead(step_size=1)`` with the gradient through the loop,
    standard unrolled EM (the paper's own baseline).

Figures: (1) head training step (forward + backward) time, inference time,
training-step memory; (2) the EM unit's forward alone (``HEMModule`` vs
mmseg's ``EMAModule``); (3) the whole R50-D8 segmentor of the paired
Cityscapes configs, training step and inference; (4) growth with T = 1..10
and with the number of pixels (linear fit slopes).

Timing: warm-up, then the contenders interleaved (A B C A B C ...) so that
machine drift hits all alike; median, min and max of the repeats. Memory:
on CUDA the allocator's peak (``max_memory_allocated``) above the inputs; on
CPU the bytes autograd saves for backward (``saved_tensors_hooks``, unique
storages), not process RSS.

Usage::

    python tools/analysis/benchmark.py --out docs/benchmarks/cpu.json
    python tools/analysis/benchmark.py --quick --out /tmp/b.json   # tiny
"""
import argparse
import json
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
from mmseg.models.decode_heads.ema_head import EMAHead, EMAModule  # noqa

import hemnet_mmseg  # noqa: E402,F401
from hemnet_mmseg.models import HEMHead, HEMModule  # noqa: E402

REPO = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def interleaved(fns: Dict[str, Callable[[], None]], repeats: int,
                warmup: int, device: torch.device) -> Dict[str, dict]:
    """Time each callable, interleaved; seconds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: stats(v, 's') for name, v in times.items()}


def stats(values: List[float], unit: str) -> dict:
    return dict(median=statistics.median(values), min=min(values),
                max=max(values), repeats=len(values), unit=unit,
                values=values)


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of the unique storages autograd saves for backward in fn()."""
    seen = {}

    def pack(t):
        try:
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def train_memory(fn: Callable[[], torch.Tensor],
                 device: torch.device) -> dict:
    """Training-step memory: CUDA peak above the start, or saved bytes."""
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn().backward()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        return dict(bytes=peak, method='cuda max_memory_allocated')
    return dict(bytes=saved_bytes(fn),
                method='autograd saved tensors (unique storages)')


def make_heads(in_channels: int, num_classes: int, num_stages: int,
               device: torch.device, norm: str) -> Dict[str, torch.nn.Module]:
    cfg = dict(in_channels=in_channels, in_index=0, channels=256,
               ema_channels=512, num_bases=64, num_stages=num_stages,
               num_classes=num_classes, dropout_ratio=0.1,
               norm_cfg=dict(type=norm, requires_grad=True),
               align_corners=False)
    torch.manual_seed(0)
    heads = dict(ema=EMAHead(**cfg), hem=HEMHead(**cfg),
                 unrolled=HEMHead(step_size=1.0, **cfg))
    state = heads['ema'].state_dict()
    for name in ('hem', 'unrolled'):
        heads[name].load_state_dict(state)
    return {k: v.to(device) for k, v in heads.items()}


def head_figures(args, device) -> dict:
    B, C, H, W = args.head_shape
    heads = make_heads(C, 19, 3, device, args.norm)
    x = [torch.randn(B, C, H, W, device=device).relu()]
    target = torch.randint(0, 19, (B, H, W), device=device)

    def loss_fn(head):
        return lambda: torch.nn.functional.cross_entropy(head(x), target)

    def train_step(head):
        def step():
            head.train()
            head.zero_grad(set_to_none=True)
            loss_fn(head)().backward()
        return step

    def infer(head):
        def run():
            head.eval()
            with torch.no_grad():
                head(x)
        return run

    out = dict(shape=dict(B=B, C_in=C, H=H, W=W, ema_channels=512,
                          num_bases=64, num_stages=3))
    out['train_step_time'] = interleaved(
        {k: train_step(h) for k, h in heads.items()}, args.repeats,
        args.warmup, device)
    out['inference_time'] = interleaved(
        {k: infer(h) for k, h in heads.items()}, args.repeats, args.warmup,
        device)
    for h in heads.values():
        h.train()
    out['train_memory'] = {
        k: train_memory(loss_fn(h), device) for k, h in heads.items()
    }
    if args.amp and device.type == 'cuda':
        def amp_step(head):
            def step():
                head.train()
                head.zero_grad(set_to_none=True)
                with torch.autocast('cuda', dtype=torch.float16):
                    loss = loss_fn(head)()
                loss.backward()
            return step
        out['amp_train_step_time'] = interleaved(
            {k: amp_step(h) for k, h in heads.items()}, args.repeats,
            args.warmup, device)
    return out


def unit_figures(args, device) -> dict:
    B, _, H, W = args.head_shape
    C, K = 512, 64
    torch.manual_seed(0)
    ema = EMAModule(C, K, 3, 0.1).to(device).eval()
    hem_em = HEMModule(C, K, 3, step_size=1.0, backprop_em=False).to(device)
    hem = HEMModule(C, K, 3).to(device)
    for m in (hem_em, hem):
        m.bases.copy_(ema.bases)
        m.eval()
    feats = torch.randn(B, C, H, W, device=device)

    def fwd(m):
        def run():
            with torch.no_grad():
                m(feats)
        return run

    return dict(shape=dict(B=B, C=C, H=H, W=W, K=K, T=3),
                forward_time=interleaved(
                    dict(ema_module=fwd(ema), hem_module_eta1=fwd(hem_em),
                         hem_module_default=fwd(hem)),
                    args.repeats, args.warmup, device))


def segmentor_figures(args, device) -> dict:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from hemnet_mmseg.cli.common import replace_syncbn
    init_default_scope('mmseg')
    H, W = args.seg_size
    models = {}
    for algo in ('emanet', 'hemnet'):
        cfg = Config.fromfile(osp.join(
            REPO, 'configs', algo,
            f'{algo}_r50-d8_4xb2-80k_cityscapes-512x1024.py'))
        mcfg = cfg.model.to_dict()
        mcfg['pretrained'] = None
        if device.type != 'cuda' or args.norm == 'BN':
            replace_syncbn(mcfg)
        torch.manual_seed(0)
        models[algo] = MODELS.build(mcfg).to(device)
    models['hemnet'].load_state_dict(models['emanet'].state_dict())
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    B = args.seg_batch
    imgs = torch.randn(B, 3, H, W, device=device)
    samples = []
    for _ in range(B):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, H, W),
                                                    device=device))
        s.set_metainfo(dict(img_shape=(H, W), pad_shape=(H, W),
                            ori_shape=(H, W)))
        samples.append(s)

    def train_step(model):
        def step():
            model.train()
            model.zero_grad(set_to_none=True)
            losses = model(imgs, samples, mode='loss')
            sum(v for k, v in losses.items() if 'loss' in k).backward()
        return step

    def infer(model):
        def run():
            model.eval()
            with torch.no_grad():
                model(imgs, samples, mode='tensor')
        return run

    reps = max(3, args.repeats // 2)
    return dict(shape=dict(B=B, H=H, W=W, backbone='R50-D8'),
                train_step_time=interleaved(
                    {k: train_step(m) for k, m in models.items()}, reps, 1,
                    device),
                inference_time=interleaved(
                    {k: infer(m) for k, m in models.items()}, reps, 1,
                    device))


def linear_fit(xs: List[float], ys: List[float]) -> dict:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx)**2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icpt = my - slope * mx
    ss_tot = sum((y - my)**2 for y in ys) or 1e-30
    ss_res = sum((y - icpt - slope * x)**2 for x, y in zip(xs, ys))
    return dict(slope=slope, intercept=icpt, r2=1 - ss_res / ss_tot)


def scaling_figures(args, device) -> dict:
    """Train-step time and memory of the EM unit alone against T and N."""
    B = args.head_shape[0]
    C, K = 512, 64
    out = dict(T={}, pixels={})

    def unit_step(m, feats):
        def step():
            m.train()
            f = feats.detach().requires_grad_(True)
            out = m(f).square().mean()
            if out.requires_grad:  # EMAModule: nothing to backpropagate
                out.backward()
        return step

    def unit_loss(m, feats):
        def fn():
            m.train()
            return m(feats.detach().requires_grad_(True)).square().mean()
        return fn

    H, W = args.head_shape[2:]
    feats = torch.randn(B, C, H, W, device=device)
    for T in range(1, args.max_stages + 1):
        torch.manual_seed(0)
        mods = dict(ema=EMAModule(C, K, T, 0.1).to(device),
                    hem=HEMModule(C, K, T).to(device))
        t = interleaved({k: unit_step(m, feats) for k, m in mods.items()},
                        max(3, args.repeats // 2), 1, device)
        mem = {k: train_memory(unit_loss(m, feats), device)['bytes']
               for k, m in mods.items()}
        out['T'][T] = dict(time=t, memory_bytes=mem)
    for scale in args.pixel_scales:
        h, w = int(H * scale), int(W * scale)
        feats = torch.randn(B, C, h, w, device=device)
        torch.manual_seed(0)
        mods = dict(ema=EMAModule(C, K, 3, 0.1).to(device),
                    hem=HEMModule(C, K, 3).to(device))
        t = interleaved({k: unit_step(m, feats) for k, m in mods.items()},
                        max(3, args.repeats // 2), 1, device)
        mem = {k: train_memory(unit_loss(m, feats), device)['bytes']
               for k, m in mods.items()}
        out['pixels'][h * w] = dict(time=t, memory_bytes=mem, H=h, W=w)
    fits = {}
    for axis in ('T', 'pixels'):
        xs = sorted(out[axis])
        for k in ('ema', 'hem'):
            fits[f'{axis}/{k}/time'] = linear_fit(
                xs, [out[axis][x]['time'][k]['median'] for x in xs])
            fits[f'{axis}/{k}/memory'] = linear_fit(
                xs, [out[axis][x]['memory_bytes'][k] for x in xs])
    out['linear_fits'] = fits
    out['note'] = ('the EM unit alone, forward + backward of a dummy loss; '
                   'EMAModule gets no gradient through its loop')
    return out


def ratios(result: dict) -> List[dict]:
    rows = []

    def add(name, fig, a, b, key='median'):
        if fig is None:
            return
        va, vb = fig[a][key], fig[b][key]
        spread = max((fig[a]['max'] - fig[a]['min']) / va,
                     (fig[b]['max'] - fig[b]['min']) / vb)
        rows.append(dict(figure=name, ratio=va / vb, numerator=a,
                         denominator=b, spread=spread))

    head = result.get('head', {})
    for fig in ('train_step_time', 'inference_time', 'amp_train_step_time'):
        if fig in head:
            add(f'head {fig}', head[fig], 'hem', 'ema')
            add(f'head {fig}', head[fig], 'hem', 'unrolled')
    if 'train_memory' in head:
        mem = head['train_memory']
        for b in ('ema', 'unrolled'):
            rows.append(dict(figure='head train_memory',
                             ratio=mem['hem']['bytes'] / mem[b]['bytes'],
                             numerator='hem', denominator=b, spread=0.0))
    if 'unit' in result:
        f = result['unit']['forward_time']
        add('EM unit forward', f, 'hem_module_eta1', 'ema_module')
        add('EM unit forward', f, 'hem_module_default', 'ema_module')
    if 'segmentor' in result:
        for fig in ('train_step_time', 'inference_time'):
            add(f'segmentor {fig}', result['segmentor'][fig], 'hemnet',
                'emanet')
    return rows


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='JSON output path')
    parser.add_argument('--device', default=None,
                        help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--head-shape', type=int, nargs=4, default=None,
                        metavar=('B', 'C', 'H', 'W'),
                        help='head input; default 2 2048 64 128 on CUDA '
                        '(Cityscapes 512x1024 at stride 8), 1 2048 32 64 on '
                        'CPU')
    parser.add_argument('--seg-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='segmentor input; default 512 1024 on CUDA, '
                        '256 512 on CPU')
    parser.add_argument('--seg-batch', type=int, default=None)
    parser.add_argument('--repeats', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--max-stages', type=int, default=10)
    parser.add_argument('--pixel-scales', type=float, nargs='+',
                        default=[0.5, 0.75, 1.0, 1.5])
    parser.add_argument('--norm', default='BN', choices=['BN', 'SyncBN'])
    parser.add_argument('--amp', action='store_true',
                        help='also time fp16 autocast training steps (CUDA)')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['head', 'unit', 'segmentor', 'scaling'])
    parser.add_argument('--quick', action='store_true',
                        help='tiny shapes and 2 repeats (for tests)')
    args = parser.parse_args(argv)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    gpu = device.type == 'cuda'
    if args.quick:
        args.head_shape = args.head_shape or [1, 32, 8, 8]
        args.seg_size = args.seg_size or [64, 64]
        args.repeats = args.repeats or 2
        args.max_stages = min(args.max_stages, 3)
        args.pixel_scales = [0.5, 1.0]
        args.warmup = 1
    args.head_shape = args.head_shape or ([2, 2048, 64, 128] if gpu else
                                          [1, 2048, 32, 64])
    args.seg_size = args.seg_size or ([512, 1024] if gpu else [256, 512])
    args.seg_batch = args.seg_batch or (2 if gpu else 1)
    args.repeats = args.repeats or (20 if gpu else 7)
    args.device = device
    return args


def main(argv: Optional[list] = None) -> dict:
    args = parse_args(argv)
    device = args.device
    torch.backends.cudnn.benchmark = False
    start = time.time()
    result = dict(meta=dict(
        device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                else f'CPU {platform.processor() or platform.machine()}, '
                f'{torch.get_num_threads()} threads'),
        torch=torch.__version__, date=time.strftime('%Y-%m-%d'),
        repeats=args.repeats, warmup=args.warmup,
        command=' '.join(sys.argv)))
    if 'head' not in args.skip:
        result['head'] = head_figures(args, device)
    if 'unit' not in args.skip:
        result['unit'] = unit_figures(args, device)
    if 'segmentor' not in args.skip:
        result['segmentor'] = segmentor_figures(args, device)
    if 'scaling' not in args.skip:
        result['scaling'] = scaling_figures(args, device)
    result['ratios'] = ratios(result)
    result['meta']['wall_s'] = round(time.time() - start, 1)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'device: {result["meta"]["device"]}, torch {torch.__version__}')
    print(f'{"figure":<32}{"ratio":>8}  {"of":<24}{"spread":>8}')
    for r in result['ratios']:
        print(f'{r["figure"]:<32}{r["ratio"]:>8.3f}  '
              f'{r["numerator"] + "/" + r["denominator"]:<24}'
              f'{r["spread"]:>8.1%}')
    if 'scaling' in result:
        for key, fit in result['scaling']['linear_fits'].items():
            print(f'  fit {key:<20} slope {fit["slope"]:.4g}  '
                  f'R^2 {fit["r2"]:.4f}')
    print(f'wrote {args.out} ({result["meta"]["wall_s"]} s)')
    return result


if __name__ == '__main__':
    main()
