"""tools/gpu_check.sh: its CPU rehearsal runs every step on tiny sizes and
writes the results folder; tools/prepare_gpu_inputs.py builds its inputs."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHARED = osp.normpath(osp.join(REPO, '..', 'shared'))
needs_shared = pytest.mark.skipif(
    not (osp.isdir(osp.join(SHARED, 'data', 'camvid', 'train'))
         and osp.isdir(osp.join(SHARED, 'wheelhouse-cuda-py312'))),
    reason='needs ../shared/data/camvid and ../shared/wheelhouse-cuda-py312')


@pytest.fixture(scope='module')
def gpu_inputs(tmp_path_factory, load_tool):
    tool = load_tool('prepare_gpu_inputs', folder='tools')
    out = tmp_path_factory.mktemp('gpu_inputs')
    manifest = tool.main(['--out', str(out), '--limit', '4'])
    return out, manifest


@needs_shared
def test_prepare_inputs_reencodes_camvid_and_copies_wheels(gpu_inputs):
    out, manifest = gpu_inputs
    assert manifest['camvid']['images'] == dict(train=4, val=4)
    assert len(list((out / 'camvid' / 'val').glob('*.jpg'))) == 4
    assert len(list((out / 'camvid' / 'valannot').glob('*.png'))) == 4
    assert list((out / 'wheelhouse').glob('mmcv-2.1.0.tar.gz'))
    assert 'not comparable' in manifest['note']


@needs_shared
@pytest.mark.slow
def test_rehearsal_runs_every_step(gpu_inputs, tmp_path):
    inputs, _ = gpu_inputs
    out, work = tmp_path / 'out', tmp_path / 'work'
    proc = subprocess.run([
        'bash', 'tools/gpu_check.sh', '--rehearse', '--inputs',
        str(inputs), '--out',
        str(out), '--work',
        str(work)
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=1500,
                          env=dict(
                              os.environ,
                              OMP_NUM_THREADS='2',
                              PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.load(open(out / 'summary.json'))
    assert summary['rehearsal'] is True
    steps = {s['step']: s['exit'] for s in summary['steps']}
    assert steps == {
        'env_info': 0,
        'cuda_tests': 0,
        'profile': 0,
        'toy_train_bfloat16': 0,
        'toy_test_bfloat16': 0,
        'benchmark_bfloat16': 0,
        'camvid_emanet': 0,
        'camvid_hemnet': 0
    }, summary['steps']
    toy = summary['toy']['toy_bfloat16']
    assert toy['precision'] == 'bfloat16' and toy['test_mIoU'] is not None
    for algo in ('emanet', 'hemnet'):
        run = summary['camvid'][f'camvid_{algo}']
        assert run['val_mIoU'] is not None and run['max_iters'] == 1
    assert summary['camvid']['camvid_hemnet']['decode_head']['type'] == \
        'HEMHead'
    ratios = summary['benchmark']['benchmark_bfloat16.json']['ratios']
    assert any(r['figure'] == 'head amp_train_step_time' for r in ratios)
    assert (out / 'summary.md').read_text().startswith('# GPU check')
    assert (out / 'runs' / 'camvid_hemnet' / 'run.json').is_file()
    profile = json.load(open(out / 'profile' / 'profile.json'))
    assert profile['head']['hem_autograd']['cpu_ops'] > 0


@needs_shared
def test_deadline_skips_what_it_cannot_start_and_still_summarises(
        gpu_inputs, tmp_path):
    """A device lease is short: past --deadline, steps are recorded as
    skipped (exit -1), not lost, and the summary is written."""
    inputs, _ = gpu_inputs
    out = tmp_path / 'out'
    proc = subprocess.run([
        'bash', 'tools/gpu_check.sh', '--rehearse', '--deadline', '3',
        '--inputs',
        str(inputs), '--out',
        str(out), '--work',
        str(tmp_path / 'work')
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300,
                          env=dict(os.environ, PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.load(open(out / 'summary.json'))
    assert {s['step']
            for s in summary['steps']} >= {
                'env_info', 'cuda_tests', 'benchmark_bfloat16', 'camvid_hemnet'
            }
    assert all(s['exit'] == -1 for s in summary['steps']), summary['steps']
    assert 'skipped (deadline)' in (out / 'summary.md').read_text()


def test_deadline_must_be_whole_seconds(tmp_path):
    proc = subprocess.run(['bash', 'tools/gpu_check.sh', '--deadline', '5m'],
                          cwd=REPO,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert '--deadline takes whole seconds' in proc.stderr


def test_summary_regenerates_from_the_committed_results_folder(
        tmp_path, load_tool):
    """The results folder stands alone: without the GPU machine's work dir
    the summary reads the run copies in runs/ (the first H200 run's)."""
    import shutil
    src = osp.join(REPO, 'docs', 'gpu', '2026-11-27_NVIDIA-H200')
    out = tmp_path / 'h200'
    shutil.copytree(src, out)
    tool = load_tool('gpu_summary', folder='tools')
    summary = tool.main([str(out), '--work', str(tmp_path / 'no_work')])
    assert summary['env']['gpu'] == 'NVIDIA H200'
    assert set(summary['toy']) == {'toy_bfloat16', 'toy_float16'}
    assert summary['camvid']['camvid_hemnet']['val_mIoU'] == pytest.approx(
        28.05, abs=1e-4)
    assert summary['camvid']['camvid_emanet']['precision'] == 'bfloat16'
    assert (out / 'summary.md').read_text() == open(
        osp.join(src, 'summary.md')).read()
