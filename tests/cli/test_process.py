"""hemnet_mmseg.cli.process in-process: how the tools end."""
import pytest


@pytest.mark.parametrize('error,code,name', [
    (KeyboardInterrupt, 130, 'SIGINT'),
    ('Terminated', 143, 'SIGTERM'),
])
def test_run_main_ends_interrupts_with_one_line(capsys, error, code, name):
    """Issue 23, item 7: SIGINT printed a KeyboardInterrupt traceback."""
    from hemnet_mmseg.cli.process import run_main
    from hemnet_mmseg.utils.errors import Terminated
    error = Terminated if error == 'Terminated' else error

    def main_fn(argv):
        raise error()

    with pytest.raises(SystemExit) as exit_:
        run_main('train', main_fn, [])
    assert exit_.value.code == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]


def test_one_line_joins_a_message_that_ends_in_a_newline():
    """cv2's messages end in '\\n': the zero-byte image's error was printed
    as 'test: error: )'."""
    from hemnet_mmseg.cli.process import one_line
    err = ValueError("cannot read x.png (error: OpenCV loadsave.cpp: "
                     "error: (-215) !buf.empty() in 'imdecode_'\n)")
    assert one_line(err) == ("cannot read x.png (error: OpenCV loadsave.cpp"
                             ": error: (-215) !buf.empty() in 'imdecode_' )")
    # torch re-raises a worker's error as its own class, traceback in text
    worker = ValueError('Caught ValueError in DataLoader worker process 0.'
                        '\nOriginal Traceback (most recent call last):\n'
                        '  File "x.py", line 1\nValueError: the message')
    assert one_line(worker) == 'the message'


def test_interrupt_names_what_is_left_to_resume_from(tmp_path, capsys):
    """Issue 32, item 5: SIGINT before the first checkpoint said "the last
    complete checkpoint is intact" when none existed."""
    from hemnet_mmseg.cli.process import run_main
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
