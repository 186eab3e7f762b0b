"""Helpers shared by ``tools/analysis``: heads and features to analyse."""
from .sources import (
    HeadAndBatch,
    em_input,
    em_output_to_logits,
    find_hem_module,
    load_trained,
    random_head,
)

__all__ = [
    'HeadAndBatch', 'em_input', 'em_output_to_logits', 'find_hem_module',
    'load_trained', 'random_head'
]
