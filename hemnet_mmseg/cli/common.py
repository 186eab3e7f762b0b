"""What ``train``, ``test`` and ``infer`` share: config loading, clear
errors for bad input, and MMEngine set-up on machines without CUDA.

A CPU-only torch cannot run MMEngine's ``pytorch`` launcher out of the box:
``init_dist`` calls ``torch.cuda.set_device``, the Runner wraps the model in
DDP with ``device_ids=[LOCAL_RANK]`` and mmseg's runtime asks for ``nccl``.
:func:`setup_cpu_distributed` creates the ``gloo`` process group before the
Runner is built (the Runner then skips its own ``init_dist``) and sets
``model_wrapper_cfg.device_ids=None``.
"""
import gc
import os
import os.path as osp
import signal
import sys
import tempfile
import threading
import warnings
from typing import Optional

import torch
from mmengine.config import Config, DictAction

import hemnet_mmseg  # noqa: F401  (before any config is parsed)
from hemnet_mmseg.datasets import BadSampleError
from hemnet_mmseg.utils import (UserError, refuse_unsafe_load_variable,
                                replace_syncbn)
from hemnet_mmseg.utils.errors import Terminated, join_lines

# mmengine 0.10.7 imports pkg_resources, which setuptools<82 (pinned for it)
# deprecates loudly on every start; known and harmless for the tools. Set
# here, in the command-line entry points, not when the library is imported,
# so that a user's own program keeps its warnings.
warnings.filterwarnings(
    'ignore', message='pkg_resources is deprecated', category=UserWarning)


def one_line(err: Exception) -> str:
    """The message of an error, on one line. An error raised in a
    DataLoader worker arrives wrapped with the worker's traceback; its last
    line is the original ``<module>.<Class>: message``. Any other message
    of several lines (cv2's end in a newline) is joined with spaces."""
    text = str(err).strip()
    if '\n' not in text:
        return text
    if 'Traceback (most recent call last)' not in text:
        return join_lines(text)
    last = text.splitlines()[-1]
    name = f'{type(err).__name__}: '
    return last.split(name, 1)[1] if name in last else last


def _terminate(signum, frame) -> None:
    raise Terminated()


def run_main(prog: str, main_fn, argv: Optional[list] = None) -> None:
    """Run ``main_fn(argv)``; turn bad input (:class:`UserError`, a
    :class:`~hemnet_mmseg.datasets.BadSampleError` from the data) into one
    line on stderr and exit status 2, and SIGINT / SIGTERM into one line and
    exit status 130 / 143 (a checkpoint save they interrupt leaves no
    temporary file), with the ``hint`` attribute a tool may set on the
    interrupt (what is left to resume from)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        refuse_unsafe_load_variable()
        main_fn(argv)
        if close_distributed(finished=True) > 1:
            exit_without_finalisation(0)
    except (UserError, BadSampleError) as err:
        print(f'{prog}: error: {one_line(err)}', file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, Terminated) as err:
        name = 'SIGINT' if isinstance(err, KeyboardInterrupt) else 'SIGTERM'
        hint = getattr(err, 'hint', '')
        print(
            f'{prog}: stopped by {name}' + (f'; {hint}' if hint else ''),
            file=sys.stderr)
        sys.exit(130 if name == 'SIGINT' else 143)
    finally:
        close_distributed()


def exit_without_finalisation(code: int) -> None:
    """Flush what the run wrote and leave with ``os._exit``: a finished
    multi-process run skips the interpreter's finalisation, where gloo's
    threads aborted one in CI (see :func:`close_distributed`). Only for a
    world of more than one process: a single process (and a test calling
    :func:`run_main` in-process) ends normally."""
    import logging
    logging.shutdown()  # MMEngine's log files
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def close_distributed(finished: bool = False) -> int:
    """Tear the default process group down, if any, before the interpreter
    exits; return its world size (0 without one).

    Args:
        finished (bool): every rank's work completed (the tool's main
            returned): wait at a barrier first, so that no rank tears down
            while another still talks to it. Not after an error: a rank
            that failed never reaches the barrier.

    ``destroy_process_group`` only drops ``torch.distributed``'s own
    reference: the runner's ``DistributedDataParallel`` reducer (and its
    last ``Work``) still hold the group, through the reference cycles of the
    runner, until finalisation, where gloo's worker threads can abort a
    finished run (SIGABRT, "terminate called without an active exception";
    pytorch/pytorch#179291 describes the mechanism; seen here in CI in a
    two-process CPU training whose run had already ended). So the cycles
    are collected first, while the interpreter is whole, and the group dies
    inside ``destroy_process_group``; after a finished run the tools then
    leave with :func:`exit_without_finalisation`. Without ``finished`` the
    teardown is local only: no collective, so it cannot hang on a lost
    rank."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    world_size = dist.get_world_size()
    if finished and world_size > 1:
        dist.barrier()
    gc.collect()
    dist.destroy_process_group()
    gc.collect()
    return world_size


def add_cfg_options(parser) -> None:
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs '
        '(e.g. train_cfg.max_iters=100 randomness.seed=1)')


def add_launcher_args(parser) -> None:
    """``--launcher`` and the ``--local_rank`` torch.distributed.launch
    passes (torchrun sets ``$LOCAL_RANK`` instead)."""
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_with_local_rank(parser, argv=None):
    """``parser.parse_args`` and export ``LOCAL_RANK`` if unset."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _datasets(cfg):
    """Yield the leaf dataset configs of a dataloader's dataset config."""
    if cfg is None:
        return
    if cfg.get('type') == 'ConcatDataset':
        for sub in cfg.get('datasets', []):
            yield from _datasets(sub)
    elif 'dataset' in cfg and 'data_root' not in cfg:  # a wrapper
        yield from _datasets(cfg.dataset)
    else:
        yield cfg


def check_data_roots(cfg: Config, loaders) -> None:
    """A missing data root is a :class:`UserError` naming the path.

    Data sets whose class generates its data on first use
    (``GENERATES_DATA``, unless the config sets ``generate=None``) are
    skipped.
    """
    from mmseg.registry import DATASETS
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _datasets(loader_cfg.get('dataset')):
            root = ds.get('data_root')
            cls = DATASETS.get(ds.get('type')) or object
            if not root or osp.isdir(root) or (
                    getattr(cls, 'GENERATES_DATA', False)
                    and ds.get('generate', {}) is not None):
                continue
            hint = getattr(cls, 'DATA_HINT',
                           '') or ('Download or create the data there.')
            raise UserError(
                f'data root not found: {root} ({loader}.dataset, '
                f'{ds.get("type")}). {hint} Or point the config at it: '
                f'--cfg-options {loader}.dataset.data_root=PATH')


def _heads(model_cfg):
    """Yield ``(name, head config)`` for the decode and auxiliary heads."""
    for key in ('decode_head', 'auxiliary_head'):
        heads = (model_cfg or {}).get(key)
        if isinstance(heads, dict):
            heads = [heads]
        for i, head in enumerate(heads or []):
            name = f'model.{key}' + (f'[{i}]' if len(heads) > 1 else '')
            yield name, head


def check_num_classes(cfg: Config, loaders) -> None:
    """Every head predicts as many classes as every data set has.

    With fewer, labels of the missing classes fail deep in the metric or
    count as errors without a word; with more, the metric averages over
    classes that do not exist.

    Raises:
        UserError: naming the head, its ``num_classes``, the data set and
            its classes.
    """
    from mmseg.registry import DATASETS
    for loader in loaders:
        for ds in _datasets((cfg.get(loader) or {}).get('dataset')):
            cls = DATASETS.get(ds.get('type')) or object
            classes = (ds.get('metainfo') or {}).get('classes') or getattr(
                cls, 'METAINFO', {}).get('classes')
            if not classes:
                continue
            for name, head in _heads(cfg.get('model')):
                num = head.get('num_classes')
                if num is not None and num != len(classes):
                    raise UserError(
                        f'{name}.num_classes={num} but {loader}.dataset '
                        f'({ds.get("type")}) has {len(classes)} classes '
                        f'({", ".join(map(str, classes))}); set '
                        f'--cfg-options {name}.num_classes={len(classes)}')


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_writable(out: str) -> None:
    """``out`` (a file or folder to create) can be written: every name on
    its way fits the file system, and its nearest existing folder takes a
    new file (checked by making one: a read-only file system, a folder of
    another user).

    Raises:
        UserError: naming ``out`` and what stops it.
    """
    folder, names = osp.abspath(out), []
    while not osp.isdir(folder) and osp.dirname(folder) != folder:
        folder, name = osp.split(folder)
        names.append(name)
    try:
        longest = os.pathconf(folder, 'PC_NAME_MAX')
    except (OSError, ValueError):
        longest = 255
    for name in names:
        if len(name.encode()) > longest:
            raise UserError(f'--out {out}: the name {name[:40]}... has '
                            f'{len(name.encode())} bytes, more than the '
                            f'{longest} this file system allows')
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(f'--out {out}: cannot write in {folder} '
                        f'({err.strerror})') from err


def check_output_file(out: str, inputs, overwrite: bool) -> None:
    """An output file that is not one of the ``inputs``, not a folder, can
    be written (:func:`check_writable`) and, without ``overwrite``, does not
    exist yet: checked before any work is done.

    Raises:
        UserError: naming the path and why.
    """
    for path in inputs:
        if osp.exists(path) and osp.realpath(out) == osp.realpath(path):
            raise UserError(f'--out {out} is the input {path}: it would be '
                            'overwritten; write elsewhere')
    if osp.isdir(out):
        raise UserError(f'--out {out} is a folder; name a file')
    if osp.exists(out) and not overwrite:
        raise UserError(f'--out {out} exists; pass --overwrite to replace it')
    check_writable(out)


def check_output_dir(out: str, cfg: Config, loader: str,
                     overwrite: bool) -> None:
    """A folder for predictions outside the data set being evaluated and,
    without ``overwrite``, empty or absent.

    Raises:
        UserError: ``out`` is inside a data root of ``cfg[loader]`` (its
            files would overwrite the labels: re-evaluating then reported
            mIoU 100), holds a symbolic link (written through, whatever
            ``overwrite`` says), or holds files.
    """
    loader_cfg = cfg.get(loader) or {}
    for ds in _datasets(loader_cfg.get('dataset')):
        root = ds.get('data_root')
        if root and _inside(out, root):
            raise UserError(f'--out {out} is inside the data set being '
                            f'evaluated ({root}): predictions would overwrite '
                            'its files; write elsewhere')
    check_writable(out)
    if not osp.isdir(out):
        return
    links = sorted(e.path for e in os.scandir(out) if e.is_symlink())
    if links:
        raise UserError(f'--out {out} holds a symbolic link, {links[0]}: a '
                        'prediction of that name would be written to '
                        'wherever it points; remove the link or write '
                        'elsewhere')
    if os.listdir(out) and not overwrite:
        raise UserError(f'--out {out} holds files; pass --overwrite to write '
                        'over them')


def set_work_dir(cfg: Config, config_path: str,
                 work_dir: Optional[str]) -> None:
    """``--work-dir``, else the config's, else ``./work_dirs/<config>``.

    Raises:
        UserError: the work dir, or a folder above it, is a file.
    """
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    path = osp.abspath(cfg.work_dir)
    while not osp.exists(path) and osp.dirname(path) != path:
        path = osp.dirname(path)
    if not osp.isdir(path):
        raise UserError(f'work dir {cfg.work_dir}: {path} is a file, not a '
                        'folder; choose another --work-dir')


def check_device(device: str) -> str:
    """A ``--device`` this machine has: ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        UserError: not a device name, or a CUDA device this machine lacks.
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f'--device {device}: not a device; expected cpu, '
                        'cuda or cuda:N') from None
    if parsed.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f'--device {device}: this machine has no CUDA '
                            'device; use --device cpu')
        if parsed.index is not None and parsed.index >= count:
            raise UserError(f'--device {device}: this machine has {count} '
                            f'CUDA device(s), cuda:0 to cuda:{count - 1}')
    elif parsed.type != 'cpu':
        raise UserError(f'--device {device}: expected cpu, cuda or cuda:N')
    return device


#: the plugin's hooks that every run through its tools gets
PLUGIN_HOOKS = ('SafeResumeHook', 'RNGStateHook', 'RunRecordHook',
                'FiniteLossHook', 'ConfigChangeHook')


def add_plugin_hooks(cfg: Config) -> None:
    """Make a config safe and exact to resume, whatever its bases.

    Adds :class:`~hemnet_mmseg.engine.SafeResumeHook`,
    :class:`~hemnet_mmseg.engine.RNGStateHook`,
    :class:`~hemnet_mmseg.engine.RunRecordHook` (``run.json``),
    :class:`~hemnet_mmseg.engine.FiniteLossHook` and
    :class:`~hemnet_mmseg.engine.ConfigChangeHook` to
    ``custom_hooks`` when missing, and swaps MMEngine's ``CheckpointHook`` for
    :class:`~hemnet_mmseg.engine.AtomicCheckpointHook` (same arguments).
    """
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {h.get('type') for h in hooks}
    hooks += [dict(type=t) for t in PLUGIN_HOOKS if t not in present]
    cfg.custom_hooks = hooks
    checkpoint = (cfg.get('default_hooks', None) or {}).get('checkpoint')
    if checkpoint and checkpoint.get('type') in ('CheckpointHook',
                                                 'mmengine.CheckpointHook'):
        checkpoint['type'] = 'AtomicCheckpointHook'


def build_runner(cfg: Config):
    """MMEngine's Runner, or the config's ``runner_type`` when it has one."""
    if 'runner_type' in cfg:
        from mmseg.registry import RUNNERS
        return RUNNERS.build(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def check_launcher_env() -> None:
    """torchrun's variables, checked before a process group waits on them.

    Raises:
        UserError: one of ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
            ``MASTER_PORT`` is missing, a number is not an integer, the port
            is outside [1, 65535], or ``RANK`` is outside
            [0, ``WORLD_SIZE``) (the group would wait for ranks that never
            come: a hang, not an error).
    """
    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if var not in os.environ:
            raise UserError(f'--launcher pytorch needs ${var}: start with '
                            'torchrun (tools/dist_train.sh)')
    values = {}
    for var, low, high in (('RANK', 0, None), ('WORLD_SIZE', 1, None),
                           ('MASTER_PORT', 1, 65535), ('LOCAL_RANK', 0, None)):
        text = os.environ.get(var)
        if text is None:
            continue
        try:
            values[var] = int(text)
        except ValueError:
            values[var] = None
        value = values[var]
        if value is None or value < low or (high is not None and value > high):
            allowed = f'[{low}, {high}]' if high else f'>= {low}'
            raise UserError(f'${var}={text}: expected an integer {allowed}')
    if values['RANK'] >= values['WORLD_SIZE']:
        raise UserError(f'$RANK={values["RANK"]} is outside the world of '
                        f'$WORLD_SIZE={values["WORLD_SIZE"]} processes '
                        f'(ranks 0 to {values["WORLD_SIZE"] - 1})')


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Record the launcher; without CUDA, make it work on ``gloo``."""
    cfg.launcher = launcher
    if launcher == 'pytorch':
        check_launcher_env()
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise UserError(f'--launcher {launcher} needs CUDA on this machine; '
                        'on CPU use --launcher pytorch (tools/dist_train.sh)')
    setup_cpu_distributed(cfg)


def setup_cpu_distributed(cfg: Config) -> None:
    """A gloo process group from torchrun's environment (checked first by
    :func:`check_launcher_env`), and DDP on CPU."""
    import torch.distributed as dist
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend='gloo')
        except dist.DistNetworkError as err:
            raise UserError(
                f'--launcher pytorch: cannot start the process group on '
                f'$MASTER_ADDR={os.environ["MASTER_ADDR"]} '
                f'$MASTER_PORT={os.environ["MASTER_PORT"]} (in use by another '
                f'job?): {join_lines(str(err))[:200]}') from err
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    replace_syncbn(cfg.model)
