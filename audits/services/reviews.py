"""Review workflow: a compliance officer's decision on a finished audit, the queue and
what was sent back, and sharing an approved (signed) report with a regulator. Decisions
and shares go to the audit trail.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from audits.access import org_audits
from audits.errors import BadInput
from audits.models import Audit, Dataset, Membership, ModelArtifact, Organisation, ReportShare
from audits.services.audits import audit_create
from audits.services.notices import notice_sent_back
from audits.services.ownership import organisation_check
from audits.services.signing import audit_is_frozen
from audits.services.signoffs import signoff_active, signoff_create, signoff_inline, signoff_run
from audits.services.trail import event_record

DECISIONS = {
    "approve": Audit.ReviewStatus.APPROVED,
    "reject": Audit.ReviewStatus.REJECTED,
    "changes_requested": Audit.ReviewStatus.CHANGES,
}


def review_queue(*, organisation: Organisation) -> QuerySet[Audit]:
    """Finished audits nobody has decided on yet, oldest first (first come, first served)."""
    return (org_audits(organisation).filter(status=Audit.Status.DONE, review_status=Audit.ReviewStatus.NONE)
            .order_by("finished_at", "pk"))


def review_sent_back(*, organisation: Organisation) -> QuerySet[Audit]:
    """Audits a reviewer rejected or sent back for changes, newest first, with their re-runs,
    so nothing sent back drops out of sight."""
    return (org_audits(organisation).filter(review_status__in=Audit.SENT_BACK)
            .prefetch_related("reruns").order_by("-finished_at", "-pk"))


def audit_rerun(*, previous: Audit, user, model: ModelArtifact, dataset: Dataset, config: dict) -> Audit:
    """A new audit of an audit that was sent back ("re-run with changes"), linked to it;
    it runs on a worker and, once done, waits in the review queue like any audit."""
    organisation_check(user=user, obj=previous, what=f"Audit {previous.pk}")
    if previous.review_status not in Audit.SENT_BACK:
        raise BadInput(f"Audit {previous.pk} was not sent back by a reviewer; start a new audit instead.")
    with transaction.atomic():
        audit = audit_create(organisation=previous.organisation, user=user, model=model, dataset=dataset,
                             config=config, previous=previous)
        event_record(organisation=previous.organisation, actor=user, verb="audit.rerun", audit=previous,
                     detail={"audit": audit.pk})
    return audit


def review_decide(*, audit: Audit, user, decision: str, comment: str) -> Audit:
    """Record a decision with its comment. Rejecting or requesting changes takes effect
    at once and notifies the person who started the audit; approving starts a sign-off
    (audits/services/signoffs.py) that freezes and signs the report and then marks the
    audit approved: on a worker, or here in Celery's eager mode."""
    status = DECISIONS.get(decision)
    if status is None:
        raise BadInput(f"Unknown decision {decision!r}: choose approve, reject or changes_requested.")
    comment = (comment or "").strip()
    if not comment:
        raise BadInput("A comment is required with every review decision.")
    organisation_check(user=user, obj=audit, what=f"Audit {audit.pk}")
    inline = signoff_inline()
    signoff = None
    with transaction.atomic():
        # Locked so two reviewers cannot both decide on the same audit at once.
        audit = Audit.objects.select_for_update().get(pk=audit.pk)
        if audit.status != Audit.Status.DONE:
            raise BadInput(f"Audit {audit.pk} has not finished; only finished audits can be reviewed.")
        if audit.review_status == Audit.ReviewStatus.APPROVED:
            raise BadInput(f"Audit {audit.pk} is already approved; an approval is final.")
        if signoff_active(audit=audit) is not None:
            raise BadInput(f"Audit {audit.pk} is being signed after an approval; its page shows when it is done.")
        if status == Audit.ReviewStatus.APPROVED:
            signoff = signoff_create(audit=audit, user=user, comment=comment, enqueue=not inline)
        else:
            audit.review_status = status
            audit.save(update_fields=["review_status"])
            event_record(organisation=audit.organisation, actor=user, verb=f"review.{decision}",
                         audit=audit, comment=comment)
            notice_sent_back(audit=audit, reviewer=user, comment=comment)
    if signoff is not None and inline:
        signoff_run(signoff_id=signoff.pk)
        audit.refresh_from_db()
    return audit


def report_share(*, audit: Audit, user, regulator_username: str) -> ReportShare:
    """Make an approved, signed report visible to one regulator; sharing twice is a no-op."""
    organisation_check(user=user, obj=audit, what=f"Audit {audit.pk}")
    audit = Audit.objects.get(pk=audit.pk)  # the review state now, not when the caller read it
    if audit.review_status != Audit.ReviewStatus.APPROVED or not audit_is_frozen(audit.pk):
        raise BadInput(f"Audit {audit.pk} must be approved and signed before it can be shared.")
    username = (regulator_username or "").strip()
    regulator = (get_user_model().objects
                 .filter(username=username, membership__role=Membership.Role.REGULATOR).first())
    if regulator is None:
        # The same message for "no such user" and "not a regulator": no account probing.
        raise BadInput(f"“{username}” is not a regulator account; ask an admin for the regulator's username.")
    with transaction.atomic():
        share, created = ReportShare.objects.get_or_create(
            audit=audit, regulator=regulator, defaults={"shared_by": user})
        if created:
            event_record(organisation=audit.organisation, actor=user, verb="report.share", audit=audit,
                         detail={"regulator": regulator.get_username()})
    return share
