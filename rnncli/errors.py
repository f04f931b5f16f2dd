"""Errors that carry a one-line message for the user."""


class DataError(Exception):
    """A problem with the user's input, worded as one line that says what to do.
    ``source``, when given, is the file the problem is in: the line starts with it."""

    def __init__(self, message: str, source: str | None = None):
        super().__init__(f"{source}: {message}" if source else message)


class CheckpointError(Exception):
    """A checkpoint that cannot be used, worded as one line naming the file."""


class WriteError(Exception):
    """A file that could not be written (a full disk, a quota), worded as one line that
    names it and says what is still intact."""


def corrupt(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: corrupt checkpoint ({what})")
