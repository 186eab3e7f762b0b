"""Run a pre-registered CamVid study from its plan file, one run at a time.

The plan (JSON, committed before any result is seen) lists each run's name,
config, seed and extra ``--cfg-options``. For every run not yet done, in
order, this script:

1. trains it with ``hemnet_mmseg.cli.train`` into
   ``work_dirs/<study>/<name>`` (an interrupted run resumes from its newest
   intact checkpoint);
2. re-evaluates the final checkpoint on val with 2T EM iterations
   (``eval/T<2T>/``);
3. measures the regime the head trained in on that checkpoint
   (``tools/analysis/highway_regime.py``: share kept, angular fraction,
   gradient ratios; an EMANet checkpoint is measured as a HEMHead with
   eta 1, every row counterfactual) and, where the plan has an
   ``estimators`` entry, each gradient mode against the implicit gradient
   (``tools/analysis/grad_estimators.py``, not fatal);
4. copies the logs, the scalar log, the metrics and ``run.json`` (the run
   record of the training, plus name, options, commit, and the wall time:
   training summed over its sessions, then the re-evaluation and the
   measurements) into
   ``<runs_dir>/<name>/``, marks the run done in the plan and, with
   ``--commit``, commits exactly those files, so that an interrupted study
   loses at most the run in progress.

One driver at a time: ``run`` holds an exclusive lock on
``work_dirs/<study>/driver.lock`` while it works, and a second ``run`` of the
same study exits at once naming the process that holds it (two drivers would
train the same run side by side in one work dir). The lock goes with the
process, so a killed driver leaves nothing to clean up.

Usage::

    python studies/camvid_study.py run studies/camvid2/plan.json \
        --commit
    python studies/camvid_study.py status studies/camvid2/plan.json
"""
import argparse
import errno
import fcntl
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import IO, List, Optional

REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
EMANET_HEADS = ('EMAHead', 'Float32EMAHead')


def sh(cmd: List[str], log: Optional[str] = None, check: bool = True) -> str:
    """Run a command in the repository; tee its output into ``log``."""
    out = open(log, 'a') if log else subprocess.PIPE
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True)
    finally:
        if log:
            out.close()
    if check and proc.returncode != 0:
        raise SystemExit(f'camvid_study: {" ".join(cmd[:4])} ... exited '
                         f'{proc.returncode}' +
                         (f'; see {log}' if log else f':\n{proc.stdout}'))
    return proc.stdout if not log else ''


def load_plan(path: str) -> dict:
    """The plan, with every run name checked (:func:`check_run_names`)."""
    with open(path) as f:
        plan = json.load(f)
    check_run_names(plan)
    return plan


def check_run_names(plan: dict) -> None:
    """Each run's name is one plain folder name, used once: the driver
    joins it onto the runs folder and the work root and deletes the folder
    it names before writing a run's records.

    Raises:
        SystemExit: an empty name, ``.`` or ``..``, one with a path
            separator (an absolute path included), or one that repeats
            another run's name (two entries would share one work dir: the
            second resumed the first's final checkpoint and recorded its
            result as its own).
    """
    seen = set()
    for entry in plan.get('runs', []):
        name = entry.get('name')
        if not isinstance(name, str) or name in ('', '.', '..') or any(
                sep and sep in name for sep in (os.sep, os.altsep, '/')):
            raise SystemExit(
                f'camvid_study: run name {name!r} must be one plain folder '
                'name (not empty, no path separator, not . or ..)')
        if name in seen:
            raise SystemExit(
                f'camvid_study: run name {name!r} appears twice in the plan;'
                ' each run needs its own name (and work dir)')
        seen.add(name)


def save_plan(path: str, plan: dict) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(plan, f, indent=1)
        f.write('\n')
    os.replace(tmp, path)


def data_options(root: str) -> List[str]:
    return [
        f'{loader}.dataset.data_root={root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def study_work_root(plan: dict, work_root: str) -> str:
    """``<work_root>/<study>``: the work dirs of one study's runs."""
    return osp.join(work_root, osp.basename(osp.normpath(plan['runs_dir'])))


def acquire_driver_lock(root: str) -> IO:
    """Hold ``<root>/driver.lock`` for the life of this process, or exit
    naming the process that holds it."""
    os.makedirs(root, exist_ok=True)
    path = osp.join(root, 'driver.lock')
    handle = open(path, 'a+')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        holder = handle.read().strip() or 'unknown'
        handle.close()
        raise SystemExit(
            f'camvid_study: another driver (pid {holder}) is running this '
            f'study: {path} is locked; stop it first (two drivers would '
            'train the same run side by side)')
    handle.seek(0)
    handle.truncate()
    handle.write(f'{os.getpid()}\n')
    handle.flush()
    return handle


def session_dirs(work: str) -> List[str]:
    """The timestamped log folders of a work dir, oldest first."""
    return sorted(d for d in glob.glob(osp.join(work, '2*')) if osp.isdir(d))


def merged_scalars(work: str) -> str:
    """scalars.json of every session of a (possibly resumed) run, the
    latest record per (step, kind) kept, in step order."""
    records = {}
    for d in session_dirs(work):
        path = osp.join(d, 'vis_data', 'scalars.json')
        if not osp.isfile(path):
            continue
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                records[(rec['step'], 'mIoU' in rec)] = line.rstrip('\n')
    return '\n'.join(records[k] for k in sorted(records)) + '\n'


def git_commit() -> str:
    commit = sh(['git', 'rev-parse', '--short', 'HEAD'], check=False).strip()
    dirty = subprocess.run(
        ['git', 'diff', '--quiet', 'HEAD', '--', 'hemnet_mmseg', 'configs'],
        cwd=REPO).returncode
    return (commit or 'unknown') + ('+dirty' if dirty else '')


def train(entry: dict, work: str, opts: List[str], log: str) -> str:
    cmd = [
        sys.executable, '-m', 'hemnet_mmseg.cli.train', entry['config'],
        '--work-dir', work
    ]
    if glob.glob(osp.join(work, 'iter_*.pth')):
        cmd.append('--resume')
    sh(cmd + ['--cfg-options'] + opts, log)
    with open(osp.join(work, 'last_checkpoint')) as f:
        return f.read().strip()


def evaluate_2t(entry: dict, head: dict, ckpt: str, work: str, opts: List[str],
                out: str, log: str) -> None:
    t2 = 2 * head['num_stages']
    key = 'num_stages' if head['type'] in EMANET_HEADS else \
        'num_stages_eval'
    eval_work = osp.join(work, 'eval', f'T{t2}')
    sh([
        sys.executable, '-m', 'hemnet_mmseg.cli.test', entry['config'], ckpt,
        '--work-dir', eval_work, '--cfg-options'
    ] + opts + [f'model.decode_head.{key}={t2}'], log)
    last = session_dirs(eval_work)[-1]
    dst = osp.join(out, 'eval', f'T{t2}')
    os.makedirs(dst, exist_ok=True)
    shutil.copy(
        glob.glob(osp.join(last, '*.log'))[0], osp.join(dst, 'test.log'))
    shutil.copy(osp.join(last, 'test_metrics.json'), dst)
    with open(osp.join(dst, 'eval.json'), 'w') as f:
        json.dump(dict(num_stages_eval=t2), f)


def measure_regime(entry: dict, head: dict, ckpt: str, work: str,
                   opts: List[str], out: str, regime: dict, log: str) -> None:
    extra = []
    if head['type'] in EMANET_HEADS:
        extra = [
            'model.decode_head.type=HEMHead', 'model.decode_head.step_size=1.0'
        ]
    path = osp.join(out, 'regime.json')
    sh([
        sys.executable, 'tools/analysis/highway_regime.py', entry['config'],
        ckpt, '--overwrite', '--out', path, '--plot',
        osp.join(work, 'regime.png'), '--max-stages',
        str(regime.get('max_stages', 10)), '--num-images',
        str(regime.get('num_images', 2)), '--etas'
    ] + [str(e) for e in regime.get('etas', [1.0, 0.8, 0.5, 0.2])] +
       ['--cfg-options'] + opts + extra, log)
    if extra:
        with open(path) as f:
            data = json.load(f)
        data['meta']['emanet_checkpoint'] = (
            f'{head["type"]} checkpoint measured as a HEMHead: it trained '
            'without gradient through its EM; every row is counterfactual')
        for row in data['rows']:
            row['counterfactual'] = True
        with open(path, 'w') as f:
            json.dump(data, f, indent=1)


def measure_estimators(entry: dict, head: dict, ckpt: str, opts: List[str],
                       out: str, spec: dict, log: str) -> Optional[str]:
    """The estimators measurement on the final checkpoint
    (``tools/analysis/grad_estimators.py``), for plans that ask for it.

    Not fatal: a failure is logged and returned (the run is still written
    and committed; the measurement can be redone from the checkpoint).

    Returns:
        str | None: why it failed, or None.
    """
    extra = []
    if head['type'] in EMANET_HEADS:
        extra = [
            'model.decode_head.type=HEMHead', 'model.decode_head.step_size=1.0'
        ]
    cmd = [
        sys.executable, 'tools/analysis/grad_estimators.py', entry['config'],
        ckpt, '--overwrite', '--out',
        osp.join(out, 'estimators.json'), '--num-images',
        str(spec.get('num_images', 2)), '--stages'
    ] + [str(t) for t in spec.get('stages', [1, 2, 3, 5, 10, 20])
         ] + ['--etas'] + [str(e) for e in spec.get('etas', [1.0, 0.5])] + [
             '--inv-temperatures'
         ] + [str(b) for b in spec.get('inv_temperatures', [1.0])
              ] + ['--cfg-options'] + opts + extra
    try:
        sh(cmd, log)
    except SystemExit as err:
        print(
            f'camvid_study: estimators measurement failed: {err}',
            file=sys.stderr)
        return str(err)
    return None


def run_one(plan: dict, entry: dict, commit: str, work_root: str) -> dict:
    work = osp.join(study_work_root(plan, work_root), entry['name'])
    out = osp.join(REPO, plan['runs_dir'], entry['name'])
    os.makedirs(work, exist_ok=True)
    log = osp.join(work, 'study_driver.log')
    opts = [f'randomness.seed={entry["seed"]}'] + data_options(
        plan['data_root']) + list(entry.get('cfg_options', []))
    ckpt = train(entry, work, opts, log)
    after_train = time.time()
    # every session of a (possibly resumed) run wrote its own record
    sessions = []
    for d in session_dirs(work):
        if osp.isfile(osp.join(d, 'run.json')):
            with open(osp.join(d, 'run.json')) as f:
                sessions.append(json.load(f))
    record = sessions[-1]
    train_s = sum(s.get('train_wall_s') or 0 for s in sessions)
    head = record['decode_head']
    if osp.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    with open(osp.join(out, 'train.log'), 'w') as f:
        for d in session_dirs(work):
            for path in glob.glob(osp.join(d, '*.log')):
                with open(path) as src:
                    f.write(src.read())
    with open(osp.join(out, 'scalars.json'), 'w') as f:
        f.write(merged_scalars(work))
    evaluate_2t(entry, head, ckpt, work, opts, out, log)
    measure_regime(entry, head, ckpt, work, opts, out, plan.get('regime', {}),
                   log)
    if plan.get('estimators'):
        failed = measure_estimators(entry, head, ckpt, opts, out,
                                    plan['estimators'], log)
        if failed:
            record['estimators_failed'] = failed
    record.update(
        name=entry['name'],
        config=entry['config'],
        seed=entry['seed'],
        cfg_options=' '.join(entry.get('cfg_options', [])),
        commit=commit,
        wall_s=round(train_s + time.time() - after_train),
        train_s=round(train_s),
        sessions=len(sessions),
        device=f'{os.cpu_count()}-core CPU ({os.uname().machine})')
    with open(osp.join(out, 'run.json'), 'w') as f:
        json.dump(record, f, indent=1)
    with open(osp.join(out, 'scalars.json')) as f:
        mious = [json.loads(line)['mIoU'] for line in f if 'mIoU' in line]
    return dict(miou=mious[-1], wall_min=round(record['wall_s'] / 60, 1))


def git_commit_paths(paths: List[str], message: str) -> None:
    """Commit exactly ``paths`` (other staged work stays staged)."""
    for attempt in range(20):
        sh(['git', 'add', '--'] + paths, check=False)
        proc = subprocess.run(
            ['git', 'commit', '-q', '-m', message, '--'] + paths,
            cwd=REPO,
            capture_output=True,
            text=True)
        if proc.returncode == 0:
            return
        time.sleep(15)  # another git command holds the index lock
    print(
        f'camvid_study: could not commit {paths}: {proc.stderr}',
        file=sys.stderr)


def cmd_run(args) -> None:
    plan = load_plan(args.plan)
    lock = acquire_driver_lock(study_work_root(plan, args.work_root))
    try:
        run_plan(args, plan)
    finally:
        lock.close()


def run_plan(args, plan: dict) -> None:
    for entry in plan['runs']:
        if entry.get('status') == 'done' or (args.only and entry['name']
                                             not in args.only):
            continue
        print(
            f'== {entry["name"]}: training {entry["config"]} seed '
            f'{entry["seed"]} {" ".join(entry.get("cfg_options", []))}',
            flush=True)
        result = run_one(plan, entry, git_commit(), args.work_root)
        plan = load_plan(args.plan)  # the file may have been edited since
        for e in plan['runs']:
            if e['name'] == entry['name']:
                e.update(status='done', **result)
        save_plan(args.plan, plan)
        print(
            f'== {entry["name"]} done: val mIoU {result["miou"]:.2f} in '
            f'{result["wall_min"]} min',
            flush=True)
        if args.commit:
            git_commit_paths(
                [osp.join(plan['runs_dir'], entry['name']), args.plan],
                f'{plan["title"]}: {entry["name"]} (val mIoU '
                f'{result["miou"]:.2f}, {result["wall_min"]} min on the '
                'CPU)')


def cmd_status(args) -> None:
    plan = load_plan(args.plan)
    done = [e for e in plan['runs'] if e.get('status') == 'done']
    print(f'{plan["title"]}: {len(done)} of {len(plan["runs"])} runs done')
    for e in plan['runs']:
        mark = f'done, {e["miou"]:.2f} mIoU, {e["wall_min"]} min' \
            if e.get('status') == 'done' else e.get('status', 'planned')
        print(f'  {e["name"]:<28} {mark}')


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='run every run not done yet')
    run.add_argument('plan')
    run.add_argument('--only', nargs='+', help='these run names only')
    run.add_argument(
        '--commit',
        action='store_true',
        help='commit each finished run and the plan')
    run.add_argument(
        '--work-root',
        default=osp.join(REPO, 'work_dirs'),
        help='where the runs train: <work-root>/<study>/<name> '
        '(default: work_dirs/ in the repository)')
    status = sub.add_parser('status', help='which runs are done')
    status.add_argument('plan')
    args = parser.parse_args(argv)
    if not osp.isfile(args.plan):
        parser.error(f'plan file not found: {args.plan}')
    {'run': cmd_run, 'status': cmd_status}[args.command](args)


if __name__ == '__main__':
    main()
