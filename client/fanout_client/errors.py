"""The one error the command reports: a sentence for a CI log, printed on one line."""


class FanoutError(Exception):
    """Something the user must know to act on; ``str()`` is the whole message."""
