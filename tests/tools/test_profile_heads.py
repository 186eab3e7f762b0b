"""tools/analysis/profile_heads.py on a CPU, tiny shapes (issue 26, item 5:
the GPU check's profile step, rehearsed). Counts, not timings, are
asserted: the analytic backward dispatches fewer ops than autograd."""
import json

import pytest


def test_head_profile_counts_ops_per_contender(tmp_path, load_tool):
    tool = load_tool('profile_heads')
    tool.main([
        '--quick', '--skip-segmentor', '--device', 'cpu', '--trace', '--out',
        str(tmp_path)
    ])
    data = json.load(open(tmp_path / 'profile.json'))
    head = data['head']
    assert set(head) == {
        'ema', 'f32ema', 'hem', 'hem_autograd', 'hem_one_step'
    }
    assert head['hem']['cpu_ops'] < head['hem_autograd']['cpu_ops']
    assert head['ema']['cpu_ops'] < head['hem']['cpu_ops']
    for fig in head.values():
        assert fig['device_kernels'] == 0 and fig['device_time_ms'] is None
        assert fig['cpu_time_ms'] > 0 and len(fig['top']) == 10
    assert (tmp_path / 'head_hem.json').is_file()  # a Chrome trace


@pytest.mark.slow
def test_segmentor_profile_has_the_fair_baseline(tmp_path, load_tool):
    tool = load_tool('profile_heads')
    tool.main(['--quick', '--device', 'cpu', '--out', str(tmp_path)])
    seg = json.load(open(tmp_path / 'profile.json'))['segmentor']
    assert set(seg) == {'emanet', 'f32emanet', 'hemnet', 'hemnet_autograd'}
    assert seg['hemnet']['cpu_ops'] < seg['hemnet_autograd']['cpu_ops']
