"""Background jobs (audits and debiasing runs): start one, record its progress, mark its failure.

Both kinds extend the abstract `audits.models.Job`, so one set of helpers serves them.
Tasks call services, and services start tasks: a task is named here rather than
imported from audits.tasks, which keeps the import graph one-way (tasks -> services).
`audits.apps` imports audits.tasks at start-up, so every process knows every task by name.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from auditplatform.celery import app
from audits.errors import BadInput
from audits.models import Job

log = logging.getLogger(__name__)


def job_enqueue(*, task: str, ids: list[int], queue: str | None = None) -> None:
    """Queue the Celery task `task` (of audits.tasks) once per id (of an audit, a run or a
    chunk) after the current transaction commits, so no worker looks for a row that is
    not stored yet; on `queue` when given (audits.services.routing), else the default."""
    registered = app.tasks[f"audits.tasks.{task}"]  # a wrong name fails here, not in a worker
    options = {"queue": queue} if queue else {}
    transaction.on_commit(lambda: [registered.apply_async((pk,), **options) for pk in ids])


def job_progress(*, job: type[Job], job_id: int, stage: str, done: int = 0, total: int = 0) -> None:
    """Record the stage a job is in and how far through it is (its page's progress bar)."""
    job.objects.filter(pk=job_id).update(stage=stage, progress_done=done, progress_total=total)


def job_fail(
    *, job: type[Job], job_id: int, exc: Exception | None = None, reason: str = "",
    status: str = Job.Status.FAILED, stage: str | None = None,
) -> None:
    """Mark a job ended without a result. With `exc`, the reason is the exception, logged
    with its traceback: a BadInput's own message, else its type and message. The stage is
    left as it was (where the job stopped) unless `stage` is given."""
    if exc is not None:
        log.exception("%s %s failed", job._meta.verbose_name, job_id)
        reason = str(exc) if isinstance(exc, BadInput) else f"{type(exc).__name__}: {exc}"
    fields = {"status": status, "error": reason, "finished_at": timezone.now()}
    if stage is not None:
        fields["stage"] = stage
    job.objects.filter(pk=job_id).update(**fields)
