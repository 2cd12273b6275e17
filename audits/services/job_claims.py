"""Taking a background job, and showing that it is still being worked on.

A task takes (claims) its job with one conditional update: from queued to running, one
attempt more. A second delivery of the same task (the broker redelivers after a lost
connection, or the reconciler re-sends a job it believes lost) finds the job taken or
ended and does nothing, so one process at a time works on a job and a finished one is
never redone. While the process works, a thread of it beats: it stamps `heartbeat_at`
every JOB_HEARTBEAT_SECONDS, keyed on its attempt. A process that died stops beating,
and audits.services.reconcile re-queues or fails its job.

Jobs are the concrete `audits.models.Job` models and `ExplainChunk`, which share the
fields status, attempts and heartbeat_at.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from audits.models import Job

log = logging.getLogger(__name__)
QUEUED, RUNNING = Job.Status.QUEUED.value, Job.Status.RUNNING.value


def job_claim(*, job: type[models.Model], job_id: int, **where) -> int | None:
    """Take the queued job `job_id` (also matching `where`, e.g. its audit's status): it
    becomes running, with one attempt more and a beat now. Returns the attempt's number,
    or None when the job is not queued (ended, cancelled, or taken by another process)."""
    now = timezone.now()
    fields = {"status": RUNNING, "attempts": F("attempts") + 1, "heartbeat_at": now}
    if issubclass(job, Job):
        fields |= {"started_at": now, "finished_at": None, "error": ""}
    with transaction.atomic():
        # The update holds the row's lock until commit, so the number read is ours.
        if not job.objects.filter(pk=job_id, status=QUEUED, **where).update(**fields):
            return None
        return job.objects.values_list("attempts", flat=True).get(pk=job_id)


def job_is_ours(*, job: type[models.Model], job_id: int, attempt: int | None) -> models.QuerySet:
    """The job's row while `attempt` still holds it (running, not re-queued since): the
    filter every last write of an attempt goes through. None: any running attempt."""
    rows = job.objects.filter(pk=job_id, status=RUNNING)
    return rows if attempt is None else rows.filter(attempts=attempt)


@contextlib.contextmanager
def job_heartbeat(*, job: type[models.Model], job_id: int, attempt: int | None, enabled: bool = True) -> Iterator[None]:
    """Beat for the job while the body runs: a thread stamps heartbeat_at every
    JOB_HEARTBEAT_SECONDS for as long as `attempt` holds the job. Off when not `enabled`
    (in-process runs inside one transaction: the CLI, eager Celery) or without an interval."""
    interval = settings.JOB_HEARTBEAT_SECONDS
    if not enabled or interval <= 0 or attempt is None:
        yield
        return
    stop = threading.Event()
    beater = threading.Thread(target=_beat, args=(job, job_id, attempt, interval, stop),
                              name=f"heartbeat-{job._meta.model_name}-{job_id}", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join(timeout=interval + 5)


def _beat(job: type[models.Model], job_id: int, attempt: int, interval: float, stop: threading.Event) -> None:
    try:
        while not stop.wait(interval):
            try:
                if not job_is_ours(job=job, job_id=job_id, attempt=attempt).update(heartbeat_at=timezone.now()):
                    return  # ended, or re-queued and taken by another attempt: nothing left to vouch for
            except Exception:  # noqa: BLE001 - a missed beat is retried; the job's own work goes on
                log.warning("heartbeat of %s %s missed", job._meta.model_name, job_id, exc_info=True)
    finally:
        connection.close()  # this thread's own connection
