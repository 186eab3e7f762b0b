"""The error type for bad input from the user, and one-line messages."""

#: the most characters of a value from a file that a message shows
MAX_SHOWN = 200


def join_lines(text: str) -> str:
    """A message of several lines (cv2's end in a newline) on one line:
    its non-blank lines, stripped, joined with spaces."""
    return ' '.join(line.strip() for line in text.splitlines() if line.strip())


def printable(value, limit: int = MAX_SHOWN) -> str:
    """A value read from a file (a checkpoint, a cache), safe to print:
    ``str`` as is, anything else by ``repr``, every character that is not
    printable (escape sequences, newlines, carriage returns) escaped as
    ``\\x1b``, and cut at ``limit`` characters, saying how long it was."""
    text = value if isinstance(value, str) else repr(value)
    text = ''.join(
        ch if ch.isprintable() else ch.encode('unicode_escape').decode()
        for ch in text[:limit + 1])
    if len(text) > limit:
        full = len(value) if isinstance(value, str) else None
        text = text[:limit] + (f'... ({full} characters)' if full else '...')
    return text


class UserError(Exception):
    """Bad input from the user (a missing file, a damaged checkpoint, a bad
    argument): the command-line tools print it as one line and exit 2."""


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (as a
    scheduler sends before killing), so that ``finally`` blocks run and the
    tools end with one line."""
