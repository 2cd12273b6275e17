"""Approvals as background jobs: freezing and signing a report takes seconds to minutes
(the PDF), so the request only records a sign-off and a worker carries it out.

The audit counts as approved once its report is signed: `signoff_run` signs, then marks
the audit approved and puts the decision on the trail, in that order, so a run cut short
anywhere can run again (report_freeze returns the record it already made). At most one
sign-off per audit is queued or running (a partial unique constraint), so a second click
or a second reviewer gets a clear message instead of a second job.
"""
from __future__ import annotations

import functools

from celery import current_app
from django.db import IntegrityError, transaction
from django.utils import timezone

from audits.errors import BadInput
from audits.models import Audit, SignOff
from audits.services.job_claims import job_claim, job_heartbeat, job_is_ours
from audits.services.jobs import job_enqueue, job_fail, job_progress
from audits.services.signing import report_freeze
from audits.services.trail import event_record

ACTIVE = (SignOff.Status.QUEUED, SignOff.Status.RUNNING)


def signoff_active(*, audit: Audit) -> SignOff | None:
    """The audit's queued or running sign-off, if any."""
    return SignOff.objects.filter(audit_id=audit.pk, status__in=ACTIVE).first()


def signoff_create(*, audit: Audit, user, comment: str, enqueue: bool = True) -> SignOff:
    """Record an approval to carry out (the caller holds the audit's row lock and has
    checked that it may be approved); with `enqueue`, a worker runs it once committed."""
    try:
        with transaction.atomic():
            signoff = SignOff.objects.create(organisation=audit.organisation, audit=audit, comment=comment,
                                             created_by=user, stage="queued")
    except IntegrityError as exc:
        raise BadInput(f"Audit {audit.pk} is already being signed; its page shows when it is done.") from exc
    if enqueue:
        job_enqueue(task="signoff_run_task", ids=[signoff.pk])
    return signoff


def signoff_inline() -> bool:
    """Whether approvals are signed within the request: Celery's eager mode (tests, the CLI)."""
    return bool(current_app.conf.task_always_eager)


def signoff_run(*, signoff_id: int, heartbeat: bool = False) -> SignOff:
    """Sign the report, then mark the audit approved with the approver's comment.

    The run takes its sign-off first (job_claims.job_claim): a redelivered task finds it
    taken or ended and does nothing. One queued again by the reconciler after its worker
    died signs again (report_freeze returns the record the dead attempt made, if any).
    `heartbeat`: beat while working (a worker's task)."""
    attempt = job_claim(job=SignOff, job_id=signoff_id)
    if attempt is None:
        return SignOff.objects.get(pk=signoff_id)
    signoff = SignOff.objects.select_related("audit", "created_by").get(pk=signoff_id)
    progress = functools.partial(job_progress, job=SignOff, job_id=signoff_id)
    with job_heartbeat(job=SignOff, job_id=signoff_id, attempt=attempt, enabled=heartbeat):
        try:
            progress(stage="signing the report")
            report_freeze(audit=signoff.audit, user=signoff.created_by, comment=signoff.comment)
            progress(stage="recording the approval")
            _approve(signoff, attempt)
        except Exception as exc:
            job_fail(job=SignOff, job_id=signoff_id, exc=exc, attempt=attempt)
    return SignOff.objects.get(pk=signoff_id)


def _approve(signoff: SignOff, attempt: int) -> None:
    with transaction.atomic():
        audit = Audit.objects.select_for_update().get(pk=signoff.audit_id)
        if not job_is_ours(job=SignOff, job_id=signoff.pk, attempt=attempt).update(
                status=SignOff.Status.DONE, stage="signed", finished_at=timezone.now()):
            return  # the reconciler took the job from this attempt; the next one approves
        if audit.review_status != Audit.ReviewStatus.APPROVED:
            audit.review_status = Audit.ReviewStatus.APPROVED
            audit.save(update_fields=["review_status"])
            event_record(organisation=audit.organisation, actor=signoff.created_by, verb="review.approve",
                         audit=audit, comment=signoff.comment, detail={"signoff": signoff.pk})
