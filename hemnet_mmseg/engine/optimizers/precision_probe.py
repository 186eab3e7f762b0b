"""Pick the faster training precision of this CPU by measuring it.

Native bfloat16 (AVX512-BF16 or AMX, :func:`cpu_has_native_bf16`) is
necessary for bf16 autocast to pay on a CPU, not sufficient: on one CPU with
AVX512-BF16 the R18-D8 CamVid recipe ran 2.05x faster in bf16
(docs/benchmarks/precision_cpu.json), on an Intel Xeon with AVX512-BF16 and
no AMX 0.99x (issue 26). So ``AutocastOptimWrapper(dtype='auto')`` asks
:func:`probe_cpu_precision`: a convolution training step of the recipes'
shape (a 3x3 conv, BN and ReLU at 128 channels on a 2 x 40 x 48 map, the
R18-D8 CamVid features at stride 8, forward and backward), timed in float32
and under bf16 autocast, interleaved, the fastest of ``repeats`` each (other
work on the machine only adds time). bf16 is picked only when it is at least
:data:`MIN_SPEEDUP` times faster (float32 is the more precise, so a tie goes
to it); a speedup within :data:`MARGIN` of that threshold, or one measured
while the machine was busy (a 1-minute load average above :data:`MAX_LOAD`
per CPU), is measured again, up to :data:`MAX_ROUNDS` times, keeping each
precision's fastest step.

The answer is cached per machine (CPU model, its bf16 flags, thread count,
torch version) in ``$HEMNET_CACHE_DIR/precision_probe.json`` (default
``~/.cache/hemnet_mmseg``), so the probe (a few seconds) runs once and every
later run on the machine trains in the same precision (the reason, with the
load it was measured under, is logged and kept in ``run.json``). The cache
is read as
untrusted: only a regular file of at most :data:`MAX_CACHE_BYTES`, and an
entry that is not what the probe writes counts as absent.
"""
import json
import os
import os.path as osp
import platform
import stat
import time
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn

#: bf16 must be at least this much faster than float32 to be picked
MIN_SPEEDUP = 1.1
#: a speedup within this factor of MIN_SPEEDUP is measured again
MARGIN = 1.15
#: measurements at most of a marginal speedup
MAX_ROUNDS = 3
#: at a higher 1-minute load average per CPU the probe measures every round
MAX_LOAD = 0.5
#: the cache file's name under the cache folder, and its largest size read
CACHE_FILE = 'precision_probe.json'
MAX_CACHE_BYTES = 1 << 20
#: the ``/proc/cpuinfo`` flags of native bfloat16 arithmetic
NATIVE_BF16_FLAGS = frozenset({'avx512_bf16', 'amx_bf16'})


def cpu_info() -> Dict[str, str]:
    """The first processor's ``/proc/cpuinfo`` fields (empty elsewhere)."""
    info = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(':')
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively: its flags name
    AVX512-BF16 or AMX-BF16 (Linux; elsewhere False, so bf16 autocast on
    the CPU is refused or measured rather than assumed)."""
    return bool(NATIVE_BF16_FLAGS & set(cpu_info().get('flags', '').split()))


def cache_dir() -> str:
    """``$HEMNET_CACHE_DIR``, else ``~/.cache/hemnet_mmseg``."""
    return os.environ.get('HEMNET_CACHE_DIR') or osp.join(
        osp.expanduser('~'), '.cache', 'hemnet_mmseg')


def machine_key() -> str:
    """What the probe's answer depends on: the CPU, its bf16 support, the
    thread count and torch."""
    name = cpu_info().get('model name') or platform.processor() or \
        platform.machine()
    return (f'{name} | native_bf16={cpu_has_native_bf16()} | '
            f'threads={torch.get_num_threads()} | torch={torch.__version__}')


def conv_step_times(repeats: int = 5, warmup: int = 2) -> Dict[str, float]:
    """The fastest of ``repeats`` conv training steps in each precision,
    timed interleaved, in seconds: ``{'float32': s, 'bfloat16': s}``.

    The caller's RNG is left as it was: the probe runs only where nothing is
    cached, and a run seeded before it must not train differently (its
    dropout masks) on a machine's first run than on later ones.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        block = nn.Sequential(
            nn.Conv2d(128, 128, 3, padding=1, bias=False), nn.BatchNorm2d(128),
            nn.ReLU())
        x = torch.randn(2, 128, 40, 48)
        times = dict(float32=float('inf'), bfloat16=float('inf'))
        for i in range(warmup + repeats):
            for name in times:
                start = time.perf_counter()
                block.zero_grad(set_to_none=True)
                with torch.autocast(
                        'cpu', dtype=torch.bfloat16,
                        enabled=name == 'bfloat16'):
                    loss = block(x).float().square().mean()
                loss.backward()
                if i >= warmup:
                    times[name] = min(times[name], time.perf_counter() - start)
    return times


def load_per_cpu() -> float:
    """The 1-minute load average per CPU (0 where unknown)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except (AttributeError, OSError):
        return 0.0


def _read_cache(path: str) -> dict:
    """The cache's entries, or ``{}`` for anything but a regular file of
    at most :data:`MAX_CACHE_BYTES` holding a JSON object (a FIFO would
    block a read, ``/dev/zero`` never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return {}
    with os.fdopen(fd, 'rb') as f:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            raw = f.read(MAX_CACHE_BYTES + 1)
        except OSError:
            return {}
    try:
        data = json.loads(raw) if len(raw) <= MAX_CACHE_BYTES else None
    except (ValueError, RecursionError):
        data = None
    return data if isinstance(data, dict) else {}


def _valid_entry(entry) -> bool:
    return isinstance(
        entry,
        dict) and entry.get('dtype') in ('bfloat16', 'float32') and isinstance(
            entry.get('reason'), str) and isinstance(entry.get('date'), str)


def _write_cache(path: str, data: dict) -> None:
    """Write atomically; a cache that cannot be written is only a cost."""
    from ...utils.io import atomic_write
    try:
        os.makedirs(osp.dirname(path), exist_ok=True)
        atomic_write(path, json.dumps(data, indent=1))
    except OSError:
        pass


def _measure(timer: Callable[..., Dict[str, float]],
             repeats: int,
             busy: bool = False) -> dict:
    """Time both precisions, again while the speedup is marginal (every
    round on a busy machine)."""
    times = timer(repeats=repeats)
    rounds = 1
    while rounds < MAX_ROUNDS and (busy or
                                   MIN_SPEEDUP / MARGIN <= times['float32'] /
                                   times['bfloat16'] < MIN_SPEEDUP * MARGIN):
        more = timer(repeats=2 * repeats)
        times = {k: min(times[k], more[k]) for k in times}
        rounds += 1
    speedup = times['float32'] / times['bfloat16']
    return dict(
        dtype='bfloat16' if speedup >= MIN_SPEEDUP else 'float32',
        float32_s=times['float32'],
        bfloat16_s=times['bfloat16'],
        speedup=speedup,
        rounds=rounds,
        reason=(f'a 128-channel 3x3 conv training step took '
                f'{times["float32"] * 1e3:.1f} ms in float32 and '
                f'{times["bfloat16"] * 1e3:.1f} ms under bf16 autocast '
                f'({speedup:.2f}x, fastest of {rounds} measurement(s); '
                f'bf16 is picked from {MIN_SPEEDUP:.2f}x)'))


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
    key = machine_key()
    path = osp.join(cache_dir(), CACHE_FILE)
    if use_cache:
        entry = _read_cache(path).get(key)
        if _valid_entry(entry):
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
        load = load_per_cpu()
        result = _measure(timer or conv_step_times, repeats, load > MAX_LOAD)
        if load > MAX_LOAD:
            result['reason'] += (f'; measured with the machine busy (load '
                                 f'{load:.2f} per CPU)')
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
