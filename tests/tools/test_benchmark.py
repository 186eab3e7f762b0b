"""tools/analysis/benchmark.py runs on tiny shapes and writes its fields.
(No timing thresholds here: the tool and its JSON are the benchmark.)"""
import json
import shutil

import pytest


def test_benchmark_quick_writes_documented_fields(tmp_path, load_tool):
    tool = load_tool('benchmark')
    out = tmp_path / 'bench.json'
    tool.main([
        '--quick', '--out',
        str(out), '--skip', 'segmentor', '--max-stages', '2', '--device', 'cpu'
    ])
    data = json.load(open(out))
    assert {'device', 'torch', 'date', 'repeats'} <= set(data['meta'])
    head = data['head']
    for fig in ('train_step_time', 'inference_time'):
        assert set(head[fig]) == {
            'ema', 'hem', 'hem_raw', 'unrolled', 'f32ema', 'hem_autograd',
            'hem_one_step', 'hem_implicit'
        }
        for s in head[fig].values():
            assert {'median', 'min', 'max', 'repeats', 'unit'} <= set(s)
            assert s['min'] <= s['median'] <= s['max']
    ops = head['op_counts']
    # EMANet's loop sends nothing back; the default (analytic) unit runs
    # the same forward as autograd's (issue 33: one forward) and dispatches
    # fewer ops backward, at most twice Float32EMAHead's in all (issue 26's
    # target)
    assert ops['f32ema'] == ops['ema']
    assert ops['hem']['backward'] < ops['hem_autograd']['backward']
    assert ops['hem']['forward'] == ops['hem_autograd']['forward']
    assert sum(ops['hem'].values()) <= 2 * sum(ops['f32ema'].values())
    # FLOPs: HEMNet adds the backward through the EM and into the mid conv,
    # which EMAHead never trains; the same forward for either backward
    flops = head['flops']
    assert flops['f32ema'] == flops['ema']
    assert flops['hem']['backward'] > flops['f32ema']['backward']
    assert flops['hem_autograd']['forward'] == flops['hem']['forward']
    rows = {
        (r['figure'], r['numerator'], r['denominator']): r['ratio']
        for r in data['ratios']
    }
    assert rows['head op_counts', 'hem', 'f32ema'] == sum(
        ops['hem'].values()) / sum(ops['f32ema'].values())
    assert rows['head flops', 'hem', 'f32ema'] > 1
    mem = head['train_memory']
    # EMAHead saves nothing through its no-grad loop; HEMHead saves more
    assert mem['hem']['bytes'] > mem['ema']['bytes'] > 0
    assert 'saved tensors' in mem['hem']['method']
    assert set(data['unit']['forward_time']) == {
        'ema_module', 'hem_module_eta1', 'hem_module_default'
    }
    # the deploy extra: the toy segmentor in ONNX Runtime against PyTorch
    onnx = data.get('onnx')
    if onnx is not None:
        fig = onnx['sizes']['32x32']
        assert fig['max_abs_diff'] < 1e-3
        assert set(fig['inference_time']) == {'pytorch', 'onnxruntime'}
        assert (f'toy segmentor inference 32x32 ({onnx["threads"]} '
                'threads)', 'onnxruntime', 'pytorch') in rows
    fits = data['scaling']['linear_fits']
    assert {'T/hem/time', 'T/hem/memory', 'pixels/ema/time'} <= set(fits)
    # autograd memory of the unit grows with T (it backpropagates)
    assert fits['T/hem/memory']['slope'] > 0
    assert fits['T/ema/memory']['slope'] == 0
    denominators = {r['denominator'] for r in data['ratios']}
    assert denominators >= {'ema', 'unrolled', 'hem_raw'}


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which('g++') or shutil.which('c++')),
    reason='inductor on a CPU needs a C++ compiler')
def test_benchmark_compile_times_the_compiled_head_apart(tmp_path, load_tool):
    tool = load_tool('benchmark')
    out = tmp_path / 'bench.json'
    tool.main([
        '--quick', '--compile', '--out',
        str(out), '--skip', 'segmentor', 'unit', 'scaling', '--device', 'cpu'
    ])
    head = json.load(open(out))['head']
    assert 'hem_compiled' in head['train_step_time']
    assert 'hem_compiled' not in head['op_counts']
    compile_time = head['compile_time']
    # the first call compiles: longer than a compiled step afterwards
    assert compile_time['train_step'] > head['train_step_time'][
        'hem_compiled']['median']
    rows = json.load(open(out))['ratios']
    assert any(
        r['numerator'] == 'hem_compiled' and r['denominator'] == 'f32ema'
        for r in rows)
