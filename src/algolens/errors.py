"""The one exception type a user sees: bad input, not a bug.

The CLI turns an :class:`AlgolensError` into one line on stderr and exit code 2.
"""


class AlgolensError(Exception):
    """Bad input from the user: a malformed question, a missing run, an impossible config."""
