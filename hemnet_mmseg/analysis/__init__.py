"""What ``tools/analysis`` shares: heads and features to analyse, the EM
trace, the highway-regime and gradient measurements, the cost benchmark's
timing and memory helpers."""
from .em_trace import EMTrace, find_hem_module, trace_em
from .sources import HeadAndBatch, load_trained, random_head

__all__ = [
    'EMTrace', 'find_hem_module', 'trace_em', 'HeadAndBatch', 'load_trained',
    'random_head'
]
