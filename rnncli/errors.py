"""Errors that carry a one-line message for the user."""


class DataError(Exception):
    """A problem with the user's input, worded as one line that says what to do."""
