"""hemnet_mmseg.cli.launcher: the distributed launcher's environment is
checked before a process group waits on it."""
import pytest

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
    from hemnet_mmseg.cli.launcher import check_launcher_env
    from hemnet_mmseg.utils import UserError
    for var, value in dict(TORCHRUN, **change).items():
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    with pytest.raises(UserError, match=match):
        check_launcher_env()


def test_launcher_env_of_torchrun_passes(monkeypatch):
    from hemnet_mmseg.cli.launcher import check_launcher_env
    for var, value in dict(TORCHRUN, RANK='1', LOCAL_RANK='1').items():
        monkeypatch.setenv(var, value)
    check_launcher_env()


def test_master_port_in_use_is_one_line(monkeypatch):
    """Issue 32, item 13: --launcher pytorch with $MASTER_PORT taken ended
    in a DistNetworkError traceback."""
    import socket

    import torch.distributed as dist
    from mmengine.config import Config

    from hemnet_mmseg.cli.launcher import setup_cpu_distributed
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
