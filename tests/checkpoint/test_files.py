"""Checkpoint files: CRC verification and the newest intact one to resume."""
import os

import pytest
import torch

import hemnet_mmseg.checkpoint.files as checkpoint_files
from hemnet_mmseg.checkpoint import (check_checkpoint_file,
                                     find_resume_checkpoint)
from hemnet_mmseg.utils import UserError


@pytest.fixture
def warnings_seen(monkeypatch):
    """The warnings the module logs, as a list of strings."""
    seen = []
    monkeypatch.setattr(checkpoint_files, '_warn', seen.append)
    return seen


def _save(path, seed=0):
    torch.manual_seed(seed)
    torch.save(
        dict(state_dict=dict(w=torch.randn(256, 256)), meta=dict(iter=seed)),
        str(path))
    return path


def _damage(path, offset=4096, size=1024):
    """Overwrite ``size`` bytes inside the tensor data of a zip checkpoint."""
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = b'\x00' * size
    path.write_bytes(bytes(data))


def test_intact_checkpoint_passes(tmp_path):
    check_checkpoint_file(str(_save(tmp_path / 'a.pth')))


def test_damaged_tensor_bytes_are_found(tmp_path):
    path = _save(tmp_path / 'a.pth')
    _damage(path)
    # torch itself loads it without complaint: the damage is silent
    torch.load(str(path), weights_only=True)
    with pytest.raises(UserError, match='fails its CRC-32') as err:
        check_checkpoint_file(str(path))
    assert str(path) in str(err.value) and '\n' not in str(err.value)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = _save(tmp_path / 'a.pth')
    path.write_bytes(path.read_bytes()[:100000])
    with pytest.raises(UserError, match=str(path)):
        check_checkpoint_file(str(path))


def test_without_crc_and_legacy_pass_with_a_warning(tmp_path, warnings_seen):
    legacy = tmp_path / 'legacy.pth'
    torch.save(
        dict(w=torch.ones(3)),
        str(legacy),
        _use_new_zipfile_serialization=False)
    check_checkpoint_file(str(legacy))
    torch.serialization.set_crc32_options(False)
    try:
        no_crc = _save(tmp_path / 'nocrc.pth')
    finally:
        torch.serialization.set_crc32_options(True)
    check_checkpoint_file(str(no_crc))
    text = ' '.join(warnings_seen)
    assert 'legacy (non-zip)' in text and 'without CRC-32' in text


@pytest.mark.parametrize('content,match', [
    (b'not a checkpoint', 'not a PyTorch checkpoint'),
])
def test_not_a_checkpoint(tmp_path, content, match):
    path = tmp_path / 'x.pth'
    path.write_bytes(content)
    with pytest.raises(UserError, match=match):
        check_checkpoint_file(str(path))


def test_find_resume_checkpoint_skips_damaged_newest(tmp_path, warnings_seen):
    _save(tmp_path / 'iter_4.pth', 4)
    _save(tmp_path / 'iter_8.pth', 8)
    _damage(tmp_path / 'iter_8.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'iter_4.pth')
    assert len(warnings_seen) == 1 and 'newest intact' in warnings_seen[0]
    assert 'iter_8.pth' in warnings_seen[0]


def test_find_resume_checkpoint_last_checkpoint_names_missing_file(tmp_path):
    _save(tmp_path / 'iter_4.pth', 4)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == str(tmp_path /
                                                        'iter_4.pth')


def _age(path, seconds):
    st = os.stat(path)
    os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def test_find_resume_checkpoint_prefers_highest_step(tmp_path):
    """A kill after iter_12 is in place but before last_checkpoint moved:
    iter_12 was written after the record."""
    _save(tmp_path / 'iter_8.pth', 8)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    _age(tmp_path / 'last_checkpoint', 10)
    _save(tmp_path / 'iter_12.pth', 12)
    assert find_resume_checkpoint(str(tmp_path)).endswith('iter_12.pth')


def test_find_resume_checkpoint_ignores_an_earlier_runs_higher_step(tmp_path):
    """Issue 23, item 6: run A (20 iterations) then run B (10) in the same
    work dir; last_checkpoint names B's iter_10 and --resume must take it,
    not A's iter_20 (written before the record)."""
    _save(tmp_path / 'iter_20.pth', 20)
    _save(tmp_path / 'iter_5.pth', 5)
    for name in ('iter_20.pth', 'iter_5.pth'):
        _age(tmp_path / name, 100)
    _save(tmp_path / 'iter_10.pth', 10)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_10.pth'))
    assert find_resume_checkpoint(str(tmp_path)).endswith('iter_10.pth')
    _damage(tmp_path / 'iter_10.pth')  # falls back below, never to iter_20
    assert find_resume_checkpoint(str(tmp_path)).endswith('iter_5.pth')


def test_find_resume_checkpoint_none_and_all_damaged(tmp_path):
    assert find_resume_checkpoint(str(tmp_path)) is None
    _save(tmp_path / 'iter_4.pth', 4)
    _damage(tmp_path / 'iter_4.pth')
    with pytest.raises(UserError, match='no intact checkpoint'):
        find_resume_checkpoint(str(tmp_path))
    assert os.path.isfile(tmp_path / 'iter_4.pth')  # nothing deleted
