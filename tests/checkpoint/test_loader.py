"""The plugin's weights-only loader for local checkpoints (issue 23, items 1
and 3): every local file MMEngine loads goes through it, with
``weights_only=True`` passed explicitly and the stored config stripped."""
import os
import pickle
import struct
import subprocess
import sys

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import hemnet_mmseg  # noqa: F401  (registers the loader)
from hemnet_mmseg.checkpoint import (UNSAFE_LOAD_VARIABLE,
                                     load_from_local_weights_only,
                                     refuse_unsafe_load_variable)
from hemnet_mmseg.utils import UserError

PAYLOAD = "_x = __import__('os').system('touch {marker}')\n"


class _Reduce:

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def test_local_scheme_is_the_plugins_loader():
    assert CheckpointLoader._get_checkpoint_loader('work/iter_4.pth') is \
        load_from_local_weights_only


def test_stored_config_is_stripped_to_gpu_ids(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'ck.pth'
    torch.save(
        dict(
            state_dict={},
            meta=dict(
                iter=3,
                config='gpu_ids = [0]\n' + PAYLOAD.format(marker=marker))),
        str(path))
    ck = _load_checkpoint(str(path), map_location='cpu')
    assert ck['meta'] == dict(iter=3, config='gpu_ids = [0]\n')
    torch.save(
        dict(meta=dict(config=PAYLOAD.format(marker=marker))), str(path))
    assert 'config' not in _load_checkpoint(str(path))['meta']
    assert not marker.exists()


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_unsafe_load_variable_cannot_switch_weights_only_off(
        tmp_path, monkeypatch):
    """With TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 torch unpickles anything for
    a caller that does not pass weights_only (MMEngine's own loader); the
    plugin's passes it."""
    marker = tmp_path / 'pwned'
    path = tmp_path / 'payload.pth'
    torch.save(dict(x=_Reduce(os.system, f'touch {marker}')), str(path))
    monkeypatch.setenv(UNSAFE_LOAD_VARIABLE, '1')
    with pytest.raises(pickle.UnpicklingError, match='weights-only loader'):
        _load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_refused_checkpoint_is_one_user_error_line(tmp_path):
    """Issue 23, item 11: test and infer printed torch's UnpicklingError
    traceback, whose text advises loading with ``weights_only=False``."""
    path = tmp_path / 'payload.pth'
    torch.save(dict(x=_Reduce(os.system, 'true')), str(path))
    with pytest.raises(UserError) as err:
        _load_checkpoint(str(path), map_location='cpu')
    assert isinstance(err.value, pickle.UnpicklingError)
    text = str(err.value)
    assert '\n' not in text and str(path) in text
    assert 'posix.system' in text and 'weights_only' not in text


def test_record_of_a_lying_size_is_one_user_error_line(tmp_path):
    """Issue 23, item 11: a zip entry whose size lies, written without
    CRC-32s (so the file check cannot see it), raised torch's RuntimeError
    with a traceback."""
    path = tmp_path / 'lying.pth'
    torch.serialization.set_crc32_options(False)
    try:
        torch.save(dict(w=torch.zeros(1000, dtype=torch.uint8)), str(path))
    finally:
        torch.serialization.set_crc32_options(True)
    data = bytearray(path.read_bytes())
    at = data.find(b'PK\x01\x02')  # central directory entries
    while at != -1:
        name_len = struct.unpack_from('<H', data, at + 28)[0]
        name = bytes(data[at + 46:at + 46 + name_len])
        if name.endswith(b'/data/0'):
            csize, usize = struct.unpack_from('<II', data, at + 20)
            struct.pack_into('<II', data, at + 20, csize + 64, usize + 64)
            break
        at = data.find(b'PK\x01\x02', at + 4)
    assert at != -1
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match='cannot be read: record size') as err:
        _load_checkpoint(str(path), map_location='cpu')
    assert isinstance(err.value, RuntimeError)
    assert '\n' not in str(err.value) and str(path) in str(err.value)


@pytest.mark.parametrize('value,refused', [('1', True), ('true', True),
                                           ('YES', True), ('0', False),
                                           ('', False)])
def test_refuse_unsafe_load_variable(monkeypatch, value, refused):
    monkeypatch.setenv(UNSAFE_LOAD_VARIABLE, value)
    if refused:
        with pytest.raises(UserError, match=UNSAFE_LOAD_VARIABLE):
            refuse_unsafe_load_variable()
    else:
        refuse_unsafe_load_variable()


@pytest.mark.parametrize('tool', [
    'train',
    pytest.param('test', marks=pytest.mark.slow),
    pytest.param('infer', marks=pytest.mark.slow)
])
def test_tools_refuse_to_start_with_the_variable(repo, tool):
    env = dict(os.environ, **{UNSAFE_LOAD_VARIABLE: '1'})
    proc = subprocess.run(
        [sys.executable, f'tools/{tool}.py', 'no_config.py',
         'x.pth'][:4 if tool != 'train' else 3],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and UNSAFE_LOAD_VARIABLE in lines[0], lines
