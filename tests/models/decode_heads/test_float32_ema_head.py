"""Float32EMAHead: mmseg's EMAHead with its EM in float32 under autocast."""
import pytest
import torch
from mmseg.models.decode_heads import EMAHead
from mmseg.registry import MODELS

import hemnet_mmseg  # noqa: F401  (registers the head)
from hemnet_mmseg.models import Float32EMAHead

CFG = dict(
    in_channels=32,
    in_index=0,
    channels=16,
    ema_channels=24,
    num_bases=8,
    num_stages=3,
    num_classes=5,
    dropout_ratio=0.0,
    norm_cfg=dict(type='BN', requires_grad=True),
    align_corners=False)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 32, 9, 11, generator=g)]


def test_registered_and_same_init_as_emahead_for_same_seed():
    torch.manual_seed(4)
    ema = EMAHead(**CFG)
    after_ema = torch.rand(1)
    torch.manual_seed(4)
    f32 = MODELS.build(dict(type='Float32EMAHead', **CFG))
    after_f32 = torch.rand(1)
    assert isinstance(f32, Float32EMAHead)
    assert list(ema.state_dict()) == list(f32.state_dict())
    for (k, a), (_, b) in zip(ema.state_dict().items(),
                              f32.state_dict().items()):
        assert torch.equal(a, b), k
    assert torch.equal(after_ema, after_f32)  # the RNG stream is untouched


@pytest.mark.parametrize('seed', [0, 1])
def test_equals_emahead_in_float32(seed):
    torch.manual_seed(seed)
    ema = EMAHead(**CFG).train()
    f32 = Float32EMAHead(**CFG).train()
    f32.load_state_dict(ema.state_dict(), strict=True)
    x = _inputs(seed)
    assert torch.equal(f32(x), ema(x))
    assert torch.equal(f32.ema_module.bases, ema.ema_module.bases)


def test_em_runs_in_float32_under_bf16_autocast(monkeypatch):
    """mmseg's EMAModule runs its einsums in bf16 under CPU autocast;
    Float32EMAHead's get float32 operands."""
    dtypes = []
    real = torch.einsum

    def spy(eq, *ops):
        out = real(eq, *ops)
        dtypes.append(out.dtype)
        return out

    monkeypatch.setattr(torch, 'einsum', spy)
    torch.manual_seed(0)
    ema = EMAHead(**CFG).eval()
    f32 = Float32EMAHead(**CFG).eval()
    f32.load_state_dict(ema.state_dict())
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        ema(_inputs())
        ema_dtypes, dtypes[:] = list(dtypes), []
        out = f32(_inputs())
    assert ema_dtypes and all(d == torch.bfloat16 for d in ema_dtypes)
    assert dtypes and all(d == torch.float32 for d in dtypes)
    assert torch.isfinite(out.float()).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_cuda_autocast_keeps_float32_em(dtype):
    torch.manual_seed(0)
    head = Float32EMAHead(**CFG).cuda().train()
    x = [t.cuda() for t in _inputs()]
    with torch.autocast('cuda', dtype=dtype):
        out = head(x)
    out.float().mean().backward()
    assert head.ema_module.bases.dtype == torch.float32
    assert torch.isfinite(head.ema_module.bases).all()
    assert all(
        torch.isfinite(p.grad).all() for p in head.parameters()
        if p.grad is not None)
