"""hemnet_mmseg.cli.common in-process: how the tools end."""
import pytest


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
