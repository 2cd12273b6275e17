"""Background jobs (audits and debiasing runs): start one, record its progress, mark its failure.

Both kinds extend the abstract `audits.models.Job`, so one set of helpers serves them.
Tasks call services, and services start tasks: a task is named here rather than
imported from audits.tasks, which keeps the import graph one-way (tasks -> services).
`audits.apps` imports audits.tasks at start-up, so every process knows every task by name.

The database, not the broker, is the record of a job: a job is sent after its row is
committed, and a job the broker lost or never received stays queued in the database
until the reconciler (audits.services.reconcile) sends it again.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from auditplatform.celery import app
from audits.errors import BadInput, QueueUnavailable
from audits.models import Job

log = logging.getLogger(__name__)


def job_enqueue(*, task: str, ids: list[int], queue: str | None = None, required: bool = False,
                countdown: int = 0) -> None:
    """Queue the Celery task `task` (of audits.tasks) once per id (of an audit, a run or a
    chunk) after the current transaction commits, so no worker looks for a row that is
    not stored yet; on `queue` when given (audits.services.routing), else the default.

    Each send is retried BROKER_SEND_RETRIES times. When the broker stays unreachable the
    jobs stay queued in the database for the reconciler; with `required` (a request whose
    client must be told) QueueUnavailable is raised after the commit, else it is logged."""
    registered = app.tasks[f"audits.tasks.{task}"]  # a wrong name fails here, not in a worker
    options = {"queue": queue} if queue else {}
    if countdown:  # seconds before a worker may start it (a job that waits for another)
        options["countdown"] = countdown
    policy = {"max_retries": settings.BROKER_SEND_RETRIES, "interval_start": 0.2, "interval_step": 0.5,
              "interval_max": 2.0}

    def send() -> None:
        unsent = list(ids)
        try:
            for pk in ids:
                registered.apply_async((pk,), retry=True, retry_policy=policy, **options)
                unsent.remove(pk)
        except (BrokerError, OSError) as exc:
            log.warning("broker unreachable: %s %s left queued for the reconciler (%s)", task, unsent, exc)
            if required:
                raise QueueUnavailable(f"The job queue is unreachable ({exc}).", job_ids=unsent) from exc

    transaction.on_commit(send)


def job_progress(*, job: type[Job], job_id: int, stage: str, done: int = 0, total: int = 0) -> None:
    """Record the stage a job is in and how far through it is (its page's progress bar);
    a progress write is also a sign of life (audits.services.job_claims)."""
    job.objects.filter(pk=job_id).update(stage=stage, progress_done=done, progress_total=total,
                                         heartbeat_at=timezone.now())


def job_fail(
    *, job: type[Job], job_id: int, exc: Exception | None = None, reason: str = "",
    status: str = Job.Status.FAILED, stage: str | None = None, attempt: int | None = None,
) -> bool:
    """Mark a job ended without a result. With `exc`, the reason is the exception, logged
    with its traceback: a BadInput's own message, else its type and message. The stage is
    left as it was (where the job stopped) unless `stage` is given. With `attempt`, only
    while the job is unfinished and that attempt still holds it (the reconciler). Returns
    whether the job was marked."""
    if exc is not None:
        log.exception("%s %s failed", job._meta.verbose_name, job_id)
        reason = str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"
    fields = {"status": status, "error": reason, "finished_at": timezone.now()}
    if stage is not None:
        fields["stage"] = stage
    rows = job.objects.filter(pk=job_id)
    if attempt is not None:
        rows = rows.filter(attempts=attempt, status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
    return bool(rows.update(**fields))
