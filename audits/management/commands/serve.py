"""`manage.py serve`: the web server and one Celery worker together, for `make run`.

Production runs them separately (gunicorn or similar, and any number of workers);
this keeps a single command for a laptop with no server installed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start a Celery worker in the background and the web server at ADDRPORT."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **opts):
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "auditplatform", "worker",
             "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle"],
            env=os.environ.copy(),
        )
        try:
            # --insecure serves static files with DEBUG off; fine for a local server.
            call_command("runserver", addrport, use_reloader=False, insecure_serving=True)
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
