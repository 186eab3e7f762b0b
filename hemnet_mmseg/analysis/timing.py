"""Timing and memory helpers for side-by-side cost measurements.

Contenders are timed interleaved (A B C A B C ...) after a warm-up, so that
machine drift hits all alike; each figure keeps the median, min and max of
its repeats, and a comparison is a ratio of medians with the larger
relative spread next to it. Memory is, on CUDA, the allocator's peak above
the start (``max_memory_allocated``) and, on CPU, the bytes autograd saves
for backward (unique storages), not process RSS.
"""
import statistics
import time
from typing import Callable, Dict, List

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so timings are complete."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def stats(values: List[float], unit: str) -> dict:
    """Median, min, max of repeated measurements."""
    return dict(
        median=statistics.median(values),
        min=min(values),
        max=max(values),
        repeats=len(values),
        unit=unit,
        values=values)


def interleaved(fns: Dict[str, Callable[[], None]], repeats: int, warmup: int,
                device: torch.device) -> Dict[str, dict]:
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


def ratio(fig: Dict[str, dict], numerator: str, denominator: str) -> dict:
    """Ratio of medians of two contenders of one figure, with the larger
    relative spread ((max - min) / median) of the two."""
    a, b = fig[numerator], fig[denominator]
    spread = max((a['max'] - a['min']) / a['median'],
                 (b['max'] - b['min']) / b['median'])
    return dict(
        ratio=a['median'] / b['median'],
        numerator=numerator,
        denominator=denominator,
        spread=spread)


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


def train_memory(loss_fn: Callable[[], torch.Tensor],
                 device: torch.device) -> dict:
    """Training-step memory: CUDA peak above the start, or saved bytes."""
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        sync(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        loss = loss_fn()
        if loss.requires_grad:  # EMAModule: no gradient through its loop
            loss.backward()
        sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        return dict(bytes=peak, method='cuda max_memory_allocated')
    return dict(
        bytes=saved_bytes(loss_fn),
        method='autograd saved tensors (unique storages)')


def train_step(module: torch.nn.Module,
               loss_fn: Callable[[], torch.Tensor],
               autocast_dtype=None) -> Callable[[], None]:
    """A closure: zero grads, forward the loss (under autocast when a dtype
    is given), backward. ``module`` is put in train mode each call."""
    device = next(module.parameters()).device

    def step() -> None:
        module.train()
        module.zero_grad(set_to_none=True)
        with torch.autocast(
                device.type,
                dtype=autocast_dtype,
                enabled=autocast_dtype is not None):
            loss = loss_fn()
        loss.backward()

    return step


def inference(module: torch.nn.Module,
              fn: Callable[[], object]) -> Callable[[], None]:
    """A closure: eval mode, no grad, run ``fn``."""

    def run() -> None:
        module.eval()
        with torch.no_grad():
            fn()

    return run


def linear_fit(xs: List[float], ys: List[float]) -> dict:
    """Least-squares line through (xs, ys): slope, intercept, R^2."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx)**2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    icpt = my - slope * mx
    ss_tot = sum((y - my)**2 for y in ys) or 1e-30
    ss_res = sum((y - icpt - slope * x)**2 for x, y in zip(xs, ys))
    return dict(slope=slope, intercept=icpt, r2=1 - ss_res / ss_tot)


def op_counts(loss_fn: Callable[[], torch.Tensor]) -> dict:
    """Dispatched ATen ops of one training step, views excluded: what a
    GPU launches, one kernel or more each, and what a launch-bound step
    pays for.

    Returns:
        dict: ``forward`` and ``backward`` op counts.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):

        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not getattr(func, 'is_view', False):
                self.count += 1
            return func(*args, **(kwargs or {}))

    return _per_pass(loss_fn, _Count, lambda mode: mode.count)


def flop_counts(loss_fn: Callable[[], torch.Tensor]) -> dict:
    """Floating-point operations of one training step, as torch's
    ``FlopCounterMode`` counts them (matmuls and convolutions; elementwise
    ops count zero): what a compute-bound step pays for.

    Returns:
        dict: ``forward`` and ``backward`` FLOPs.
    """
    from torch.utils.flop_counter import FlopCounterMode

    return _per_pass(loss_fn, lambda: FlopCounterMode(display=False),
                     lambda mode: mode.get_total_flops())


def _per_pass(loss_fn: Callable[[], torch.Tensor], new_mode: Callable,
              read: Callable) -> dict:
    """``read`` of a fresh ``new_mode()`` around the forward (``loss_fn``)
    and another around the backward of one training step."""
    with new_mode() as forward:
        loss = loss_fn()
    with new_mode() as backward:
        if loss.requires_grad:
            loss.backward()
    return dict(forward=read(forward), backward=read(backward))
