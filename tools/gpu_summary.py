"""Collect what ``tools/gpu_check.sh`` produced into ``summary.json`` and
``summary.md`` (the GPU table) and print it.

Reads the step table (``steps.tsv``: name, exit status, seconds), the
environment, the toy trainings' run records and test metrics, the benchmark
JSONs and the CamVid smoke pair's run records and final val mIoU; copies the
small per-run files (run.json, scalars, logs, metrics) from the work dir into
``OUT/runs/`` so that the results folder stands alone.

Usage::

    python tools/gpu_summary.py OUT --work WORK [--rehearse]
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
from typing import Optional

# exit statuses that gpu_check.sh records for steps it did not finish
EXIT = {-1: 'skipped (deadline)', 124: 'timeout (deadline)'}


def _json_line(path: str) -> dict:
    """The last line of a log that parses as a JSON object."""
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        for line in reversed(f.read().splitlines()):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return {}


def _final_miou(scalars: str) -> Optional[float]:
    miou = None
    if osp.isfile(scalars):
        with open(scalars) as f:
            for line in f:
                rec = json.loads(line)
                if 'mIoU' in rec:
                    miou = rec['mIoU']
    return miou


def collect_run(work: str, name: str, out: str) -> dict:
    """Copy a training run's small files into OUT/runs/NAME; its record.

    Without the work dir (the results folder alone, e.g. fetched from a GPU
    machine), the record is read from the copies already in OUT/runs/NAME.
    """
    sessions = sorted(glob.glob(osp.join(work, name, '2*')))
    dst = osp.join(out, 'runs', name)
    os.makedirs(dst, exist_ok=True)
    for session in sessions:
        for path in glob.glob(osp.join(session, '*.log')) + glob.glob(
                osp.join(session, '*.json')) + glob.glob(
                    osp.join(session, 'vis_data', 'scalars.json')):
            shutil.copy(path, dst)
    record = {}
    run_json = osp.join(dst, 'run.json')
    if osp.isfile(run_json):
        with open(run_json) as f:
            record = json.load(f)
    metrics = osp.join(dst, 'test_metrics.json')
    if osp.isfile(metrics):
        with open(metrics) as f:
            record['test_mIoU'] = json.load(f)['metrics'].get('mIoU')
    record['val_mIoU'] = _final_miou(osp.join(dst, 'scalars.json'))
    return record


def run_names(work: str, out: str, prefix: str) -> list:
    """Training runs called PREFIX_*: work dirs that hold a session, or
    copies already in OUT/runs (not the generated toy data's folder)."""
    names = {
        osp.basename(osp.dirname(p))
        for p in glob.glob(osp.join(work, f'{prefix}_*', '2*'))
    }
    names |= {
        osp.basename(osp.dirname(p))
        for p in glob.glob(osp.join(out, 'runs', f'{prefix}_*', 'run.json'))
    }
    return sorted(names)


def main(argv: Optional[list] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out')
    parser.add_argument('--work', required=True)
    parser.add_argument('--rehearse', action='store_true')
    args = parser.parse_args(argv)
    steps = []
    with open(osp.join(args.out, 'steps.tsv')) as f:
        for line in f:
            name, rc, seconds = line.rstrip('\n').split('\t')
            steps.append(dict(step=name, exit=int(rc), seconds=int(seconds)))
    summary = dict(
        rehearsal=args.rehearse,
        env=_json_line(osp.join(args.out, 'env_info.log')),
        steps=steps,
        toy={},
        benchmark={},
        camvid={})
    for name in run_names(args.work, args.out, 'toy'):
        summary['toy'][name] = collect_run(args.work, name, args.out)
    for path in sorted(glob.glob(osp.join(args.out, 'benchmark_*.json'))):
        with open(path) as f:
            bench = json.load(f)
        summary['benchmark'][osp.basename(path)] = dict(
            device=bench['meta']['device'], ratios=bench['ratios'])
    for name in run_names(args.work, args.out, 'camvid'):
        summary['camvid'][name] = collect_run(args.work, name, args.out)
    profile_path = osp.join(args.out, 'profile', 'profile.json')
    if osp.isfile(profile_path):
        with open(profile_path) as f:
            profile = json.load(f)
        summary['profile'] = {
            f'{part} {name}': {
                k: fig[k]
                for k in ('device_kernels', 'cpu_ops', 'device_time_ms',
                          'cpu_time_ms')
            }
            for part in ('head', 'segmentor')
            for name, fig in profile.get(part, {}).items()
        }
    with open(osp.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    lines = [
        f'# GPU check: {summary["env"].get("gpu") or "no GPU"}'
        f'{" (CPU rehearsal)" if args.rehearse else ""}', '',
        f'torch {summary["env"].get("torch")}, CUDA '
        f'{summary["env"].get("cuda")}, Python '
        f'{summary["env"].get("python")}', '', '| step | exit | seconds |',
        '| --- | --- | --- |'
    ]
    lines += [
        f'| {s["step"]} | {EXIT.get(s["exit"], s["exit"])} | '
        f'{s["seconds"]} |' for s in steps
    ]
    lines += [
        '', '| run | precision | train s | val mIoU | test mIoU |',
        '| --- | --- | --- | --- | --- |'
    ]
    for group in ('toy', 'camvid'):
        for name, r in summary[group].items():
            fmt = lambda v: '-' if v is None else f'{v:.2f}'  # noqa: E731
            lines.append(f'| {name} | {r.get("precision", "-")} | '
                         f'{r.get("train_wall_s", "-")} | '
                         f'{fmt(r.get("val_mIoU"))} | '
                         f'{fmt(r.get("test_mIoU"))} |')
    lines += [
        '', '| benchmark | figure | ratio | of | spread |',
        '| --- | --- | --- | --- | --- |'
    ]
    for name, bench in summary['benchmark'].items():
        for r in bench['ratios']:
            lines.append(f'| {name} | {r["figure"]} | {r["ratio"]:.3f} | '
                         f'{r["numerator"]}/{r["denominator"]} | '
                         f'{r["spread"]:.1%} |')
    if summary.get('profile'):
        lines += [
            '', '| profiled step | device kernels | CPU ops | device ms | '
            'CPU ms |', '| --- | --- | --- | --- | --- |'
        ]
        for name, p in summary['profile'].items():
            device_ms = p['device_time_ms']
            lines.append(f'| {name} | {p["device_kernels"]} | '
                         f'{p["cpu_ops"]} | '
                         f'{"-" if device_ms is None else f"{device_ms:.2f}"}'
                         f' | {p["cpu_time_ms"]:.2f} |')
    text = '\n'.join(lines) + '\n'
    with open(osp.join(args.out, 'summary.md'), 'w') as f:
        f.write(text)
    print(text)
    failed = [s['step'] for s in steps if s['exit'] != 0]
    if failed:
        print(f'FAILED steps: {", ".join(failed)}')
    return summary


if __name__ == '__main__':
    main()
