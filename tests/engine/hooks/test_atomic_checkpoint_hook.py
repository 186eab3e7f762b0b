"""AtomicCheckpointHook in-process: resuming deletes no file this run did
not write (issue 23, item 4)."""
import types

import pytest
from mmengine.logging import MessageHub, MMLogger

from hemnet_mmseg.engine.hooks.atomic_checkpoint_hook import \
    AtomicCheckpointHook
from hemnet_mmseg.utils import UserError
from hemnet_mmseg.utils.errors import Terminated


def _runner(work_dir, load_from, it, ids):
    hub = MessageHub.get_instance(f'atomic-{work_dir}-{load_from}-{ids}')
    hub.update_info('keep_ckpt_ids', list(ids))
    return types.SimpleNamespace(
        work_dir=str(work_dir),
        message_hub=hub,
        _load_from=str(load_from),
        iter=it,
        epoch=0,
        rank=0,
        logger=MMLogger.get_instance('atomic-test'))


def _touch(folder, *steps):
    folder.mkdir(exist_ok=True)
    for step in steps:
        (folder / f'iter_{step}.pth').write_bytes(b'x')


def _before_train(runner, keep=1):
    hook = AtomicCheckpointHook(
        interval=10, by_epoch=False, max_keep_ckpts=keep)
    hook.before_train(runner)
    return hook


def test_resume_from_another_folder_deletes_nothing_here(tmp_path):
    work, other = tmp_path / 'work', tmp_path / 'other'
    _touch(work, 10)
    _touch(other, 10, 20)
    hook = _before_train(_runner(work, other / 'iter_20.pth', 20, [10, 20]))
    assert (work / 'iter_10.pth').is_file()
    assert list(hook.keep_ckpt_ids) == []


def test_crafted_keep_ids_delete_nothing(tmp_path):
    work = tmp_path / 'work'
    _touch(work, 5, 10, 20)
    hook = _before_train(
        _runner(work, work / 'iter_20.pth', 20, [5, 10, 99, 20]))
    for step in (5, 10, 20):
        assert (work / f'iter_{step}.pth').is_file(), step
    assert list(hook.keep_ckpt_ids) == [20]


@pytest.mark.parametrize('keep', [1, 2])
def test_own_resume_keeps_the_newest_own_ids(tmp_path, keep):
    work = tmp_path / 'work'
    _touch(work, 10, 20)
    hook = _before_train(
        _runner(work, work / 'iter_20.pth', 20, [10, 20]), keep)
    assert list(hook.keep_ckpt_ids) == [10, 20][-keep:]
    assert (work / 'iter_10.pth').is_file()


class _FailingRunner:
    """save_checkpoint writes part of the file, then fails."""

    def __init__(self, error):
        self.error = error

    def save_checkpoint(self, out_dir, filename, *args, **kwargs):
        with open(f'{out_dir}/{filename}', 'wb') as f:
            f.write(b'partial')
        raise self.error


@pytest.mark.parametrize('error', [
    OSError(28, 'No space left on device'),
    KeyboardInterrupt(),
    Terminated(),
])
def test_failed_save_leaves_no_temporary_file(tmp_path, error):
    """Issue 23, item 7: a full disk, SIGINT or SIGTERM during a save left
    a hidden 48-98 MB .iter_N.pth.tmp-PID."""
    from hemnet_mmseg.engine.hooks.atomic_checkpoint_hook import \
        _AtomicSaveRunner
    expected = UserError if isinstance(error, OSError) else type(error)
    with pytest.raises(expected) as err:
        _AtomicSaveRunner(_FailingRunner(error)).save_checkpoint(
            str(tmp_path), 'iter_8.pth')
    assert list(tmp_path.iterdir()) == []
    if expected is UserError:
        assert 'no space left' in str(err.value)


def test_stale_temporary_files_are_removed_at_start(tmp_path):
    work = tmp_path / 'work'
    _touch(work, 10)
    (work / '.iter_20.pth.tmp-4242').write_bytes(b'partial')
    (work / '.keep_me').write_bytes(b'x')
    _before_train(_runner(work, work / 'iter_10.pth', 10, [10]))
    assert sorted(p.name
                  for p in work.iterdir()) == ['.keep_me', 'iter_10.pth']
