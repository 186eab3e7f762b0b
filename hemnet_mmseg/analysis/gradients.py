"""Gradients through the unrolled EM of a head, on the head's own loss.

HEMNet's claim (https://arxiv.org/abs/2012.04926): with plain unrolled EM
(eta = 1) the gradient reaching early iterations decays as T grows; the
highway (eta < 1) keeps it alive. :func:`em_gradients` runs one forward and
backward of a :class:`~.sources.HeadAndBatch` with given EM settings and
returns ``||dL/d mu(t)||`` for t = 0..T and ``||dL/dX||`` (X the EM unit's
input, (B, C, H, W)) together with the trace of that forward.
"""
from typing import Dict, List, Optional

from torch import Tensor

from hemnet_mmseg.models.layers.em_settings import resolve_grad_mode
from .em_trace import EMTrace, find_hem_module, trace_em
from .sources import HeadAndBatch


def _norm(t: Optional[Tensor]) -> float:
    return 0.0 if t is None or t.grad is None else float(t.grad.norm())


def em_gradients(src: HeadAndBatch, **settings) -> Dict:
    """One forward/backward of ``src.head`` with the given EM settings.

    Args:
        src (HeadAndBatch): head (eval mode), inputs and loss.
        **settings: EM settings to set on the head's unit first, e.g.
            ``step_size=0.5, num_stages=10, num_stages_eval=10,
            inv_temperature=0.1, highway_mixing='raw'``.

    Returns:
        dict: ``bases_grad`` (T + 1 norms, t = 0..T), ``input_grad``
        (``||dL/dX||``), ``loss`` (float) and ``trace`` (:class:`EMTrace`).
    """
    head = src.head
    unit = find_hem_module(head)
    if 'backprop_em' in settings:  # the older alias of grad_mode
        settings['grad_mode'] = resolve_grad_mode(
            settings.pop('grad_mode', None), settings.pop('backprop_em'))
    unit.configure(**settings)
    head.zero_grad(set_to_none=True)
    inputs = [x.detach() for x in src.inputs]
    with trace_em(unit) as traces:
        logits = head(inputs)
    loss = src.loss(logits)
    if loss.requires_grad:
        loss.backward()
    trace: EMTrace = traces[-1]
    bases: List[Tensor] = trace.result.bases_history
    return dict(
        bases_grad=[_norm(mu) for mu in bases],
        input_grad=_norm(trace.feats),
        loss=float(loss.detach()),
        trace=trace)
