"""AtomicCheckpointHook: a kill during a checkpoint save loses nothing.

MMEngine's ``CheckpointHook`` (0.10.7) deletes the oldest kept checkpoint
*before* writing the new one, and writes the new one in place. With
``max_keep_ckpts=1`` a kill inside the save left a truncated new file and no
old one. This subclass (same arguments) changes two things, through
MMEngine's own extension points:

* the checkpoints of a local work dir are written by
  :class:`AtomicLocalBackend`, a registered file backend (``backend_args=
  dict(backend='atomic_local')``) whose ``put`` writes a temporary file
  beside the target and renames it into place once complete; a write that
  fails (a full disk, SIGINT, SIGTERM) leaves no temporary file, and a full
  disk ends the run with one line;
* the deletion of the oldest kept checkpoint waits until the new one is
  complete (:meth:`AtomicLocalBackend.deferring_removal` around MMEngine's
  ``_save_checkpoint_with_step``, whose order a test pins).

``last_checkpoint`` is still written by MMEngine in place; ``--resume``
does not trust it blindly (:func:`~hemnet_mmseg.checkpoint.files.
resume_candidates`).

On resume, MMEngine's ``before_train`` deletes the files that the loaded
checkpoint's ``keep_ckpt_ids`` lists beyond ``max_keep_ckpts``, in the
*current* work dir, whoever wrote them (``--resume other_run/iter_20.pth``
deleted this work dir's own ``iter_10.pth``). Here the list is first
narrowed to this run's own files: none when the checkpoint was loaded from
another folder, else the ids up to the resumed iteration whose files exist,
the newest ``max_keep_ckpts`` of them. Temporary files that a SIGKILL left
are removed when the next run in the work dir starts. Remote backends keep
MMEngine's behaviour.
"""
import errno
import glob
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, List, Optional

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...utils.errors import UserError
from ...utils.io import atomic_write


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` whose writes are atomic and whose
    removals can wait for the next write to complete."""

    _pending: Optional[List[str]] = None

    def put(self, obj: bytes, filepath) -> None:
        """Write ``obj`` whole or not at all (:func:`~hemnet_mmseg.utils.io.
        atomic_write`).

        Raises:
            UserError: the disk is full (the previous file is intact).
        """
        folder = osp.dirname(str(filepath))
        if folder:
            os.makedirs(folder, exist_ok=True)
        try:
            atomic_write(str(filepath), obj)
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise UserError(
                    f'no space left on the device while writing {filepath}: '
                    'the previous checkpoint is intact; free space and '
                    'resume with --resume') from err
            raise

    def remove(self, filepath) -> None:
        if self._pending is None:
            super().remove(filepath)
        else:
            self._pending.append(str(filepath))

    @contextmanager
    def deferring_removal(self) -> Iterator[None]:
        """Files removed inside the block are removed at its end, and only
        if it ends without an error."""
        self._pending = []
        try:
            yield
            pending = self._pending
        finally:
            self._pending = None
        for path in pending:
            if osp.isfile(path):
                super().remove(path)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves are atomic (see the module doc).

    Args: as ``CheckpointHook``; ``backend_args`` defaults to the atomic
        local backend where ``out_dir`` is local.
    """

    def __init__(self,
                 *args,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        local = '://' not in str(kwargs.get('out_dir') or '')
        if backend_args is None and local and \
                kwargs.get('file_client_args') is None:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def _atomic(self) -> bool:
        return isinstance(self.file_backend, AtomicLocalBackend)

    def before_train(self, runner) -> None:
        hub = runner.message_hub
        if self.max_keep_ckpts > 0 and 'keep_ckpt_ids' in hub.runtime_info:
            hub.update_info('keep_ckpt_ids', self.own_checkpoint_ids(runner))
        super().before_train(runner)
        if self._atomic() and is_main_process():
            # temporary files of saves that a kill interrupted
            for stale in glob.glob(osp.join(self.out_dir, '*.pth.tmp-*')) + \
                    glob.glob(osp.join(self.out_dir, '.*.pth.tmp-*')):
                os.remove(stale)

    def own_checkpoint_ids(self, runner) -> list:
        """The loaded ``keep_ckpt_ids`` narrowed to this run's files (see
        the module doc)."""
        out_dir = runner.work_dir if self.out_dir is None else osp.join(
            self.out_dir, osp.basename(runner.work_dir))
        loaded = runner.cfg.get('load_from')  # None: MMEngine's own resume
        if loaded and osp.dirname(osp.abspath(str(loaded))) != \
                osp.abspath(out_dir):
            return []
        ids = runner.message_hub.get_info('keep_ckpt_ids') or []
        current = runner.epoch if self.by_epoch else runner.iter
        own = [
            i for i in ids if isinstance(i, int) and not isinstance(i, bool)
            and 0 < i <= current
            and osp.isfile(osp.join(out_dir, self.filename_tmpl.format(i)))
        ]
        return own[-self.max_keep_ckpts:]

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        if not self._atomic():
            return super()._save_checkpoint_with_step(runner, step, meta)
        with self.file_backend.deferring_removal():
            super()._save_checkpoint_with_step(runner, step, meta)
