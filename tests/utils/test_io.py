"""hemnet_mmseg.utils.io: files written whole or not at all."""
import pytest


def test_atomic_write_leaves_nothing_when_the_disk_is_full(
        tmp_path, monkeypatch):
    """Issue 32, item 6: a full disk at test_metrics.json left a 0-byte
    file; now the old file or none, and no temporary file."""
    import errno
    import os

    from hemnet_mmseg.utils import atomic_write

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    path = tmp_path / 'test_metrics.json'
    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(OSError):
        atomic_write(str(path), '{"mIoU": 1}')
    assert os.listdir(tmp_path) == []
    path.write_text('old')
    with pytest.raises(OSError):
        atomic_write(str(path), '{"mIoU": 1}')
    assert os.listdir(tmp_path) == ['test_metrics.json']
    assert path.read_text() == 'old'
