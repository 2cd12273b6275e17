"""Errors that carry a message meant for the person who gave us the input."""


class BadInput(ValueError):
    """Input we refuse: an upload, a mapping or an audit setting.

    The message names the file, row or column at fault and is shown as it is.
    """
