"""The error type for bad input from the user, and one-line messages."""


def join_lines(text: str) -> str:
    """A message of several lines (cv2's end in a newline) on one line:
    its non-blank lines, stripped, joined with spaces."""
    return ' '.join(line.strip() for line in text.splitlines() if line.strip())


class UserError(Exception):
    """Bad input from the user (a missing file, a damaged checkpoint, a bad
    argument): the command-line tools print it as one line and exit 2."""


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (as a
    scheduler sends before killing), so that ``finally`` blocks run and the
    tools end with one line."""
