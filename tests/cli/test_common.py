"""hemnet_mmseg.cli.common in-process: how the tools end."""
import pytest
import torch


@pytest.mark.parametrize('error,code,name', [
    (KeyboardInterrupt, 130, 'SIGINT'),
    ('Terminated', 143, 'SIGTERM'),
])
def test_run_main_ends_interrupts_with_one_line(capsys, error, code, name):
    """Issue 23, item 7: SIGINT printed a KeyboardInterrupt traceback."""
    from hemnet_mmseg.cli.common import run_main
    from hemnet_mmseg.utils.errors import Terminated
    error = Terminated if error == 'Terminated' else error

    def main_fn(argv):
        raise error()

    with pytest.raises(SystemExit) as exit_:
        run_main('train', main_fn, [])
    assert exit_.value.code == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


# Issue 23, item 11: bad input that used to end in a traceback (or a hang)
# is refused up front with one line naming the thing and what was expected.


@pytest.mark.parametrize('device,match', [
    ('bogus', 'not a device; expected cpu, cuda or cuda:N'),
    ('cuda:0', 'no CUDA device; use --device cpu'),
    ('cuda', 'no CUDA device'),
    ('meta', 'expected cpu, cuda or cuda:N'),
])
def test_check_device_on_a_machine_without_cuda(monkeypatch, device, match):
    from hemnet_mmseg.cli.common import check_device
    from hemnet_mmseg.utils import UserError
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(UserError, match=match) as err:
        check_device(device)
    assert f'--device {device}' in str(err.value)
    assert check_device('cpu') == 'cpu'


def test_check_device_names_the_cuda_devices_there_are(monkeypatch):
    from hemnet_mmseg.cli.common import check_device
    from hemnet_mmseg.utils import UserError
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    assert check_device('cuda:1') == 'cuda:1'
    with pytest.raises(UserError, match='has 2 CUDA device.*cuda:0 to cuda:1'):
        check_device('cuda:2')


TORCHRUN = dict(
    RANK='0', WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT='29500')


@pytest.mark.parametrize('change,match', [
    (dict(MASTER_PORT='notaport'),
     r'\$MASTER_PORT=notaport: expected an integer \[1, 65535\]'),
    (dict(MASTER_PORT='70000'), r'\$MASTER_PORT=70000'),
    (dict(RANK='3'), r'\$RANK=3 is outside the world of \$WORLD_SIZE=2'),
    (dict(RANK='-1'), r'\$RANK=-1: expected an integer >= 0'),
    (dict(WORLD_SIZE='0'), r'\$WORLD_SIZE=0: expected an integer >= 1'),
    (dict(RANK=None), r'needs \$RANK'),
])
def test_launcher_env_is_checked_before_the_group_waits(
        monkeypatch, change, match):
    """RANK=3 WORLD_SIZE=2 hung until killed; MASTER_PORT=notaport raised a
    ValueError traceback inside torch."""
    from hemnet_mmseg.cli.common import check_launcher_env
    from hemnet_mmseg.utils import UserError
    for var, value in dict(TORCHRUN, **change).items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    with pytest.raises(UserError, match=match):
        check_launcher_env()


def test_launcher_env_of_torchrun_passes(monkeypatch):
    from hemnet_mmseg.cli.common import check_launcher_env
    for var, value in dict(TORCHRUN, RANK='1', LOCAL_RANK='1').items():
        monkeypatch.setenv(var, value)
    check_launcher_env()


@pytest.mark.parametrize('where', ['itself', 'above'])
def test_work_dir_that_is_a_file_is_refused(tmp_path, where):
    from mmengine.config import Config

    from hemnet_mmseg.cli.common import set_work_dir
    from hemnet_mmseg.utils import UserError
    afile = tmp_path / 'afile'
    afile.write_text('x')
    work_dir = afile if where == 'itself' else afile / 'run'
    with pytest.raises(UserError, match=f'{afile} is a file, not a folder'):
        set_work_dir(Config(dict()), 'cfg.py', str(work_dir))
    set_work_dir(Config(dict()), 'cfg.py', str(tmp_path / 'new' / 'run'))


def _segmentor_cfg(decode_classes, aux_classes, metainfo=None):
    from mmengine.config import Config
    dataset = dict(type='ToyShapesDataset', data_root='x')
    if metainfo:
        dataset['metainfo'] = metainfo
    return Config(
        dict(
            model=dict(
                decode_head=dict(num_classes=decode_classes),
                auxiliary_head=dict(num_classes=aux_classes)),
            test_dataloader=dict(dataset=dataset)))


@pytest.mark.parametrize('decode,aux,head', [(3, 5, 'decode_head'),
                                             (5, 7, 'auxiliary_head')])
def test_num_classes_other_than_the_data_sets_is_refused(decode, aux, head):
    """num_classes=3 on the 5-class toy data ran to the end (exit 0)."""
    import hemnet_mmseg  # noqa: F401  (registers ToyShapesDataset)
    from hemnet_mmseg.cli.common import check_num_classes
    from hemnet_mmseg.utils import UserError
    with pytest.raises(UserError) as err:
        check_num_classes(_segmentor_cfg(decode, aux), ('test_dataloader', ))
    text = str(err.value)
    assert f'model.{head}.num_classes=' in text and 'has 5 classes' in text
    assert f'--cfg-options model.{head}.num_classes=5' in text
    check_num_classes(_segmentor_cfg(5, 5), ('test_dataloader', ))
    # a config's own metainfo overrides the class's
    check_num_classes(
        _segmentor_cfg(2, 2, dict(classes=('a', 'b'))), ('test_dataloader', ))


def test_one_line_joins_a_message_that_ends_in_a_newline():
    """cv2's messages end in '\\n': the zero-byte image's error was printed
    as 'test: error: )'."""
    from hemnet_mmseg.cli.common import one_line
    err = ValueError("cannot read x.png (error: OpenCV loadsave.cpp: "
                     "error: (-215) !buf.empty() in 'imdecode_'\n)")
    assert one_line(err) == ("cannot read x.png (error: OpenCV loadsave.cpp"
                             ": error: (-215) !buf.empty() in 'imdecode_' )")
    # torch re-raises a worker's error as its own class, traceback in text
    worker = ValueError('Caught ValueError in DataLoader worker process 0.'
                        '\nOriginal Traceback (most recent call last):\n'
                        '  File "x.py", line 1\nValueError: the message')
    assert one_line(worker) == 'the message'


def test_out_dir_with_a_symlink_is_refused_even_with_overwrite(tmp_path):
    """Issue 32, item 4: a symlink in --out pointing at a label of the data
    set under evaluation was followed and the label overwritten."""
    from mmengine.config import Config

    from hemnet_mmseg.cli.common import check_output_dir
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


def test_atomic_write_leaves_nothing_when_the_disk_is_full(
        tmp_path, monkeypatch):
    """Issue 32, item 6: a full disk at test_metrics.json left a 0-byte
    file; now the old file or none, and no temporary file."""
    import errno
    import os

    from hemnet_mmseg.utils import atomic_write_text

    def full(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')

    path = tmp_path / 'test_metrics.json'
    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(OSError):
        atomic_write_text(str(path), '{"mIoU": 1}')
    assert os.listdir(tmp_path) == []
    path.write_text('old')
    with pytest.raises(OSError):
        atomic_write_text(str(path), '{"mIoU": 1}')
    assert os.listdir(tmp_path) == ['test_metrics.json']
    assert path.read_text() == 'old'


def test_interrupt_names_what_is_left_to_resume_from(tmp_path, capsys):
    """Issue 32, item 5: SIGINT before the first checkpoint said "the last
    complete checkpoint is intact" when none existed."""
    from hemnet_mmseg.cli.common import run_main
    from hemnet_mmseg.cli.train import resume_hint
    assert 'no checkpoint was written yet' in resume_hint(str(tmp_path))
    (tmp_path / 'iter_2.pth').write_bytes(b'x')
    assert 'resume with --resume' in resume_hint(str(tmp_path))

    def main_fn(argv):
        err = KeyboardInterrupt()
        err.hint = resume_hint(str(tmp_path / 'none'))
        raise err

    with pytest.raises(SystemExit):
        run_main('train', main_fn, [])
    err = capsys.readouterr().err
    assert 'intact' not in err and 'no checkpoint was written yet' in err


def test_outputs_that_cannot_be_written_are_refused_up_front(
        tmp_path, monkeypatch):
    """Issue 32, item 13: a folder as infer's --out (IsADirectoryError), a
    300-character name (ENAMETOOLONG), a read-only file system (after
    inference had run): each one line before any work."""
    import errno
    import tempfile

    from hemnet_mmseg.cli.common import check_output_file, check_writable
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


def test_master_port_in_use_is_one_line(monkeypatch):
    """Issue 32, item 13: --launcher pytorch with $MASTER_PORT taken ended
    in a DistNetworkError traceback."""
    import socket

    import torch.distributed as dist
    from mmengine.config import Config

    from hemnet_mmseg.cli.common import setup_cpu_distributed
    from hemnet_mmseg.utils import UserError
    taken = socket.socket()
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    port = taken.getsockname()[1]
    for var, value in dict(
            RANK='0',
            WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1',
            MASTER_PORT=str(port)).items():
        monkeypatch.setenv(var, value)
    try:
        with pytest.raises(UserError, match=f'MASTER_PORT={port}'):
            setup_cpu_distributed(Config(dict(model=dict())))
    finally:
        taken.close()
        if dist.is_initialized():
            dist.destroy_process_group()
