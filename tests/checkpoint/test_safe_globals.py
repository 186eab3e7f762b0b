"""Weights-only loading of genuine MMEngine checkpoints; crafted ones
refused."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import hemnet_mmseg  # noqa: F401  (registers the loader)
from hemnet_mmseg.checkpoint import (UnsafeCheckpointError, checkpoint_getattr,
                                     checkpoint_globals)


def load(path):
    """``torch.load(path, weights_only=True)`` with the plugin's allow-list
    in force (scoped: outside the block torch's default list applies)."""
    with checkpoint_globals():
        return torch.load(path, weights_only=True)


class _TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            err = out.squeeze(1) - torch.stack(labels)
            return dict(loss=(err**2).mean())
        return out


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(
            inputs=torch.full((3, ), float(i)),
            labels=torch.tensor(float(i % 2)))


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    """A checkpoint written by a real MMEngine Runner (message hub with
    HistoryBuffers and numpy scalars, optimizer and scheduler state)."""
    work_dir = tmp_path_factory.mktemp('runner')
    runner = Runner(
        model=_TinyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Data(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='PolyLR', by_epoch=False, eta_min=1e-4),
        train_cfg=dict(by_epoch=False, max_iters=3),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0))
    runner.train()
    path = work_dir / 'iter_3.pth'
    assert path.exists()
    return path


def test_runner_checkpoint_needs_the_allow_list(runner_checkpoint):
    """The file really contains the globals torch refuses by default."""
    names = _pickled_globals(runner_checkpoint)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert names & {'builtins.getattr', '__builtin__.getattr'}
    assert any(n.startswith('numpy') for n in names)


def _pickled_globals(path):
    """Every GLOBAL a torch zip checkpoint's pickle references."""
    import pickletools
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith('data.pkl'))
        data = zf.read(pkl)
    return {
        arg.replace(' ', '.')
        for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL'
    }


def test_runner_checkpoint_loads_weights_only(runner_checkpoint):
    # the allow-list is scoped to the plugin's loads: a plain torch.load in
    # a process that imported the plugin still refuses the file
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(runner_checkpoint), weights_only=True)
    ckpt = load(str(runner_checkpoint))
    hub = ckpt['message_hub']
    assert isinstance(hub['log_scalars']['train/loss'], HistoryBuffer)
    assert ckpt['meta']['iter'] == 3
    assert 'state' in ckpt['optimizer']
    # through mmengine's own loader, which calls torch.load's default
    model = _TinyModel()
    load_checkpoint(model, str(runner_checkpoint), map_location='cpu')
    torch.testing.assert_close(model.linear.weight,
                               ckpt['state_dict']['linear.weight'])


def test_numpy1_names_load(tmp_path):
    """Files written with numpy 1 name numpy.core.multiarray.*."""
    buf = io.BytesIO()
    torch.save({'a': np.float64(1.5), 'b': np.arange(3)}, buf)
    # rewrite the pickle inside the zip with numpy 1 module names
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = tmp_path / 'np1.pth'
    with zipfile.ZipFile(out, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('data.pkl'):
                data = _rename_globals(data, 'numpy._core.multiarray',
                                       'numpy.core.multiarray')
            dst.writestr(info, data)
    assert 'numpy.core.multiarray._reconstruct' in _pickled_globals(out)
    obj = load(str(out))
    assert obj['a'] == 1.5 and list(obj['b']) == [0, 1, 2]


def _rename_globals(data, old, new):
    """Rewrite GLOBAL/BINUNICODE module names in a protocol-2 pickle."""
    import pickletools
    out = io.BytesIO()
    ops = list(pickletools.genops(data))
    for i, (op, arg, pos) in enumerate(ops):
        end = ops[i + 1][2] if i + 1 < len(ops) else len(data)
        chunk = data[pos:end]
        if op.name == 'GLOBAL' and arg.startswith(old):
            chunk = b'c' + arg.replace(old, new, 1).replace(
                ' ', '\n').encode() + b'\n'
        out.write(chunk)
    return out.getvalue()


def _craft(tmp_path, reduce_obj):
    """A torch zip checkpoint whose pickle is built from ``reduce_obj``."""
    path = tmp_path / 'crafted.pth'
    torch.save({'state_dict': {}, 'x': reduce_obj}, str(path))
    return path


class _Reduce:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args

    def __call__(self, *args):  # pickle wants a callable in __reduce__
        raise AssertionError('never called')


def test_plain_os_system_payload_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = _craft(tmp_path, _Reduce(os.system, f'touch {marker}'))
    with pytest.raises(pickle.UnpicklingError):
        load(str(path))
    assert not marker.exists()


def test_getattr_walk_to_globals_refused(tmp_path):
    """Built only from allow-listed names: getattr(HistoryBuffer, '__init__')
    then '__globals__'. The real getattr would return the module globals."""
    init = _Reduce(getattr, HistoryBuffer, '__init__')
    walk = _Reduce(getattr, init, '__globals__')
    path = _craft(tmp_path, walk)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        load(str(path))


def _os_system_via_allow_listed_getattr(command):
    """os.system(command), reached only through getattr on HistoryBuffer:
    HistoryBuffer.__init__.__globals__['__builtins__']['__import__']('os')."""
    init = _Reduce(getattr, HistoryBuffer, '__init__')
    glob = _Reduce(getattr, init, '__globals__')
    builtins_ = _Reduce(_Reduce(getattr, glob, 'get'), '__builtins__')
    import_ = _Reduce(_Reduce(getattr, builtins_, 'get'), '__import__')
    system = _Reduce(getattr, _Reduce(import_, 'os'), 'system')
    return _Reduce(system, command)


def test_getattr_walk_payload_does_not_run(tmp_path):
    """A payload built only from allow-listed names that really runs a
    command under plain pickle is refused, and runs nothing."""
    live = tmp_path / 'live'
    # proof that the payload is live: plain pickle runs it
    pickle.loads(
        pickle.dumps(
            _os_system_via_allow_listed_getattr(f'touch {live}'), protocol=2))
    assert live.exists()
    marker = tmp_path / 'pwned2'
    path = _craft(tmp_path,
                  _os_system_via_allow_listed_getattr(f'touch {marker}'))
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        load(str(path))
    assert not marker.exists()


@pytest.mark.parametrize('obj,name', [
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, '__class__'),
    (HistoryBuffer, 'update'),
    (np.ndarray, 'min'),
    (object, '__subclasses__'),
])
def test_narrowed_getattr_refuses(obj, name):
    with pytest.raises(UnsafeCheckpointError, match='refused getattr'):
        checkpoint_getattr(obj, name)


def test_narrowed_getattr_resolves_statistics():
    for name in ('min', 'max', 'mean', 'current'):
        assert checkpoint_getattr(HistoryBuffer,
                                  name) is getattr(HistoryBuffer, name)


def test_allow_list_holds_the_narrowed_getattr_not_the_real_one():
    import builtins

    from torch._weights_only_unpickler import _get_user_allowed_globals
    with checkpoint_globals():
        allowed = _get_user_allowed_globals()
    assert allowed['builtins.getattr'] is checkpoint_getattr
    assert builtins.getattr not in allowed.values()
    # scoped: outside the plugin's loads torch's own list is untouched
    assert 'builtins.getattr' not in _get_user_allowed_globals()
    # and the process's own getattr was not replaced: it still resolves
    # what the narrowed one refuses
    assert builtins.getattr(HistoryBuffer, 'update') is HistoryBuffer.update


class _Build:
    """Pickles as ``fn(*args)`` followed by BUILD with ``state``."""

    def __init__(self, fn, args, state):
        self.fn, self.args, self.state = fn, args, state

    def __reduce__(self):
        return self.fn, self.args, self.state


def _object_field_array(base_code):
    """An ndarray whose dtype gets an object field with flags 0 by BUILD,
    filled from raw bytes: numpy then reads b'AAAAAAAA' as a pointer."""
    from numpy._core.multiarray import _reconstruct
    dtype = _Build(np.dtype, (base_code, False, True),
                   (3, '|', None, ('a', ), {
                       'a': (np.dtype('O'), 0)
                   }, 8, 1, 0))
    return _Build(_reconstruct, (np.ndarray, (0, ), b'b'),
                  (1, (1, ), dtype, False, b'A' * 8))


_LOAD_SCRIPT = """
import sys, pickle, torch
from hemnet_mmseg.checkpoint import checkpoint_globals
try:
    with checkpoint_globals():
        ck = torch.load(sys.argv[1], weights_only=True)
except pickle.UnpicklingError as err:
    print('REFUSED', err)
    sys.exit(0)
palette = ck['meta']['dataset_meta']['palette']
print('LOADED', palette.dtype, repr(palette.tolist()))
"""


@pytest.mark.parametrize(
    'base_code', ['V8', pytest.param('f8', marks=pytest.mark.slow)])
def test_crafted_dtype_with_object_field_is_refused_not_a_crash(
        tmp_path, base_code):
    """A dtype given an object field with flags 0 (the segfault of issue 16,
    on a void or a copied float64 dtype) is refused with a clear error:
    the object dtype inside the state is not buildable. Run in a
    subprocess: a segfault would take pytest down."""
    import subprocess
    import sys
    path = tmp_path / f'crafted_{base_code}.pth'
    torch.save(
        dict(
            state_dict={},
            meta=dict(
                dataset_meta=dict(palette=_object_field_array(base_code)))),
        str(path))
    proc = subprocess.run([sys.executable, '-c', _LOAD_SCRIPT,
                           str(path)],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert 'REFUSED' in proc.stdout and 'refused numpy dtype' in \
        proc.stdout, proc.stdout


def test_numeric_dtype_state_cannot_add_fields():
    """What the narrowed numpy.dtype returns is numpy's shared builtin
    instance, and numpy ignores __setstate__ on it: the BUILD that follows
    in a pickle cannot give it an object field."""
    from hemnet_mmseg.checkpoint.safe_globals import checkpoint_dtype
    dtype = checkpoint_dtype('f8', False, True)
    dtype.__setstate__((3, '|', None, ('a', ), {
        'a': (np.dtype('O'), 0)
    }, 8, 1, 0))
    assert dtype.fields is None and dtype is np.dtype('f8')
    assert not dtype.hasobject


@pytest.mark.parametrize('code', ['O', 'V8', 'U3', 'S4', 'M8[s]', '>f8'])
def test_narrowed_dtype_refuses_non_numeric(code):
    from hemnet_mmseg.checkpoint.safe_globals import checkpoint_dtype
    with pytest.raises(UnsafeCheckpointError, match='refused numpy dtype'):
        checkpoint_dtype(code, False, True)


@pytest.mark.parametrize('code', ['f8', 'f4', 'f2', 'i8', 'u1', 'b1', 'c16'])
def test_narrowed_dtype_builds_numeric_shared_instances(code):
    from hemnet_mmseg.checkpoint.safe_globals import checkpoint_dtype
    assert checkpoint_dtype(code, False, True) is np.dtype(code)


def test_numpy_arrays_of_numeric_dtypes_round_trip(tmp_path):
    values = {
        code: np.arange(6).astype(code).reshape(2, 3)
        for code in ('f8', 'f4', 'f2', 'i8', 'i4', 'u1', 'b1', 'c8')
    }
    values['scalar'] = np.float64(2.5)
    path = tmp_path / 'arrays.pth'
    torch.save(values, str(path))
    loaded = load(str(path))
    for key, value in values.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


class _Call:

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


_OBJECT_DTYPES = ['O', [('a', 'O')], '(1,)O', [('a', 'f8'), ('b', 'O')]]


@pytest.mark.parametrize('dtype', [_OBJECT_DTYPES[0]] + [
    pytest.param(d, marks=pytest.mark.slow)
    for d in _OBJECT_DTYPES[1:] + ['U2', 'V8']
])
def test_ndarray_constructor_refuses_object_dtypes(tmp_path, dtype):
    """Issue 23, item 2: numpy.ndarray((1,), 'O', b'AAAAAAAA') through the
    allow-list built an object array from raw bytes (a segfault when
    used). Run in a subprocess: a segfault would take pytest down."""
    path = tmp_path / 'crafted_ndarray.pth'
    torch.save(
        dict(
            state_dict={},
            meta=dict(
                dataset_meta=dict(
                    palette=_Call(np.ndarray, (1, ), dtype, b'A' * 8)))),
        str(path))
    proc = subprocess_load(path)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert 'REFUSED' in proc.stdout and 'refused numpy array' in \
        proc.stdout, proc.stdout


def subprocess_load(path):
    import subprocess
    import sys
    return subprocess.run([sys.executable, '-c', _LOAD_SCRIPT,
                           str(path)],
                          capture_output=True,
                          text=True,
                          timeout=120)


@pytest.mark.parametrize('dtype', _OBJECT_DTYPES)
def test_checkpoint_array_refuses_object_state(dtype):
    from hemnet_mmseg.checkpoint.safe_globals import CheckpointArray
    arr = CheckpointArray((1, ), 'f8')
    with pytest.raises(UnsafeCheckpointError, match='refused numpy array'):
        arr.__setstate__((1, (1, ), np.dtype(dtype), False, b'A' * 8))


def test_loaded_arrays_save_again_as_plain_ndarrays(tmp_path):
    """A resumed run saves what it loaded: no name of the plugin may enter
    the new file, which must load in a process without it."""
    path = tmp_path / 'a.pth'
    torch.save(dict(a=np.arange(4.0)), str(path))
    loaded = load(str(path))
    again = tmp_path / 'b.pth'
    torch.save(loaded, str(again))
    assert not any('hemnet' in n for n in _pickled_globals(again))
    np.testing.assert_array_equal(load(str(again))['a'], np.arange(4.0))
