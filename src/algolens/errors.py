"""The one exception type a user sees: bad input, not a bug.

The CLI turns an :class:`AlgolensError` into one line on stderr and exit code 2.
"""

MAX_MESSAGE = 300  # characters; a 10,000-digit operand quoted back would bury the reason


class AlgolensError(Exception):
    """Bad input from the user: a malformed question, a missing run, an impossible config.

    The message is kept to one line of at most :data:`MAX_MESSAGE` characters: a long quote of
    the user's input is cut in the middle.
    """

    def __init__(self, message: object = "") -> None:
        text = " ".join(str(message).split("\n"))
        if len(text) > MAX_MESSAGE:
            text = f"{text[: MAX_MESSAGE - 90]} ...({len(text):,} characters)... {text[-60:]}"
        super().__init__(text)
