"""Errors that carry a message meant for the person who gave us the input."""


class BadInput(ValueError):
    """Input we refuse: an upload, a mapping or an audit setting.

    The message names the file, row or column at fault and is shown as it is.
    """


def first_line(exc: BaseException) -> str:
    """A library's message, first non-blank line (they may run over many): what broke."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


class QueueUnavailable(RuntimeError):
    """The job is stored, queued, but the broker could not be reached to send it: the
    reconciler (audits.services.reconcile) sends it once the broker is back."""

    def __init__(self, message: str, *, job_ids: list[int]):
        super().__init__(message)
        self.job_ids = job_ids
