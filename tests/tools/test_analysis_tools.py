"""tools/analysis run end to end on tiny settings and write what they
document; the mechanism the math guarantees holds on the pure functions."""
import glob
import json
import os.path as osp

import cv2
import pytest


def test_gradient_flow_random_head(tmp_path, load_tool):
    tool = load_tool('gradient_flow')
    out = tmp_path / 'gf.json'
    tool.main([
        '--out',
        str(out), '--etas', '1.0', '0.5', '--max-stages', '3',
        '--inv-temperatures', '0.1', '3', '--size', '6', '6'
    ])
    data = json.load(open(out))
    assert (tmp_path / 'gf.png').is_file()
    assert {'seed', 'input_shape', 'head'} <= set(data['meta'])
    rec = data['records'][0]
    assert {
        'eta', 'inv_temperature', 'backprop_em', 'T', 't', 'bases_grad_norm',
        'input_grad_norm', 'highway_mixing'
    } <= set(rec)
    assert data['highway_mixing'] == 'unit'
    # one record per (beta, setting, T, t): 2 betas x 3 settings x (2+3+4)
    assert len(data['records']) == 2 * 3 * (2 + 3 + 4)
    emanet = [r for r in data['records'] if not r['backprop_em']]
    assert emanet and all(r['input_grad_norm'] == 0.0 for r in emanet)
    assert all(r['bases_grad_norm'] == 0.0 for r in emanet)
    hem = [r for r in data['records'] if r['backprop_em']]
    assert all(r['input_grad_norm'] > 0 for r in hem)
    ratio = data['ratios'][0]
    assert {'mu0_ratio', 'input_ratio', 'mu0_grad_T1',
            'mu0_grad_Tmax'} <= set(ratio)


def test_highway_regime_random_head(tmp_path, load_tool):
    tool = load_tool('highway_regime')
    out = tmp_path / 'hr.json'
    data = tool.main([
        '--out',
        str(out), '--etas', '1.0', '0.5', '--max-stages', '4', '--size', '6',
        '6'
    ])
    assert (tmp_path / 'hr.png').is_file()
    rows = {(r['mixing'], r['eta']): r for r in data['rows']}
    assert set(rows) == {('unit', 1.0), ('unit', 0.5), ('raw', 1.0),
                         ('raw', 0.5)}
    for row in rows.values():
        assert len(row['steps']) == 4 and not row['counterfactual']
    # the unit-vector step keeps exactly 1 - eta; the raw one keeps
    # (1 - eta) / ((1 - eta) + eta ||mu_hat||) < 1 - eta when ||mu_hat|| > 1
    unit, raw = rows[('unit', 0.5)]['steps'][0], rows[('raw', 0.5)]['steps'][0]
    assert unit['share'] == pytest.approx(0.5)
    assert unit['mu_hat_norm'] > 1
    assert raw['share'] == pytest.approx(
        0.5 / (0.5 + 0.5 * raw['mu_hat_norm']), rel=0.2)
    assert rows[('unit', 1.0)]['steps'][0]['angular_fraction'] == \
        pytest.approx(1.0, abs=1e-3)
    assert unit['angular_fraction'] == pytest.approx(0.5, abs=0.05)
    assert all(r['mu0_ratio'] > 0 for r in rows.values())


def test_gradient_flow_bad_eta_is_rejected(tmp_path, load_tool):
    tool = load_tool('gradient_flow')
    with pytest.raises(SystemExit):
        tool.main(['--out', str(tmp_path / 'x.json'), '--etas', '1.5'])


def test_em_convergence_random(tmp_path, load_tool):
    tool = load_tool('em_convergence')
    out = tmp_path / 'emc.json'
    data = tool.main([
        '--out',
        str(out), '--max-stages', '6', '--shape', '2', '16', '64', '4'
    ])
    assert (tmp_path / 'emc.png').is_file()
    src = data['sources'][0]
    assert set(src['log_likelihood']) == {'1.0', '0.8', '0.5', '0.2'}
    assert all(len(v) == 7 for v in src['log_likelihood'].values())
    for row in src['summary']:
        assert row['gem_holds'], row
    assert json.load(open(out))['objective'].startswith('mean_n logsumexp')


@pytest.mark.slow
def test_tools_on_a_trained_checkpoint(toy_trained, toy_config, tiny_toy_root,
                                       tmp_path, load_tool):
    work_dir, _ = toy_trained
    ckpt = osp.join(work_dir, 'iter_4.pth')
    # the config's data root is relative; point it at the tiny data set
    opts = [
        '--cfg-options', f'test_dataloader.dataset.data_root={tiny_toy_root}'
    ]
    gf = load_tool('gradient_flow')
    data = gf.main([
        toy_config, ckpt, '--out',
        str(tmp_path / 'gf.json'), '--etas', '1.0', '0.5', '--max-stages', '2',
        '--inv-temperatures', '1'
    ] + opts)
    assert data['meta']['source'] == 'checkpoint'
    assert len(data['meta']['image_paths']) == 2
    hr = load_tool('highway_regime')
    data = hr.main([
        toy_config, ckpt, '--out',
        str(tmp_path / 'hr.json'), '--etas', '1.0', '0.5', '--max-stages', '2'
    ] + opts)
    assert data['meta']['trained']['highway_mixing'] == 'unit'
    flags = {
        (r['mixing'], r['eta']): r['counterfactual']
        for r in data['rows']
    }
    assert flags == {
        ('unit', 1.0): True,
        ('unit', 0.5): False,
        ('raw', 1.0): True,
        ('raw', 0.5): True
    }
    emc = load_tool('em_convergence')
    res = emc.main([
        toy_config, ckpt, '--out',
        str(tmp_path / 'emc.json'), '--max-stages', '5'
    ] + opts)
    assert [s['name'] for s in res['sources']][1].startswith('trained')
    assert all(r['gem_holds'] for s in res['sources'] for r in s['summary'])
    att = load_tool('attention_maps')
    img = sorted(glob.glob(osp.join(tiny_toy_root, 'img_dir/val/*.png')))[0]
    out = tmp_path / 'att.png'
    att.main([toy_config, ckpt, img, '--out', str(out), '--num-bases', '3'])
    grid = cv2.imread(str(out))
    # 3 rows (bases) x 3 columns (T = 3 iterations) of 160 px + border
    assert grid is not None and grid.shape == (3 * 162, 3 * 162, 3)


def test_grad_estimators_random_head(tmp_path, load_tool):
    """Issue 25: each mode against the exact gradient; at T 1 one_step is
    unrolled; a reference that has not converged gives no cosine to it."""
    tool = load_tool('grad_estimators')
    out = tmp_path / 'est.json'
    data = tool.main([
        '--out',
        str(out), '--size', '4', '4', '--stages', '1', '3', '--etas', '1.0',
        '0.5', '--inv-temperatures', '1.0', '--ref-stages', '300'
    ])
    assert (tmp_path / 'est.png').is_file()
    assert json.load(open(out))['rows'] == data['rows']
    ref = data['references'][0]
    assert ref['converged'] and ref['forward_residual'] <= 1e-5
    assert len(data['rows']) == 2 * 2 * 3  # T x eta x mode
    for row in data['rows']:
        assert -1 <= row['cos_dx'] <= 1 and row['ratio_dx'] > 0
        assert row['saved_mb'] > 0 and row['backward_ms'] > 0
        if row['num_stages'] == 1 and row['mode'] == 'one_step':
            assert row['cos_dx_unrolled'] == pytest.approx(1.0, abs=1e-6)
    unconverged = tool.main([
        '--out',
        str(tmp_path / 'bad.json'), '--size', '4', '4', '--stages', '1',
        '--etas', '1.0', '--inv-temperatures', '1.0', '--ref-stages', '2'
    ])
    assert not unconverged['references'][0]['converged']
    assert all(r['cos_dx'] is None for r in unconverged['rows'])


#: every analysis tool that writes --out, with the arguments it needs
WRITERS = {
    'highway_regime': [],
    'grad_estimators': [],
    'gradient_flow': [],
    'em_convergence': [],
    'benchmark': ['--quick'],
    'precision_benchmark': [],
    'attention_maps': ['CFG', 'CKPT', 'IMG'],
}


@pytest.mark.parametrize('name', sorted(WRITERS))
def test_outputs_are_guarded_like_test_and_infer(tmp_path, load_tool, name,
                                                 capsys):
    """Issue 32: ``highway_regime.py CFG ck.pth --out ck.pth`` replaced a
    98 MB checkpoint with JSON; every tool that writes refuses an output
    that is one of its inputs, and an existing one without --overwrite."""
    tool = load_tool(name)
    existing = tmp_path / 'old.json'
    existing.write_text('keep')
    args = [a.replace('CFG', str(tmp_path / 'c.py')) for a in WRITERS[name]]
    with pytest.raises(SystemExit) as err:
        tool.main(args + ['--out', str(existing)])
    assert err.value.code == 2 and '--overwrite' in capsys.readouterr().err
    assert existing.read_text() == 'keep'
    if name in ('highway_regime', 'grad_estimators', 'gradient_flow',
                'em_convergence'):
        ckpt = tmp_path / 'ck.pth'
        ckpt.write_text('weights')
        with pytest.raises(SystemExit):
            tool.main([
                str(tmp_path / 'c.py'),
                str(ckpt), '--out',
                str(ckpt), '--overwrite'
            ])
        assert 'is the input' in capsys.readouterr().err
        assert ckpt.read_text() == 'weights'
