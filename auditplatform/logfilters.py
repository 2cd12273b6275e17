"""Logging filters: keep messages that say nothing to a person running the platform off
the console (they repeat on every report rendered and hide the ones that matter).

- WeasyPrint's "Using fontTools instead of HarfBuzz-Subset" (once per font and PDF when
  Debian's libharfbuzz-subset0 is missing; `make fonts` installs it) and its notes on CSS
  properties that do not apply to print ("Ignored `cursor: pointer` ...");
- fontTools' "... NOT subset; don't know how to subset; dropped" for tables a font subset
  does not need;
- kombu's "No hostname was supplied. Reverting to default 'localhost'" (Celery's
  filesystem broker, `filesystem://`, has no host by design; printed at every connection).
Everything else from these libraries still reaches the console at WARNING and above.

ProgressPolls keeps the development server's access log (`manage.py serve`, `runserver`)
free of the progress polls the home, audit and mitigation pages make every few seconds;
other requests, and a poll that fails (4xx, 5xx), are still logged.
"""
from __future__ import annotations

import logging
import re

QUIET = {
    "weasyprint": ("Using fontTools instead of HarfBuzz-Subset", "Ignored `"),
    "fontTools": ("NOT subset; don't know how to subset",),
    "kombu": ("No hostname was supplied",),
}


class LibraryNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.split(".", 1)[0]
        if library not in QUIET:
            return True
        message = record.getMessage()
        return not any(part in message for part in QUIET[library])


# The request line of a poll of one of the progress endpoints in audits/web/urls.py
# (demo/progress/, audits/<pk>/progress/, mitigations/<pk>/progress/).
PROGRESS_POLL = re.compile(r"^GET \S*/progress/(\?\S*)? HTTP/")


class ProgressPolls(logging.Filter):
    """On the "django.server" logger, whose records carry the request line as their first
    argument and the status as `status_code` (django.core.servers.basehttp)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) >= 400 or not record.args:
            return True
        return not PROGRESS_POLL.match(str(record.args[0]))
