"""hemnet_mmseg.cli.outputs: output paths refused before any work."""
import pytest


def test_out_dir_with_a_symlink_is_refused_even_with_overwrite(tmp_path):
    """Issue 32, item 4: a symlink in --out pointing at a label of the data
    set under evaluation was followed and the label overwritten."""
    from mmengine.config import Config

    from hemnet_mmseg.cli.outputs import check_output_dir
    from hemnet_mmseg.utils import UserError
    label = tmp_path / 'data' / 'ann' / 'a.png'
    label.parent.mkdir(parents=True)
    label.write_bytes(b'label')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a.png').symlink_to(label)
    cfg = Config(
        dict(
            test_dataloader=dict(dataset=dict(data_root=str(tmp_path / 'd')))))
    with pytest.raises(UserError, match='symbolic link'):
        check_output_dir(str(out), cfg, 'test_dataloader', overwrite=True)
    assert label.read_bytes() == b'label'


def test_outputs_that_cannot_be_written_are_refused_up_front(
        tmp_path, monkeypatch):
    """Issue 32, item 13: a folder as infer's --out (IsADirectoryError), a
    300-character name (ENAMETOOLONG), a read-only file system (after
    inference had run): each one line before any work."""
    import errno
    import tempfile

    from hemnet_mmseg.cli.outputs import check_output_file, check_writable
    from hemnet_mmseg.utils import UserError
    with pytest.raises(UserError, match='is a folder'):
        check_output_file(str(tmp_path), [], overwrite=True)
    with pytest.raises(UserError, match='more than the 255'):
        check_output_file(str(tmp_path / ('n' * 300 + '.png')), [], True)
    with pytest.raises(UserError, match='more than the 255'):
        check_writable(str(tmp_path / ('d' * 300) / 'out'))

    def read_only(**kwargs):
        raise OSError(errno.EROFS, 'Read-only file system')

    monkeypatch.setattr(tempfile, 'TemporaryFile', read_only)
    with pytest.raises(UserError, match='Read-only file system'):
        check_output_file(str(tmp_path / 'sub' / 'o.png'), [], False)
    assert not (tmp_path / 'sub').exists()
