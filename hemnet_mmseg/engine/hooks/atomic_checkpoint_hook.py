"""AtomicCheckpointHook: a kill during a checkpoint save loses nothing.

MMEngine's ``CheckpointHook`` deletes the oldest kept checkpoint *before*
writing the new one, writes the new one in place, and then rewrites
``last_checkpoint``. With ``max_keep_ckpts=1`` a kill inside the save left a
truncated new file, no old one, and a ``last_checkpoint`` naming a deleted
file. This subclass (same arguments) writes each checkpoint to a temporary
file and renames it into place, rewrites ``last_checkpoint`` the same way
only once the file is complete, and deletes old checkpoints only after
that. Remote file backends, and the best-checkpoint saves of ``save_best``
(no config of the plugin uses it), keep MMEngine's behaviour.

On resume, MMEngine's ``before_train`` deletes the files that the loaded
checkpoint's ``keep_ckpt_ids`` lists beyond ``max_keep_ckpts``, in the
*current* work dir, whoever wrote them (``--resume other_run/iter_20.pth``
deleted this work dir's own ``iter_10.pth``). Here the list is first
narrowed to this run's own files: none when the checkpoint was loaded from
another folder, else the ids up to the resumed iteration whose files exist,
the newest ``max_keep_ckpts`` of them; nothing is deleted at start. (Follows
MMEngine 0.10.7's ``CheckpointHook.before_train``.)

A save that fails (a full disk, SIGINT, SIGTERM) removes its temporary file;
a full disk ends the run with one line. Temporary files that a SIGKILL left
are removed when the next run in the work dir starts.
"""
import errno
import glob
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...utils.checkpoint_files import atomic_write_text
from ...utils.errors import UserError


class _AtomicSaveRunner:
    """The runner, with ``save_checkpoint`` writing a temporary file that
    is renamed into place once complete."""

    def __init__(self, runner) -> None:
        self._runner = runner

    def __getattr__(self, name):
        return getattr(self._runner, name)

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs):
        tmp_name = f'.{filename}.tmp-{os.getpid()}'
        tmp = osp.join(out_dir, tmp_name)
        try:
            self._runner.save_checkpoint(out_dir, tmp_name, *args, **kwargs)
            if is_main_process():
                with open(tmp, 'rb') as f:
                    os.fsync(f.fileno())
                os.replace(tmp, osp.join(out_dir, filename))
        except BaseException as err:
            # a full disk, SIGINT, SIGTERM: no half-written file stays
            if osp.exists(tmp):
                os.remove(tmp)
            if isinstance(err, OSError) and err.errno == errno.ENOSPC:
                raise UserError(
                    f'no space left on the device while saving {filename} '
                    f'in {out_dir}: the previous checkpoint is intact; free '
                    'space and resume with --resume') from err
            raise


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` whose saves are atomic (see the module doc)."""

    def _atomic(self) -> bool:
        return isinstance(self.file_backend, LocalBackend)

    def before_train(self, runner) -> None:
        hub = runner.message_hub
        if self.max_keep_ckpts > 0 and 'keep_ckpt_ids' in hub.runtime_info:
            hub.update_info('keep_ckpt_ids', self.own_checkpoint_ids(runner))
        super().before_train(runner)
        if self._atomic() and is_main_process():
            # temporary files of saves that a kill interrupted
            for stale in glob.glob(osp.join(self.out_dir, '.*.pth.tmp-*')):
                os.remove(stale)

    def own_checkpoint_ids(self, runner) -> list:
        """The loaded ``keep_ckpt_ids`` narrowed to this run's files (see
        the module doc)."""
        out_dir = runner.work_dir if self.out_dir is None else osp.join(
            self.out_dir, osp.basename(runner.work_dir))
        loaded = getattr(runner, '_load_from', None)
        if not loaded or osp.dirname(osp.abspath(str(loaded))) != \
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

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._atomic():
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        _AtomicSaveRunner(runner).save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write_text(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if stale is not None:
            path = self.file_backend.join_path(
                self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):
                self.file_backend.rmtree(path)
