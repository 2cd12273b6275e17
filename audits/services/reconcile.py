"""The reconciler: every job the database holds as queued or running is on its way, or
ended with a reason.

It runs every RECONCILE_INTERVAL_SECONDS (`manage.py reconcile`, one process per
deployment; `manage.py serve` runs it beside its worker) and once when each worker
starts, and repairs from the database alone, whatever the broker lost:

- a running job whose process stopped beating for JOB_STALE_SECONDS (a worker's child or
  main process killed, a machine lost) is queued again and re-sent, or failed with the
  reason once it has had JOB_MAX_ATTEMPTS attempts; one that ran past its task's time
  limit is failed;
- an explanation chunk likewise; when the last chunk of an audit is failed here, the
  audit is queued again to write its report;
- queued jobs are sent again when their queue in the broker holds fewer messages than
  the database has jobs queued for it (a broker restarted without persistence, a send
  that failed while the broker was down), JOB_QUEUED_GRACE_SECONDS after their last send;
- a job still queued JOB_QUEUED_MAX_SECONDS after it was created (no worker serves its
  queue) is failed with the reason.

Each change is a conditional update on what was read, so two reconcilers, or a
reconciler and a worker, never both act on one job; a re-sent task whose job was taken
meanwhile does nothing (audits.services.job_claims).
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from auditplatform.celery import app
from audits.models import Audit, ExplainChunk, Job, MitigationRun, SignOff
from audits.services.explain_chunks import explain_chunk_abandon
from audits.services.job_claims import QUEUED, RUNNING
from audits.services.jobs import job_enqueue, job_fail
from audits.services.mitigations import mitigation_leftovers_discard
from audits.services.routing import audit_queue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """A kind of job the reconciler looks after: its model, its task (audits.tasks), the
    queue a row's task goes to, and what a failed row leaves to remove."""

    model: type[models.Model]
    task: str
    queue: Callable[[models.Model], str] = lambda row: settings.CELERY_TASK_DEFAULT_QUEUE
    related: tuple[str, ...] = ()
    discard: Callable[[models.Model], None] | None = None

    def time_limit(self) -> int:
        return app.tasks[f"audits.tasks.{self.task}"].time_limit or settings.CELERY_TASK_TIME_LIMIT


def _audit_queue(audit: Audit) -> str:
    return audit_queue(model=audit.model, device=audit.config.get("device", "auto"))


AUDITS = Kind(Audit, "audit_run_task", queue=_audit_queue, related=("model",))
RUNS = Kind(MitigationRun, "mitigation_run_task", discard=lambda run: mitigation_leftovers_discard(run=run))
CHUNKS = Kind(ExplainChunk, "explain_chunk_task", queue=lambda chunk: _audit_queue(chunk.audit),
              related=("audit__model",))
SIGNOFFS = Kind(SignOff, "signoff_run_task")  # an approval's signing (audits/services/signoffs.py)
JOBS = (AUDITS, RUNS, SIGNOFFS)


def jobs_reconcile(*, now: datetime | None = None) -> Counter:
    """One round over every unfinished job; returns what it did: requeued, failed, resent."""
    now = now or timezone.now()
    did: Counter = Counter()
    for kind in JOBS:
        _over_time(kind, now, did)
        for row in _silent(kind, now):
            _recover(kind, row, now, did, why=f"its worker stopped at stage {row.stage!r}")
    for chunk in _silent(CHUNKS, now):
        _chunk_recover(chunk, now, did)
    _queued_too_long(now, did)
    _queued_lost(now, did)
    if did:
        log.warning("reconciled jobs: %s", dict(did))
    return did


def _silent(kind: Kind, now: datetime) -> models.QuerySet:
    """Running rows with no sign of life for JOB_STALE_SECONDS. An audit waiting on its
    explanation chunks is carried by them and is not silent while one is pending."""
    stale = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    if kind is CHUNKS:
        rows = ExplainChunk.objects.filter(status=RUNNING, audit__status=RUNNING).filter(
            Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale))
    else:
        rows = kind.model.objects.filter(status=RUNNING).annotate(
            seen=Coalesce("heartbeat_at", "started_at", "created_at")).filter(seen__lt=stale)
    if kind is AUDITS:
        pending = ExplainChunk.objects.filter(audit=OuterRef("pk"), status__in=[QUEUED, RUNNING])
        rows = rows.exclude(Q(stage="explain") & Exists(pending))
    return rows.select_related(*kind.related)


def _recover(kind: Kind, row, now: datetime, did: Counter, *, why: str) -> None:
    """Queue a silent job again and re-send it, or fail it once its attempts are spent."""
    if row.attempts >= settings.JOB_MAX_ATTEMPTS:
        reason = (f"Stopped after {row.attempts} attempts: {why}, with no sign of life for "
                  f"{settings.JOB_STALE_SECONDS} s.")
        _fail(kind, row, reason, did)
        return
    requeued = kind.model.objects.filter(
        pk=row.pk, status=RUNNING, attempts=row.attempts, heartbeat_at=row.heartbeat_at,
    ).update(status=QUEUED, heartbeat_at=now)
    if requeued:
        did["requeued"] += 1
        job_enqueue(task=kind.task, ids=[row.pk], queue=kind.queue(row))


def _fail(kind: Kind, row, reason: str, did: Counter) -> None:
    if job_fail(job=kind.model, job_id=row.pk, reason=reason, attempt=row.attempts):
        did["failed"] += 1
        log.warning("%s %s failed: %s", kind.model._meta.verbose_name, row.pk, reason)
        if kind.discard is not None:
            kind.discard(row)


def _over_time(kind: Kind, now: datetime, did: Counter) -> None:
    """Fail running jobs taken longer ago than their task's time limit (plus the stale
    window): a process that is alive but stuck, which no worker's time limit stopped."""
    limit = kind.time_limit()
    rows = kind.model.objects.filter(status=RUNNING, started_at__lt=now - timedelta(
        seconds=limit + settings.JOB_STALE_SECONDS))
    if kind is AUDITS:
        rows = rows.exclude(stage="explain")  # its chunks have their own tasks and limits
    for row in rows:
        _fail(kind, row, f"Stopped: it ran past its time limit of {limit} s.", did)


def _chunk_recover(chunk: ExplainChunk, now: datetime, did: Counter) -> None:
    """A silent chunk goes back to its queue; once its attempts are spent it is failed (the
    report names it), and when it was the audit's last, the audit is queued to finish."""
    if chunk.attempts < settings.JOB_MAX_ATTEMPTS:
        _recover(CHUNKS, chunk, now, did, why="")
        return
    reason = (f"Stopped after {chunk.attempts} attempts: its worker stopped, with no sign of life "
              f"for {settings.JOB_STALE_SECONDS} s.")
    did["failed"] += 1
    if explain_chunk_abandon(chunk_id=chunk.pk, attempt=chunk.attempts, reason=reason):
        if Audit.objects.filter(pk=chunk.audit_id, status=RUNNING).update(status=QUEUED, heartbeat_at=now):
            job_enqueue(task=AUDITS.task, ids=[chunk.audit_id], queue=_audit_queue(chunk.audit))


def _queued_too_long(now: datetime, did: Counter) -> None:
    cutoff = now - timedelta(seconds=settings.JOB_QUEUED_MAX_SECONDS)
    hours = settings.JOB_QUEUED_MAX_SECONDS / 3600
    for kind in JOBS:
        for row in kind.model.objects.filter(status=QUEUED, created_at__lt=cutoff).select_related(*kind.related):
            _fail(kind, row, f"No worker took it within {hours:g} hours: is a worker serving the "
                             f"queue {kind.queue(row)!r}?", did)


def _queued_lost(now: datetime, did: Counter) -> None:
    """Send again the queued jobs of each queue that holds fewer messages than the
    database has jobs queued for it; each at most once per JOB_QUEUED_GRACE_SECONDS."""
    grace = now - timedelta(seconds=settings.JOB_QUEUED_GRACE_SECONDS)
    waiting: dict[str, list[tuple[Kind, models.Model]]] = {}
    for kind in (*JOBS, CHUNKS):
        rows = kind.model.objects.filter(status=QUEUED)
        if kind is CHUNKS:
            rows = rows.filter(audit__status=RUNNING)
        for row in rows.select_related(*kind.related):
            waiting.setdefault(kind.queue(row), []).append((kind, row))
    expected = _others_queued()
    for queue, items in waiting.items():
        size = queue_size(queue)
        if size is None or size >= len(items) + (expected if queue == settings.CELERY_TASK_DEFAULT_QUEUE else 0):
            continue
        for kind, row in items:
            last = row.heartbeat_at or getattr(row, "created_at", None)
            if last is not None and last >= grace:
                continue  # just sent: its message may still be on the way
            if kind.model.objects.filter(pk=row.pk, status=QUEUED, heartbeat_at=row.heartbeat_at
                                         ).update(heartbeat_at=now):
                did["resent"] += 1
                job_enqueue(task=kind.task, ids=[row.pk], queue=queue)


def _others_queued() -> int:
    """Queued jobs of the kinds this module does not send (their tasks are in the default
    queue too), so that their messages are not taken for ours."""
    ours = {kind.model for kind in JOBS}
    return sum(model.objects.filter(status=QUEUED).count() for model in apps.get_models()
               if issubclass(model, Job) and model not in ours)


def queue_size(name: str) -> int | None:
    """Messages waiting in the broker's queue `name` (not those a worker holds), or None
    when the broker cannot be reached."""
    from kombu.exceptions import ChannelError, OperationalError

    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=5)
            try:
                return conn.default_channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:
                return 0  # no such queue yet: nothing was ever sent to it, or it was lost
    except (OperationalError, OSError) as exc:
        log.warning("reconciler: broker unreachable (%s); queued jobs are sent again later", exc)
        return None
