"""tools/analysis/camvid_study.py: the study driver runs a plan end to end
(train, T eval 2T, regime, copied records, plan marked done) and refuses to
run beside another driver of the same study."""
import fcntl
import json
import os
import os.path as osp

import pytest


def write_plan(tmp_path, root, toy_options, runs):
    plan = dict(
        title='mini study',
        runs_dir=str(tmp_path / 'results' / 'mini'),
        data_root=root,
        regime=dict(max_stages=2, etas=[1.0, 0.5], num_images=1),
        runs=[
            dict(
                name=name,
                config=config,
                seed=0,
                cfg_options=toy_options(root, max_iters=2, interval=2),
                status='planned') for name, config in runs
        ])
    path = tmp_path / 'plan.json'
    path.write_text(json.dumps(plan, indent=1))
    return str(path), plan


def test_driver_runs_a_plan(tmp_path, tiny_toy_root, toy_opts, load_tool,
                            toy_config, toy_emanet_config, capsys):
    study = load_tool('camvid_study', 'studies')
    path, plan = write_plan(tmp_path, tiny_toy_root, toy_opts,
                            [('hemnet', toy_config),
                             ('emanet', toy_emanet_config)])
    work_root = str(tmp_path / 'work')
    study.main(['run', path, '--work-root', work_root])
    done = json.loads(open(path).read())
    for entry, (name, t2) in zip(done['runs'], [('hemnet', 6), ('emanet', 6)]):
        assert entry['status'] == 'done'
        out = osp.join(plan['runs_dir'], name)
        record = json.load(open(osp.join(out, 'run.json')))
        assert record['name'] == name and record['seed'] == 0
        assert record['sessions'] == 1
        scalars = [
            json.loads(line) for line in open(osp.join(out, 'scalars.json'))
        ]
        mious = [s['mIoU'] for s in scalars if 'mIoU' in s]
        assert mious and entry['miou'] == mious[-1]
        evaluated = json.load(
            open(osp.join(out, 'eval', f'T{t2}', 'eval.json')))
        assert evaluated == dict(num_stages_eval=t2)
        assert osp.isfile(osp.join(out, 'eval', f'T{t2}', 'test_metrics.json'))
        regime = json.load(open(osp.join(out, 'regime.json')))
        # an EMANet checkpoint is measured as a HEMHead: all counterfactual
        assert all(r['counterfactual'] for r in regime['rows']) == \
            (name == 'emanet')
        assert 'Iter(train)' in open(osp.join(out, 'train.log')).read()
        assert osp.isdir(osp.join(work_root, 'mini', name))
    # nothing left to do: a second run trains nothing
    capsys.readouterr()
    study.main(['run', path, '--work-root', work_root])
    assert '== ' not in capsys.readouterr().out
    study.main(['status', path])
    assert '2 of 2 runs done' in capsys.readouterr().out


def test_second_driver_is_refused(tmp_path, tiny_toy_root, toy_opts, load_tool,
                                  toy_config):
    study = load_tool('camvid_study', 'studies')
    path, _ = write_plan(tmp_path, tiny_toy_root, toy_opts,
                         [('hemnet', toy_config)])
    lock_path = tmp_path / 'work' / 'mini' / 'driver.lock'
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, 'w') as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write('4242\n')
        held.flush()
        with pytest.raises(SystemExit, match=r'pid 4242.*driver\.lock'):
            study.main(['run', path, '--work-root', str(tmp_path / 'work')])
    # nothing ran, and the holder's pid is still in the file
    assert not osp.exists(tmp_path / 'work' / 'mini' / 'hemnet')
    assert lock_path.read_text() == '4242\n'
    # released: the driver takes the lock and writes its own pid
    handle = study.acquire_driver_lock(str(lock_path.parent))
    assert lock_path.read_text() == f'{os.getpid()}\n'
    handle.close()


def test_missing_plan_is_named(tmp_path, load_tool, capsys):
    study = load_tool('camvid_study', 'studies')
    missing = str(tmp_path / 'nope.json')
    with pytest.raises(SystemExit):
        study.main(['status', missing])
    assert missing in capsys.readouterr().err


@pytest.mark.parametrize('names', [['../victim'], [''], ['.'], ['/tmp/x'],
                                   ['a/b'], ['dup', 'dup'], ['dup', './dup']])
def test_run_names_that_leave_the_runs_folder_or_repeat_are_refused(
        tmp_path, tiny_toy_root, toy_opts, load_tool, toy_config, names):
    """A name is joined onto the runs folder, whose run folder the driver
    deletes: ``../victim`` deleted a sibling, ``''`` the whole folder; a
    repeated name trained once and recorded twice."""
    study = load_tool('camvid_study', 'studies')
    path, plan = write_plan(tmp_path, tiny_toy_root, toy_opts,
                            [(name, toy_config) for name in names])
    runs = tmp_path / 'results' / 'mini'
    (runs / 'other').mkdir(parents=True)
    (runs / 'other' / 'run.json').write_text('{}')
    victim = tmp_path / 'results' / 'victim'
    victim.mkdir()
    (victim / 'keep.txt').write_text('mine')
    for command in ('run', 'status'):
        with pytest.raises(SystemExit, match='run name'):
            study.main([command, path, '--work-root',
                        str(tmp_path /
                            'w')] if command == 'run' else [command, path])
    assert (victim / 'keep.txt').read_text() == 'mine'
    assert (runs / 'other' / 'run.json').read_text() == '{}'
    assert not (tmp_path / 'w').exists()  # nothing trained
