"""`manage.py reconcile`: the periodic reconciler (audits.services.reconcile).

Production runs one of these beside the web servers and workers (deploy/Procfile,
deploy/systemd); `manage.py serve` runs the same loop in its own process. `--once` runs a
single round (cron, or by hand after an outage) and prints what it did.
"""
from __future__ import annotations

import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from audits.services.reconcile import jobs_reconcile


def reconcile_forever(stop: threading.Event, log) -> None:
    """A round every RECONCILE_INTERVAL_SECONDS until `stop` is set; a failed round (the
    database away) is logged and the next one tries again."""
    while not stop.is_set():
        try:
            jobs_reconcile()
        except Exception:  # noqa: BLE001 - the loop must outlive an outage
            log.exception("reconciler round failed")
        finally:
            connections.close_all()
        stop.wait(settings.RECONCILE_INTERVAL_SECONDS)


class Command(BaseCommand):
    help = "Re-queue or fail, with a reason, every job whose worker or broker message is gone."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one round, then exit")

    def handle(self, *args, once: bool = False, **opts):
        if once:
            did = jobs_reconcile()
            self.stdout.write(", ".join(f"{k}: {v}" for k, v in sorted(did.items())) or "nothing to do")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"reconciling every {settings.RECONCILE_INTERVAL_SECONDS} s")
        reconcile_forever(stop, logging.getLogger("audits.reconcile"))
