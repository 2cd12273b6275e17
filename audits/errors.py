"""Errors that carry a message meant for the person who gave us the input."""
from __future__ import annotations

import numpy as np

ROWS_SHOWN = 5  # row numbers a message lists before "and N more"


class BadInput(ValueError):
    """Input we refuse: an upload, a mapping or an audit setting.

    The message names the file, row or column at fault and is shown as it is.
    """


def first_line(exc: BaseException) -> str:
    """A library's message, first non-blank line (they may run over many): what broke."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def row_list(mask) -> str:
    """The rows a message names, from a boolean mask over a table's data rows: "7 rows
    (0-based data rows 3, 4, 5, 6, 7 and 2 more)"."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    n = len(positions)
    shown = ", ".join(str(p) for p in positions[:ROWS_SHOWN])
    more = f" and {n - ROWS_SHOWN} more" if n > ROWS_SHOWN else ""
    plural = "s" if n != 1 else ""
    return f"{n} row{plural} (0-based data row{plural} {shown}{more})"


class QueueUnavailable(RuntimeError):
    """The job is stored, queued, but the broker could not be reached to send it: the
    reconciler (audits.services.reconcile) sends it once the broker is back."""

    def __init__(self, message: str, *, job_ids: list[int]):
        super().__init__(message)
        self.job_ids = job_ids
