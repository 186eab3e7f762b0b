"""The error type for bad input from the user."""


class UserError(Exception):
    """Bad input from the user (a missing file, a damaged checkpoint, a bad
    argument): the command-line tools print it as one line and exit 2."""
