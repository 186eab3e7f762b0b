"""Pick the faster training precision of this CPU by measuring it.

Native bfloat16 (AVX512-BF16 or AMX) is necessary for bf16 autocast to pay
on a CPU, not sufficient: on one CPU with AVX512-BF16 the R18-D8 CamVid
recipe ran 2.05x faster in bf16 (docs/benchmarks/precision_cpu.json), on an
Intel Xeon with AVX512-BF16 and no AMX 0.99x (issue 26). So
``AutocastOptimWrapper(dtype='auto')`` asks :func:`probe_cpu_precision`:
a convolution training step of the recipes' shape (a 3x3 conv, BN and
ReLU at 128 channels on a 2 x 40 x 48 map, the R18-D8 CamVid features at
stride 8, forward and backward), timed in float32 and under bf16 autocast,
interleaved, median of ``repeats``. bf16 is picked only when it is at
least :data:`MIN_SPEEDUP` times faster (float32 is the more precise, so a
tie goes to it). The result is cached per machine (CPU model, its bf16
flags, thread count, torch version) in
``$HEMNET_CACHE_DIR/precision_probe.json`` (default
``~/.cache/hemnet_mmseg``), so the probe (a few seconds) runs once.
"""
import json
import os
import os.path as osp
import platform
import time
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn

#: bf16 must be at least this much faster than float32 to be picked
MIN_SPEEDUP = 1.1
#: the cache file's name under the cache folder
CACHE_FILE = 'precision_probe.json'


def cache_dir() -> str:
    """``$HEMNET_CACHE_DIR``, else ``~/.cache/hemnet_mmseg``."""
    return os.environ.get('HEMNET_CACHE_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'hemnet_mmseg')


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform``'s."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """What the probe's answer depends on: the CPU, its bf16 support, the
    thread count and torch."""
    from .autocast_optim_wrapper import cpu_has_native_bf16
    return (f'{cpu_name()} | native_bf16={cpu_has_native_bf16()} | '
            f'threads={torch.get_num_threads()} | torch={torch.__version__}')


def conv_step_times(repeats: int = 5, warmup: int = 2) -> Dict[str, float]:
    """Median seconds of one conv training step in each precision.

    Args:
        repeats (int): timed steps per precision, interleaved.
        warmup (int): untimed steps per precision first.

    Returns:
        dict: ``{'float32': s, 'bfloat16': s}``.
    """
    # the caller's RNG is left as it was: the probe runs only where nothing
    # is cached, and a run seeded before it must not train differently on a
    # machine's first run (its dropout masks) than on later ones
    with torch.random.fork_rng(devices=[]):
        return _conv_step_times(repeats, warmup)


def _conv_step_times(repeats: int, warmup: int) -> Dict[str, float]:
    torch.manual_seed(0)
    block = nn.Sequential(
        nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128),
        nn.ReLU())
    x = torch.randn(2, 128, 40, 48)

    def step(dtype: Optional[torch.dtype]) -> Callable[[], None]:

        def run() -> None:
            block.zero_grad(set_to_none=True)
            with torch.autocast(
                    'cpu',
                    dtype=dtype or torch.bfloat16,
                    enabled=dtype is not None):
                loss = block(x).float().square().mean()
            loss.backward()

        return run

    from hemnet_mmseg.analysis.timing import interleaved
    steps = dict(float32=step(None), bfloat16=step(torch.bfloat16))
    times = interleaved(steps, repeats, warmup, torch.device('cpu'))
    return {name: fig['median'] for name, fig in times.items()}


def _read_cache(path: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(path: str, data: dict) -> None:
    """Write atomically; a cache that cannot be written is only a cost."""
    from hemnet_mmseg.utils.checkpoint_files import atomic_write_text
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1))
    except OSError:
        pass


def probe_cpu_precision(repeats: int = 5,
                        use_cache: bool = True,
                        timer: Callable[..., Dict[str, float]] = None) -> dict:
    """The faster precision of this CPU, measured (or cached).

    Args:
        repeats (int): timed steps per precision. Defaults to 5.
        use_cache (bool): read and write the per-machine cache. Defaults to
            True.
        timer (callable, optional): ``timer(repeats=...)`` returning
            ``{'float32': s, 'bfloat16': s}``; defaults to
            :func:`conv_step_times`.

    Returns:
        dict: ``dtype`` (``'bfloat16'`` or ``'float32'``), ``float32_s``,
        ``bfloat16_s``, ``speedup`` (float32 / bfloat16), ``reason`` (one
        line for the log), ``cached`` (bool), ``date``, ``machine``.
    """
    from .autocast_optim_wrapper import cpu_has_native_bf16
    key = machine_key()
    path = osp.join(cache_dir(), CACHE_FILE)
    if use_cache:
        entry = _read_cache(path).get(key)
        if isinstance(entry,
                      dict) and entry.get('dtype') in ('bfloat16', 'float32'):
            return dict(entry, cached=True)
    if not cpu_has_native_bf16():
        result = dict(
            dtype='float32',
            float32_s=None,
            bfloat16_s=None,
            speedup=None,
            reason='this CPU has no native bfloat16 (AVX512-BF16 or AMX): '
            'emulated bf16 is slower than float32')
    else:
        times = (timer or conv_step_times)(repeats=repeats)
        speedup = times['float32'] / times['bfloat16']
        dtype = 'bfloat16' if speedup >= MIN_SPEEDUP else 'float32'
        result = dict(
            dtype=dtype,
            float32_s=times['float32'],
            bfloat16_s=times['bfloat16'],
            speedup=speedup,
            reason=(f'a 128-channel 3x3 conv training step took '
                    f'{times["float32"] * 1e3:.1f} ms in float32 and '
                    f'{times["bfloat16"] * 1e3:.1f} ms under bf16 autocast '
                    f'({speedup:.2f}x; bf16 is picked from '
                    f'{MIN_SPEEDUP:.2f}x)'))
    result.update(date=time.strftime('%Y-%m-%d'), machine=key)
    if use_cache:
        data = _read_cache(path)
        data[key] = result
        _write_cache(path, data)
    return dict(result, cached=False)


def main(argv: Optional[list] = None) -> dict:
    """``python -m hemnet_mmseg.engine.optimizers.precision_probe
    [--repeats N] [--no-cache]``: print what ``dtype='auto'`` picks here."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument(
        '--no-cache',
        action='store_true',
        help='measure again, and neither read nor write the cache')
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f'--repeats must be >= 1, got {args.repeats}')
    result = probe_cpu_precision(
        repeats=args.repeats, use_cache=not args.no_cache)
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
