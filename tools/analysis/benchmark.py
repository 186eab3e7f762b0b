"""Cost of HEMNet against EMANet, measured side by side in one process.

Contenders, with the same weights:
  * ``ema``: mmseg's ``EMAHead`` (what users switch from);
  * ``hem``: ``HEMHead`` with its defaults (gradient through the loop,
    eta 0.5, unit-vector N-step, the hand-written backward
    ``em_backward='analytic'``);
  * ``hem_raw``: the same with the first build's raw-mean N-step;
  * ``unrolled``: ``HEMHead(step_size=1)`` with the gradient through the
    loop, standard unrolled EM (the paper's own baseline);
  * ``f32ema``: ``Float32EMAHead``, EMANet with its EM in float32 (the fair
    baseline under autocast);
  * ``hem_autograd``: ``hem`` with autograd's backward through the plain
    functions (``em_backward='autograd'``, the reference; the default
    until 2026-11-30, called ``hem`` in the benchmark files before then,
    when ``hem_analytic`` was today's ``hem``);
  * ``hem_one_step``, ``hem_implicit``: ``hem`` with ``grad_mode``
    ``'one_step'`` and ``'implicit'``;
  * with ``--compile``, ``hem_compiled``: ``hem`` through
    ``torch.compile`` (what MMEngine's ``compile=True`` does to the whole
    model; its first training step and first inference, which compile, are
    timed apart as ``compile_time``; its ops run inside compiled kernels
    and are not counted).

Also, per head, the dispatched ops of one training step (forward and
backward, views excluded) and the bytes autograd saves.

Figures: (1) head training step (forward + backward) time, inference time,
training-step memory, and with ``--amp-dtype`` the training step under
autocast; (2) the EM unit's forward alone (``HEMModule`` vs mmseg's
``EMAModule``); (3) the whole R50-D8 segmentor of the paired Cityscapes
configs, training step and inference; (4) growth with T = 1..10 and with the
number of pixels (linear fit slopes); (5) on a CPU with the deploy extra,
the toy recipe's whole segmentor in PyTorch against its ONNX export in ONNX
Runtime (inference, the same thread count). Timing and memory methods:
:mod:`hemnet_mmseg.analysis.timing`.

Usage::

    python tools/analysis/benchmark.py --out docs/benchmarks/cpu.json
    python tools/analysis/benchmark.py --quick --out /tmp/b.json   # tiny
    python tools/analysis/benchmark.py --amp-dtype bfloat16 --out gpu.json
"""
import argparse
import json
import os.path as osp
import platform
import sys
import time
from typing import List, Optional

import torch
from mmseg.models.decode_heads.ema_head import EMAModule

from hemnet_mmseg.analysis.arguments import (add_output_arguments,
                                             check_output_arguments)
from hemnet_mmseg.analysis.contenders import (DTYPES, build_segmentors,
                                              make_heads)
from hemnet_mmseg.analysis.timing import (flop_counts, inference, interleaved,
                                          linear_fit, op_counts, ratio, sync,
                                          train_memory, train_step)
from hemnet_mmseg.models import HEMModule


def first_call_times(head, loss_fn, x, device) -> dict:
    """Seconds of a compiled head's first training step and first
    inference: the compilation of each graph, and one run."""
    out = {}
    for name, fn in (('train_step', train_step(head, loss_fn(head))),
                     ('inference', inference(head, lambda: head(x)))):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        out[name] = time.perf_counter() - start
    out['unit'] = 's'
    return out


def head_figures(args, device) -> dict:
    B, C, H, W = args.head_shape
    heads = make_heads(args, C, device)
    x = [torch.randn(B, C, H, W, device=device).relu()]
    target = torch.randint(0, 19, (B, H, W), device=device)

    def loss_fn(head):
        return lambda: torch.nn.functional.cross_entropy(head(x), target)

    out = dict(
        shape=dict(
            B=B,
            C_in=C,
            H=H,
            W=W,
            ema_channels=args.ema_channels,
            num_bases=args.num_bases,
            num_stages=3))
    if 'hem_compiled' in heads:
        out['compile_time'] = first_call_times(heads['hem_compiled'], loss_fn,
                                               x, device)
    out['train_step_time'] = interleaved(
        {
            k: train_step(h, loss_fn(h))
            for k, h in heads.items()
        }, args.repeats, args.warmup, device)
    out['inference_time'] = interleaved(
        {
            k: inference(h, lambda h=h: h(x))
            for k, h in heads.items()
        }, args.repeats, args.warmup, device)
    for h in heads.values():
        h.train()
    out['train_memory'] = {
        k: train_memory(loss_fn(h), device)
        for k, h in heads.items()
    }
    out['op_counts'] = {
        k: op_counts(loss_fn(h))
        for k, h in heads.items() if k != 'hem_compiled'
    }
    out['flops'] = {
        k: flop_counts(loss_fn(h))
        for k, h in heads.items() if k != 'hem_compiled'
    }
    if args.amp_dtype:
        dtype = DTYPES[args.amp_dtype]
        out['amp_train_step_time'] = interleaved(
            {
                k: train_step(h, loss_fn(h), dtype)
                for k, h in heads.items()
            }, args.repeats, args.warmup, device)
        out['amp_dtype'] = args.amp_dtype
    return out


def unit_figures(args, device) -> dict:
    B, _, H, W = args.head_shape
    C, K = args.ema_channels, args.num_bases
    torch.manual_seed(0)
    ema = EMAModule(C, K, 3, 0.1).to(device).eval()
    hem_em = HEMModule(C, K, 3, step_size=1.0, grad_mode='none').to(device)
    hem = HEMModule(C, K, 3).to(device)
    for m in (hem_em, hem):
        m.bases.copy_(ema.bases)
        m.eval()
    feats = torch.randn(B, C, H, W, device=device)
    fns = dict(ema_module=ema, hem_module_eta1=hem_em, hem_module_default=hem)
    return dict(
        shape=dict(B=B, C=C, H=H, W=W, K=K, T=3),
        forward_time=interleaved(
            {
                k: inference(m, lambda m=m: m(feats))
                for k, m in fns.items()
            }, args.repeats, args.warmup, device))


def segmentor_figures(args, device) -> dict:
    H, W = args.seg_size
    B = args.seg_batch
    models, loss_fn = build_segmentors(args, device)
    imgs, samples = loss_fn.inputs
    reps = max(3, args.repeats // 2)
    out = dict(
        shape=dict(B=B, H=H, W=W, backbone='R50-D8'),
        train_step_time=interleaved(
            {
                k: train_step(m, loss_fn(m))
                for k, m in models.items()
            }, reps, 1, device),
        inference_time=interleaved(
            {
                k: inference(m, lambda m=m: m(imgs, samples, mode='tensor'))
                for k, m in models.items()
            }, reps, 1, device))
    if args.amp_dtype:
        dtype = DTYPES[args.amp_dtype]
        out['amp_train_step_time'] = interleaved(
            {
                k: train_step(m, loss_fn(m), dtype)
                for k, m in models.items()
            }, reps, 1, device)
    for m in models.values():
        m.train()
    out['train_memory'] = {
        k: train_memory(loss_fn(m), device)
        for k, m in models.items()
    }
    return out


def scaling_figures(args, device) -> dict:
    """Train-step time and memory of the EM unit alone against T and N."""
    B = args.head_shape[0]
    C, K = args.ema_channels, args.num_bases
    out = dict(T={}, pixels={})

    def unit_loss(m, feats):
        return lambda: m(feats.detach().requires_grad_(True)).square().mean()

    def unit_step(m, feats):
        loss = unit_loss(m, feats)

        def step():
            m.train()
            value = loss()
            if value.requires_grad:  # EMAModule: nothing to backpropagate
                value.backward()

        return step

    def measure(feats, T):
        torch.manual_seed(0)
        mods = dict(
            ema=EMAModule(C, K, T, 0.1).to(device),
            hem=HEMModule(C, K, T).to(device))
        t = interleaved({
            k: unit_step(m, feats)
            for k, m in mods.items()
        }, max(3, args.repeats // 2), 1, device)
        mem = {
            k: train_memory(unit_loss(m, feats), device)['bytes']
            for k, m in mods.items()
        }
        return dict(time=t, memory_bytes=mem)

    H, W = args.head_shape[2:]
    feats = torch.randn(B, C, H, W, device=device)
    for T in range(1, args.max_stages + 1):
        out['T'][T] = measure(feats, T)
    for scale in args.pixel_scales:
        h, w = int(H * scale), int(W * scale)
        feats = torch.randn(B, C, h, w, device=device)
        out['pixels'][h * w] = dict(measure(feats, 3), H=h, W=w)
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


#: the toy recipe, whose whole segmentor the ONNX figure exports
TOY_CONFIG = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..', 'configs', 'hemnet',
    'hemnet_r18-d8_1xb8-1k_toy-shapes-64x64.py')


def onnx_figures(args, device) -> dict:
    """CPU inference of the toy recipe's whole segmentor (random weights):
    PyTorch against ONNX Runtime on the opset-11 export of
    ``tools/export_onnx.py``, one image at each of ``args.onnx_sizes``,
    interleaved, both on ``torch.get_num_threads()`` threads."""
    import tempfile

    import numpy as np
    import onnxruntime as ort
    from mmseg.registry import MODELS

    from hemnet_mmseg.cli.export_onnx import export
    from hemnet_mmseg.utils import load_config, replace_syncbn
    cfg = load_config(TOY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(replace_syncbn(cfg.model.to_dict())).eval()
    threads = torch.get_num_threads()
    out = dict(threads=threads, sizes={})
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'toy.onnx')
        wrapper = export(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(
            path, options, providers=['CPUExecutionProvider'])
        for size in args.onnx_sizes:
            image = torch.rand(1, 3, size, size) * 255
            feed = {'image': image.numpy()}
            times = interleaved(
                dict(
                    pytorch=inference(wrapper, lambda: wrapper(image)),
                    onnxruntime=lambda: session.run(None, feed)), args.repeats,
                args.warmup, torch.device('cpu'))
            (got, ) = session.run(None, feed)
            with torch.no_grad():
                diff = float(np.abs(got - wrapper(image).numpy()).max())
            out['sizes'][f'{size}x{size}'] = dict(
                inference_time=times, max_abs_diff=diff)
    return out


#: the head ratios reported (numerator, denominator)
PAIRS = (('hem', 'ema'), ('hem', 'unrolled'), ('hem', 'hem_raw'),
         ('hem', 'f32ema'), ('hem_autograd', 'f32ema'),
         ('hem', 'hem_autograd'), ('hem_one_step', 'f32ema'),
         ('hem_implicit', 'f32ema'), ('hem_compiled',
                                      'f32ema'), ('hem_compiled', 'hem'))

#: the segmentor ratios reported
SEGMENTOR_PAIRS = (('hemnet', 'emanet'), ('hemnet', 'f32emanet'),
                   ('hemnet_autograd', 'f32emanet'), ('hemnet',
                                                      'hemnet_autograd'))


def ratios(result: dict) -> List[dict]:
    rows = []

    def add(name, fig, a, b):
        if fig is not None:
            rows.append(dict(figure=name, **ratio(fig, a, b)))

    def add_exact(name, fig, a, b):
        """A ratio of exact totals (bytes, op counts, FLOPs): no spread."""
        total = {
            k: v['bytes'] if 'bytes' in v else v['forward'] + v['backward']
            for k, v in fig.items() if k in (a, b)
        }
        rows.append(
            dict(
                figure=name,
                ratio=total[a] / total[b],
                numerator=a,
                denominator=b,
                spread=0.0))

    head = result.get('head', {})
    for fig in ('train_step_time', 'inference_time', 'amp_train_step_time'):
        if fig in head:
            for num, den in PAIRS:
                if num in head[fig] and den in head[fig]:
                    add(f'head {fig}', head[fig], num, den)
    for fig in ('train_memory', 'op_counts', 'flops'):
        for num, den in PAIRS:
            if num in head.get(fig, {}) and den in head.get(fig, {}):
                add_exact(f'head {fig}', head[fig], num, den)
    if 'unit' in result:
        f = result['unit']['forward_time']
        add('EM unit forward', f, 'hem_module_eta1', 'ema_module')
        add('EM unit forward', f, 'hem_module_default', 'ema_module')
    seg = result.get('segmentor', {})
    for fig in ('train_step_time', 'inference_time', 'amp_train_step_time'):
        if fig in seg:
            for num, den in SEGMENTOR_PAIRS:
                if num in seg[fig] and den in seg[fig]:
                    add(f'segmentor {fig}', seg[fig], num, den)
    for size, fig in result.get('onnx', {}).get('sizes', {}).items():
        add(
            f'toy segmentor inference {size} '
            f'({result["onnx"]["threads"]} threads)', fig['inference_time'],
            'onnxruntime', 'pytorch')
    if 'train_memory' in seg:
        for num, den in SEGMENTOR_PAIRS:
            if num in seg['train_memory'] and den in seg['train_memory']:
                add_exact('segmentor train_memory', seg['train_memory'], num,
                          den)
    return rows


def parse_args(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_output_arguments(parser, plot=False)
    parser.add_argument(
        '--device',
        default=None,
        help='cuda or cpu (default: cuda when available)')
    parser.add_argument(
        '--head-shape',
        type=int,
        nargs=4,
        default=None,
        metavar=('B', 'C', 'H', 'W'),
        help='head input; default 2 2048 64 128 on CUDA '
        '(Cityscapes 512x1024 at stride 8), 1 2048 32 64 on '
        'CPU')
    parser.add_argument(
        '--ema-channels',
        type=int,
        default=512,
        help='C of the EM unit (the R50/R101 configs: 512)')
    parser.add_argument(
        '--num-bases',
        type=int,
        default=64,
        help='K (the R50/R101 configs: 64)')
    parser.add_argument(
        '--seg-size',
        type=int,
        nargs=2,
        default=None,
        metavar=('H', 'W'),
        help='segmentor input; default 512 1024 on CUDA, '
        '256 512 on CPU')
    parser.add_argument('--seg-batch', type=int, default=None)
    parser.add_argument('--repeats', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--max-stages', type=int, default=10)
    parser.add_argument(
        '--pixel-scales', type=float, nargs='+', default=[0.5, 0.75, 1.0, 1.5])
    parser.add_argument('--norm', default='BN', choices=['BN', 'SyncBN'])
    parser.add_argument(
        '--amp-dtype',
        choices=sorted(DTYPES),
        help='also time training steps under autocast')
    parser.add_argument(
        '--skip',
        nargs='*',
        default=[],
        choices=['head', 'unit', 'segmentor', 'scaling', 'onnx'])
    parser.add_argument(
        '--onnx-sizes',
        type=int,
        nargs='+',
        default=[64, 256, 512],
        help='square image sizes of the ONNX Runtime figure (CPU)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='add hem_compiled (torch.compile of hem) to the head figures; '
        'its compilation is timed apart')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny shapes and 2 repeats (for tests)')
    args = parser.parse_args(argv)
    check_output_arguments(parser, args)
    device = torch.device(
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    gpu = device.type == 'cuda'
    if args.quick:
        args.head_shape = args.head_shape or [1, 32, 8, 8]
        args.ema_channels, args.num_bases = 32, 8
        args.seg_size = args.seg_size or [64, 64]
        args.repeats = args.repeats or 2
        args.max_stages = min(args.max_stages, 3)
        args.pixel_scales = [0.5, 1.0]
        args.onnx_sizes = [32]
        args.warmup = 1
    args.head_shape = args.head_shape or ([2, 2048, 64, 128]
                                          if gpu else [1, 2048, 32, 64])
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
    result = dict(
        meta=dict(
            device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                    else f'CPU {platform.processor() or platform.machine()}, '
                    f'{torch.get_num_threads()} threads'),
            torch=torch.__version__,
            date=time.strftime('%Y-%m-%d'),
            repeats=args.repeats,
            warmup=args.warmup,
            amp_dtype=args.amp_dtype,
            command=' '.join(sys.argv)))
    figures = dict(
        head=head_figures,
        unit=unit_figures,
        segmentor=segmentor_figures,
        scaling=scaling_figures,
        onnx=onnx_figures)
    if device.type != 'cuda':
        try:
            import onnxruntime  # noqa: F401
        except ImportError:  # the deploy extra
            args.skip.append('onnx')
    else:
        args.skip.append('onnx')  # a CPU figure
    for name, fn in figures.items():
        if name not in args.skip:
            result[name] = fn(args, device)
    result['ratios'] = ratios(result)
    result['meta']['wall_s'] = round(time.time() - start, 1)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'device: {result["meta"]["device"]}, torch {torch.__version__}')
    print(f'{"figure":<36}{"ratio":>8}  {"of":<24}{"spread":>8}')
    for r in result['ratios']:
        print(f'{r["figure"]:<36}{r["ratio"]:>8.3f}  '
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
