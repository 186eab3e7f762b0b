"""What the highway step actually does on a head's real features.

With normalised bases the N-step is ``mu(t) ∝ a mu(t-1) + b u(t)``, u(t) =
``l2norm(mu_hat(t))`` the constrained M-step's maximiser: ``a = 1 - eta``
and ``b = eta`` when unit vectors are mixed (``'unit'``), ``b = eta
||mu_hat||`` when the raw mean is (``'raw'``). Per unrolled iteration this
reports, over all images and bases:

* ``||mu_hat||``: median, 10th and 90th percentile;
* the share kept, ``a / (a + b)`` (median): what eta says is ``1 - eta``;
* the angular fraction: the angle moved, ``angle(mu(t-1), mu(t))``, over the
  angle to the maximiser, ``angle(mu(t-1), u(t))`` (median; 1 is a full EM
  step).

Shapes: B batch, C channels, N pixels, K bases.
"""
from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor

from hemnet_mmseg.models.layers import m_step
from hemnet_mmseg.models.layers.highway_em import EPS
from .em_trace import EMTrace


def _angle(a: Tensor, b: Tensor) -> Tensor:
    """Angle between matching columns of unit-normalised (B, C, K) tensors,
    (B, K), in radians."""
    a = F.normalize(a, dim=1, eps=EPS)
    b = F.normalize(b, dim=1, eps=EPS)
    # atan2 of |a x b| and a.b is accurate at small angles (acos is not)
    dot = (a * b).sum(dim=1)
    cross = (a - b * dot.unsqueeze(1)).norm(dim=1)
    return torch.atan2(cross, dot)


def _quantile(x: Tensor, q: float) -> float:
    x = x.flatten().double()
    x = x[torch.isfinite(x)]
    return float(torch.quantile(x, q)) if x.numel() else float('nan')


@torch.no_grad()
def step_statistics(trace: EMTrace, step_size: float,
                    mixing: str) -> List[Dict]:
    """Per-iteration statistics of one traced forward (t = 1..T).

    Args:
        trace (EMTrace): with histories; mu(t) (B|1, C, K), Z(t) (B, N, K).
        step_size (float): the eta the trace ran with.
        mixing (str): ``'unit'`` or ``'raw'``, the mixing it ran with.

    Returns:
        list[dict]: one per iteration, keys ``t``, ``mu_hat_norm``
        (median), ``mu_hat_norm_p10``, ``mu_hat_norm_p90``, ``share``,
        ``angular_fraction``.
    """
    feats = trace.flat_feats().detach().float()
    bases = trace.result.bases_history
    rows = []
    for t, resp in enumerate(trace.result.resp_history, start=1):
        prev = bases[t - 1].detach().expand_as(bases[t])
        new = bases[t].detach()
        # (B, C, K) and its column norms (B, K)
        mu_hat = m_step(feats, resp.detach())
        norm = mu_hat.norm(dim=1)
        if step_size == 1.0:
            share = torch.zeros_like(norm)
        elif mixing == 'unit':
            share = torch.full_like(norm, 1.0 - step_size)
        else:
            share = (1 - step_size) / ((1 - step_size) + step_size * norm)
        to_target = _angle(prev, mu_hat)
        moved = _angle(prev, new)
        valid = to_target > 1e-6
        fraction = moved[valid] / to_target[valid]
        rows.append(
            dict(
                t=t,
                mu_hat_norm=_quantile(norm, 0.5),
                mu_hat_norm_p10=_quantile(norm, 0.1),
                mu_hat_norm_p90=_quantile(norm, 0.9),
                share=_quantile(share, 0.5),
                angular_fraction=_quantile(fraction, 0.5)))
    return rows


def measure_regime(src, etas: List[float], mixings: List[str], max_stages: int,
                   inv_temperature: float) -> List[Dict]:
    """Step statistics and gradient ratios for each mixing and eta.

    For each (mixing, eta): one forward/backward at T = 1 and one at
    T = ``max_stages`` (gradient through the loop, beta fixed); the
    statistics are those of the T = ``max_stages`` forward.

    Args:
        src (HeadAndBatch): head, inputs and loss.
        etas (list[float]): step sizes in (0, 1].
        mixings (list[str]): ``'unit'`` and/or ``'raw'``.
        max_stages (int): T of the long run.
        inv_temperature (float): beta of every run.

    Returns:
        list[dict]: one per (mixing, eta) with ``steps`` (see
        :func:`step_statistics`), ``mu0_ratio`` and ``input_ratio``
        (``||dL/dmu(0)||`` and ``||dL/dX||`` at T = max over T = 1, None
        when the T = 1 gradient is 0) and the four norms.
    """
    from .gradients import em_gradients
    rows = []
    for mixing in mixings:
        for eta in etas:
            common = dict(
                step_size=eta,
                highway_mixing=mixing,
                grad_mode='unrolled',
                inv_temperature=inv_temperature)
            short = em_gradients(
                src, num_stages=1, num_stages_eval=1, **common)
            long = em_gradients(
                src,
                num_stages=max_stages,
                num_stages_eval=max_stages,
                **common)
            row = dict(
                mixing=mixing,
                eta=eta,
                steps=step_statistics(long['trace'], eta, mixing))
            for key, a, b in (('mu0', short['bases_grad'][0],
                               long['bases_grad'][0]),
                              ('input', short['input_grad'],
                               long['input_grad'])):
                row[f'{key}_grad_T1'], row[f'{key}_grad_Tmax'] = a, b
                row[f'{key}_ratio'] = b / a if a > 0 else None
            rows.append(row)
    return rows
