"""Errors that carry a one-line message for the user."""


class DataError(Exception):
    """A problem with the user's input, worded as one line that says what to do."""


class CheckpointError(Exception):
    """A checkpoint that cannot be used, worded as one line naming the file."""


def corrupt(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: corrupt checkpoint ({what})")
