"""How the plugin's tools end: bad input as one line (exit status 2),
SIGINT and SIGTERM as one line (130 / 143), and a distributed run's process
group torn down before the interpreter exits."""
import gc
import os
import signal
import sys
import threading
import warnings
from typing import Optional

import hemnet_mmseg  # noqa: F401  (before any config is parsed)
from hemnet_mmseg.checkpoint import refuse_unsafe_load_variable
from hemnet_mmseg.datasets import BadSampleError
from hemnet_mmseg.utils import UserError
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
