"""Checkpoint files on disk: recognise, verify, and find the newest intact
one to resume from.

A PyTorch checkpoint is a zip archive whose entries carry CRC-32 checksums
that ``torch.load`` does not check: bytes damaged inside a tensor load
silently. :func:`check_checkpoint_file` verifies them (Python's
``zipfile.testzip``; about 0.05 s for 200 MB). Legacy (pre-1.6) pickle
checkpoints and archives written with ``torch.serialization.
set_crc32_options(False)`` carry no checksums: there is nothing to verify,
and they load with a warning.
"""
import glob
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Optional

from mmengine.logging import print_log

from ..utils.errors import UserError


def _warn(msg: str) -> None:
    print_log(msg, logger='current', level=logging.WARNING)


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`UserError` unless ``path`` is an intact checkpoint.

    Args:
        path (str): a local file.

    Raises:
        UserError: missing, not a file, not a PyTorch checkpoint, or a zip
            entry fails its CRC-32 check (the message names the file).
    """
    if not osp.exists(path):
        raise UserError(f'checkpoint not found: {path}')
    if not osp.isfile(path):
        raise UserError(f'checkpoint is not a file: {path}')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()
                if not any(i.filename.endswith('data.pkl') for i in infos):
                    raise UserError(f'not a PyTorch checkpoint: {path}')
                if all(i.CRC == 0 for i in infos if i.file_size > 0):
                    _warn(f'{path} was written without CRC-32 checksums: '
                          'its contents cannot be verified')
                    return
                bad = zf.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise UserError(f'checkpoint is damaged: {path} ({err})') from err
        if bad is not None:
            raise UserError(f'checkpoint is damaged: {path} (entry {bad} '
                            'fails its CRC-32 check)')
        return
    with open(path, 'rb') as f:
        head = f.read(2)
    if head[:1] == b'\x80':  # legacy (pre-1.6) torch.save pickle
        _warn(f'{path} is a legacy (non-zip) checkpoint: it carries no '
              'checksums, its contents cannot be verified')
        return
    raise UserError(f'not a PyTorch checkpoint: {path}')


def _step_of(path: str) -> int:
    match = re.search(r'(\d+)\.pth$', osp.basename(path))
    return int(match.group(1)) if match else -1


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return float('-inf')


def resume_candidates(work_dir: str) -> list:
    """The checkpoints ``--resume`` may take, in the order it tries them.

    Without a ``last_checkpoint`` record: every ``iter_*.pth`` /
    ``epoch_*.pth``, the highest step first. With one: the file it names
    first, except that a file of a higher step written *after* the record
    comes before it (a run killed between renaming its new checkpoint into
    place and rewriting the record); then the lower steps, newest first, as
    fallbacks when the named file is damaged or missing. A file of a higher
    step written *before* the record belongs to an earlier run in the same
    work dir (the default ``work_dirs/<config>``) and is never taken.
    """
    found = glob.glob(osp.join(work_dir, 'iter_*.pth')) + glob.glob(
        osp.join(work_dir, 'epoch_*.pth'))
    found = sorted(found, key=_step_of, reverse=True)
    record = osp.join(work_dir, 'last_checkpoint')
    named = ''
    if osp.isfile(record):
        with open(record) as f:
            named = f.read().strip()
    if not named:
        return found
    step, written = _step_of(named), _mtime(record)
    later = [p for p in found if _step_of(p) > step and _mtime(p) > written]
    lower = [p for p in found if _step_of(p) < step]
    return list(dict.fromkeys(later + [named] + lower))


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The newest intact checkpoint of this run in a work dir, for
    ``--resume`` (the order of :func:`resume_candidates`); a damaged or
    missing one is skipped with a warning.

    Returns:
        str | None: a verified checkpoint path, or None when the work dir
        has no checkpoint at all.

    Raises:
        UserError: there are checkpoints, but none is intact.
    """
    candidates = resume_candidates(work_dir)
    if not candidates:
        return None
    tried = []
    for path in dict.fromkeys(candidates):  # unique, in order
        try:
            check_checkpoint_file(path)
        except UserError as err:
            tried.append(str(err))
            continue
        if tried:
            _warn(f'--resume: skipped {"; ".join(tried)}; resuming from '
                  f'{path}, the newest intact checkpoint')
        return path
    raise UserError(f'--resume: no intact checkpoint in {work_dir}: '
                    f'{"; ".join(tried)}')
