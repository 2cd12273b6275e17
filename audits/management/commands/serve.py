"""`manage.py serve`: the web server, one Celery worker and the reconciler together, for
`make run`.

Production runs them as separate processes (deploy/: gunicorn, any number of workers, one
`manage.py reconcile`); this keeps a single command for a laptop with no server
installed. `serve` looks after its worker: the worker runs in a process group of its
own, is started again when it dies (a crash, an out-of-memory kill), and is stopped with
its pool when `serve` stops, on Ctrl-C, SIGTERM or SIGHUP, or when `serve` itself is
killed (the kernel's parent-death signal). The job a dead worker held is queued again by
the reconciler (audits.services.reconcile), which runs here in a thread.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from audits.management.commands.reconcile import reconcile_forever

log = logging.getLogger("audits.serve")
WORKER = [sys.executable, "-m", "celery", "-A", "auditplatform", "worker", "--loglevel=INFO",
          "--concurrency=1", "--without-gossip", "--without-mingle"]
STOP_GRACE_SECONDS = 10  # a task still running then is killed; the reconciler re-queues it
RESTART_DELAYS = (1, 2, 5, 10, 30)  # seconds before each restart of a worker that keeps dying


def _dies_with_parent(argv: list[str]) -> list[str]:
    """`argv` run so that it gets SIGTERM when the thread that started it (ours) dies:
    util-linux's setpriv sets the parent-death signal and execs, where it is installed."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv and sys.platform == "linux" else argv


class Supervised:
    """A child process in its own group, started again whenever it exits until stopped."""

    def __init__(self, argv: list[str]):
        self.argv, self.stopping, self.lock = argv, threading.Event(), threading.Lock()
        self.process: subprocess.Popen | None = None

    def run(self) -> None:
        """Start the child and keep it running until stop(); meant for its own thread."""
        failures = 0
        while True:
            with self.lock:  # stop() either sees this process or stops it being started
                if self.stopping.is_set():
                    return
                started = time.monotonic()
                self.process = subprocess.Popen(_dies_with_parent(self.argv), env=os.environ.copy(),
                                                start_new_session=True)
            code = self.process.wait()
            if self.stopping.is_set():
                return
            # A worker that ran a while had a fault, not a broken set-up: start again at once.
            failures = 0 if time.monotonic() - started > 60 else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.warning("worker exited with %s; starting it again in %s s", code, delay)
            self.stopping.wait(delay)

    def stop(self) -> None:
        """SIGTERM the worker (it ends its current task if quick), then kill its group."""
        with self.lock:
            self.stopping.set()
            process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # the pool's children too
        except ProcessLookupError:
            pass
        process.wait()


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # runserver's own way out, so the finally below runs


class Command(BaseCommand):
    help = "Serve the web app at ADDRPORT with a supervised Celery worker and the reconciler."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **opts):
        worker = Supervised(WORKER)
        stop = threading.Event()
        threads = [threading.Thread(target=worker.run, name="worker", daemon=True),
                   threading.Thread(target=reconcile_forever, args=(stop, log), name="reconciler", daemon=True)]
        for thread in threads:
            thread.start()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)
        try:
            # Static files come from WhiteNoise (settings), as in production. runserver
            # answers Ctrl-C (and our SIGTERM, SIGHUP) with SystemExit.
            call_command("runserver", addrport, use_reloader=False)
        finally:
            stop.set()
            worker.stop()
