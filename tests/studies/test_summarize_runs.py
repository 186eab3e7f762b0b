"""summarize_runs turns run folders into tables and updates a page."""
import json
import os.path as osp

import pytest

# MMEngine's per-class table in a run's log
TABLE = """
11/27 - mmengine - INFO - per class results:
+-------+-------+-------+
| Class |  IoU  |  Acc  |
+-------+-------+-------+
|  sky  | {sky} | 90.0 |
|  road | {road} | 90.0 |
+-------+-------+-------+
"""
HEM = dict(
    type='HEMHead',
    num_stages=3,
    num_stages_eval=None,
    momentum=0.1,
    step_size=0.5,
    inv_temperature=1.0,
    backprop_em=True,
    normalize_bases=True,
    highway_mixing='unit',
    learn_bases=False)
EMA = dict(
    type='EMAHead',
    num_stages=3,
    num_stages_eval=None,
    momentum=0.1,
    step_size=1.0,
    inv_temperature=1.0,
    backprop_em=False,
    normalize_bases=True,
    highway_mixing=None,
    learn_bases=False)


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('summarize_runs', 'studies')


def _run(root, name, seed, mious, sky, road, head=HEM, **extra):
    d = root / name
    d.mkdir(parents=True)
    record = dict(
        name=name,
        config='configs/x.py',
        seed=seed,
        cfg_options='',
        wall_s=600,
        device='2-core CPU',
        date='2026-11-27',
        decode_head=dict(head),
        precision='float32',
        em_float32=True)
    record.update(extra)
    json.dump(record, open(d / 'run.json', 'w'))
    with open(d / 'scalars.json', 'w') as f:
        f.write(json.dumps(dict(loss=1.0, step=10)) + '\n')
        for step, m in mious:
            f.write(json.dumps(dict(mIoU=m, aAcc=80.0, step=step)) + '\n')
    (d / 'train.log').write_text(TABLE.format(sky=sky, road=road))
    return d


def _eval(run_dir, label, t_eval, miou):
    d = run_dir / 'eval' / label
    d.mkdir(parents=True)
    json.dump(dict(num_stages_eval=t_eval), open(d / 'eval.json', 'w'))
    json.dump(
        dict(metrics=dict(mIoU=miou, aAcc=80.0)),
        open(d / 'test_metrics.json', 'w'))


@pytest.mark.parametrize(
    'head,expected',
    [
        (EMA,
         dict(
             head='EMAHead', eta='1 (EM)', mixing='-', t_eval='3',
             grad='none')),
        (HEM,
         dict(
             head='HEMHead',
             eta='0.5',
             mixing='unit',
             grad='unrolled',
             learned='no')),
        # round 3 records grad_mode; older runs only backprop_em
        (dict(HEM, step_size=1.0,
              grad_mode='one_step'), dict(eta='1', grad='one_step')),
        ({
            k: v
            for k, v in HEM.items() if k != 'highway_mixing'
        }, dict(mixing='raw')),  # older runs: the previous mixing
        (dict(HEM, num_stages_eval=6, learn_bases=True, inv_temperature=0.1),
         dict(t_train='3', t_eval='6', learned='yes', beta='0.1')),
    ])
def test_settings_come_from_run_json(head, expected, tool):
    """Head settings come from run.json (grad_mode, or backprop_em for
    runs from before it)."""
    row = tool.settings_row(dict(decode_head=head))
    assert row.items() >= expected.items(), row


def test_rise_over_last_third(tool):
    rise = tool.rise_over_last_third
    # 2/3 of 1600 is 1066.7: interpolated between 1000 and 1200
    curve = {200: 10.0, 1000: 30.0, 1200: 33.0, 1600: 40.0}
    assert rise(curve) == pytest.approx(40.0 - (30.0 + 3.0 / 3))
    assert rise({600: 30.0}) is None


def test_tables_and_page_update(tmp_path, tool):
    runs = tmp_path / 'runs'
    h0 = _run(runs, 'hemnet_seed0', 0, [(200, 30.0), (300, 40.0)], 80.0, 90.0)
    _run(runs, 'hemnet_seed1', 1, [(200, 31.0), (300, 42.0)], 82.0, 92.0)
    _run(
        runs,
        'emanet_seed0',
        0, [(200, 29.0), (300, 39.5)],
        79.0,
        88.0,
        head=EMA,
        precision='bfloat16')
    _run(
        runs,
        'emanet_seed1',
        1, [(200, 29.0), (300, 38.5)],
        79.0,
        88.0,
        head=EMA,
        precision='bfloat16')
    _run(
        runs,
        'hemnet_eta0.2_seed0',
        0, [(300, 37.25)],
        70.0,
        80.0,
        head={
            k: v
            for k, v in dict(HEM, step_size=0.2).items()
            if k != 'highway_mixing'
        })
    _eval(h0, 'T6', 6, 41.5)
    step = dict(
        t=1,
        mu_hat_norm=10.6,
        mu_hat_norm_p10=8.0,
        mu_hat_norm_p90=17.0,
        share=0.5,
        angular_fraction=0.501)
    json.dump(
        dict(rows=[
            dict(
                mixing='unit',
                eta=0.5,
                steps=[step],
                mu0_ratio=0.65,
                input_ratio=2.16),
            dict(
                mixing='raw',
                eta=0.5,
                steps=[dict(step, share=0.086)],
                mu0_ratio=0.54,
                input_ratio=1.34)
        ]), open(h0 / 'regime.json', 'w'))
    page = tmp_path / 'study.md'
    page.write_text('intro\n<!-- round2:start -->\nold\n'
                    '<!-- round2:end -->\noutro\n')
    text = tool.main(
        ['--runs',
         str(runs), '--update',
         str(page), '--marker', 'round2'])
    main, rest = text.split('#### Every method')
    assert ('| hemnet | 2 | 0, 1 | 41.00 ± 1.41 | 200: 30.50, 300: 41.00 | '
            '+10.50 |') in main  # rise from 2/3 of 300 (200) to 300
    assert '| emanet | 2 | 0, 1 | 39.00 ± 0.71 |' in main
    assert 'eta0.2' not in main  # one seed: settings table only
    assert '| sky | 79.0 | 81.0 |' in main  # mean over seeds, per method
    assert (
        '| hemnet_eta0.2 | HEMHead | 0.2 | raw | 3 | 3 | 1 | unrolled | no | '
        'float32 | yes | 0 | 37.25 |') in rest
    assert '| emanet | EMAHead | 1 (EM) | - | 3 | 3 | 1 | none | no | ' \
        'bfloat16 | yes |' in rest
    # T eval: the run's own validation (T 3) next to its re-evaluation
    assert '| hemnet_seed0 | HEMHead | 3 | 40.00 | 41.50 | +1.50 |' in rest
    assert '2T - T, mean over runs: hemnet +1.50 (1 run)' in rest
    assert '200: 30.00, 300: 40.00' in rest
    # the regime at the run's own eta and mixing, not the counterfactual
    assert '| hemnet_seed0 | 0.5 | unit | 10.6 | 0.500 | 0.501 | 0.65 | ' \
        '2.16 |' in rest
    assert '5 runs, 0.8 CPU hours' in rest
    new = page.read_text()
    assert 'old' not in new and text in new
    assert new.startswith('intro') and new.rstrip().endswith('outro')


def test_committed_round_one_runs_summarize(repo, tool):
    """The committed first-round runs still give their published numbers
    (their settings now come from run.json)."""
    text = tool.main(['--runs', osp.join(repo, 'studies', 'camvid')])
    assert '| hemnet | 3 | 0, 1, 2 | 35.45 ± 0.20 |' in text
    assert '| emanet | 3 | 0, 1, 2 | 35.52 ± 1.13 |' in text
    assert '| hemnet | HEMHead | 0.5 | raw | 3 | 3 | 1 | unrolled | no | ' \
        'float32 |' in text


def test_main_table_of_a_study_with_one_seed_each_so_far(tmp_path, tool):
    """While a study runs, the main table lists its single-seed methods
    (saying so) rather than staying empty; with two seeds of any method,
    only those are shown (test above)."""
    runs = tmp_path / 'runs'
    _run(runs, 'hemnet_seed0', 0, [(200, 30.0), (300, 40.0)], 80.0, 90.0)
    _run(
        runs,
        'emanet_seed0',
        0, [(200, 29.0), (300, 39.5)],
        79.0,
        88.0,
        head=EMA)
    text = tool.main(['--runs', str(runs)])
    main = text.split('#### Every method')[0]
    assert 'One seed of each method so far' in main
    assert '| hemnet | 1 | 0 | 40.00 |' in main
    assert '| emanet | 1 | 0 | 39.50 |' in main


def test_counts_say_run_for_one(tmp_path, tool):
    runs = tmp_path / 'runs'
    _run(runs, 'hemnet_seed0', 0, [(200, 30.0), (300, 40.0)], 80.0, 90.0)
    text = tool.main(['--runs', str(runs)])
    assert '\n1 run, 0.2 CPU hours' in text
    assert '1 runs' not in text


def test_one_setting_contrasts_are_paired_by_seed(tmp_path, tool):
    """Pairs of methods that differ in one setting (the kind of head counts
    as one) are listed, baseline first, with per-seed differences; pairs
    that differ in two settings or share no seed are not."""
    runs = tmp_path / 'runs'
    last = lambda m: [(1600, m)]  # noqa: E731
    for seed, (ema, hem) in enumerate([(40.0, 41.0), (42.0, 42.5)]):
        _run(runs, f'emanet_seed{seed}', seed, last(ema), 1, 1, head=EMA)
        _run(runs, f'hemnet_seed{seed}', seed, last(hem), 1, 1)
    _run(
        runs,
        'unrolled_T9_seed0',
        0,
        last(39.0),
        1,
        1,
        head=dict(HEM, num_stages=9, step_size=1.0))
    _run(
        runs,
        'hemnet_T9_seed0',
        0,
        last(41.5),
        1,
        1,
        head=dict(HEM, num_stages=9))
    _run(
        runs,
        'hemnet_T9_beta0.1_seed0',
        0,
        last(40.25),
        1,
        1,
        head=dict(HEM, num_stages=9, inv_temperature=0.1))
    _run(
        runs,
        'hemnet_raw_seed0',
        0,
        last(40.5),
        1,
        1,
        head=dict(HEM, highway_mixing='raw'))
    _run(runs, 'hemnet_bf16_seed3', 3, last(30.0), 1, 1, precision='bfloat16')
    text = tool.main(['--runs', str(runs)])
    table = text.split('#### One setting at a time')[1].split('####')[0]
    rows = [
        line for line in table.splitlines()
        if line.startswith('| ') and not line.startswith(('| changed',
                                                          '| ---'))
    ]
    assert rows == [
        '| kind | EMANet -> HEMNet eta 0.5 | emanet | hemnet | 0, 1 | '
        '+1.00, +0.50 | +0.75 |',
        # the mixing is not compared where one side has none
        '| kind | EMANet -> HEMNet eta 0.5 | emanet | hemnet_raw | 0 | '
        '+0.50 | +0.50 |',
        '| kind | unrolled EM -> HEMNet eta 0.5 | unrolled_T9 | hemnet_T9 '
        '| 0 | +2.50 | +2.50 |',
        '| T train / T eval | 3/3 -> 9/9 | hemnet | hemnet_T9 | 0 | '
        '+0.50 | +0.50 |',
        '| beta | 1 -> 0.1 | hemnet_T9 | hemnet_T9_beta0.1 | 0 | -1.25 | '
        '-1.25 |',
        '| mixing | raw -> unit | hemnet_raw | hemnet | 0 | +0.50 | '
        '+0.50 |',
    ]  # not emanet vs hemnet_T9 (two settings), nor the seed-3 run


def test_another_studys_runs_beside_and_paired(tmp_path, tool):
    """Round 3: round 2's EMANet rows beside a grad_mode run, marked with
    their folder, in the main table and the paired differences; the
    estimators table reads the run's own beta, eta and T."""
    old, new = tmp_path / 'camvid2', tmp_path / 'camvid3'
    for seed, m in ((0, 40.0), (1, 41.0)):
        _run(old, f'emanet_seed{seed}', seed, [(300, m)], 80.0, 90.0, head=EMA)
    run = _run(
        new,
        'one_step_seed0',
        0, [(300, 42.5)],
        80.0,
        90.0,
        head=dict(HEM, step_size=1.0, grad_mode='one_step'))
    rows = [
        dict(
            inv_temperature=1.0,
            eta=1.0,
            num_stages=t,
            mode=mode,
            cos_dx=0.5 + t / 100,
            ratio_dx=1.0) for t in (3, 10)
        for mode in ('unrolled', 'one_step', 'implicit')
    ]
    json.dump(
        dict(
            references=[
                dict(
                    inv_temperature=1.0, forward_residual=1e-7, converged=True)
            ],
            rows=rows), open(run / 'estimators.json', 'w'))
    text = tool.main(['--runs', str(new), '--beside', f'{old}:emanet'])
    main = text.split('#### Every method')[0]
    assert '| emanet (camvid2) | 2 | 0, 1 | 40.50 ± 0.71 |' in main
    assert '| one_step | 1 | 0 | 42.50 |' in main
    assert ('| kind | EMANet -> one-step EM | emanet (camvid2) | one_step | '
            '0 | +2.50 | +2.50 |') in text
    assert ('| one_step_seed0 | 3 | 1.0e-07 | 0.530 (1.00) | 0.530 (1.00) '
            '| 0.530 (1.00) | 0.600 (1.00) |') in text
    runs_table = text.split('#### Every run')[1]
    assert 'camvid2' not in runs_table  # its own page lists those


def test_run_records_cannot_break_the_page(tmp_path, tool):
    """Issue 32, item 14: a run name holding the page's end marker made
    the page grow on every update; raw HTML and newlines broke the
    tables."""
    runs = tmp_path / 'runs'
    folder = _run(runs, 'evil_seed0', 0, [(200, 30.0)], 80.0, 90.0)
    record = json.load(open(folder / 'run.json'))
    record.update(
        name='x <!-- r:end --> | <b>y</b>\nz_seed0', device='cpu | <script>')
    json.dump(record, open(folder / 'run.json', 'w'))
    page = tmp_path / 'study.md'
    page.write_text('intro\n<!-- r:start -->\nold\n<!-- r:end -->\noutro\n')
    sizes = set()
    for _ in range(3):
        tool.main(
            ['--runs',
             str(runs), '--update',
             str(page), '--marker', 'r'])
        sizes.add(len(page.read_text()))
    text = page.read_text()
    assert len(sizes) == 1 and text.count('<!-- r:end -->') == 1
    assert '<b>' not in text and '<script>' not in text
    assert '&lt;b&gt;y&lt;/b&gt; z' in text
    assert 'cpu \\| &lt;script&gt;' in text
    assert '](../studies/runs/evil_seed0/train.log)' in text
