"""Review workflow: a compliance officer's decision on a finished audit, and sharing
an approved (signed) report with a regulator. Both go to the audit trail.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet

from audits.access import org_audits
from audits.errors import BadInput
from audits.models import Audit, Membership, Organisation, ReportShare
from audits.services.ownership import organisation_check
from audits.services.signing import audit_is_frozen, report_freeze
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


def review_decide(*, audit: Audit, user, decision: str, comment: str) -> Audit:
    """Record a decision with its comment; approving also freezes and signs the report."""
    status = DECISIONS.get(decision)
    if status is None:
        raise BadInput(f"Unknown decision {decision!r}: choose approve, reject or changes_requested.")
    comment = (comment or "").strip()
    if not comment:
        raise BadInput("A comment is required with every review decision.")
    organisation_check(user=user, obj=audit, what=f"Audit {audit.pk}")
    with transaction.atomic():
        # Locked so two reviewers cannot both decide on the same audit at once.
        audit = Audit.objects.select_for_update().get(pk=audit.pk)
        if audit.status != Audit.Status.DONE:
            raise BadInput(f"Audit {audit.pk} has not finished; only finished audits can be reviewed.")
        if audit.review_status == Audit.ReviewStatus.APPROVED:
            raise BadInput(f"Audit {audit.pk} is already approved; an approval is final.")
        audit.review_status = status
        audit.save(update_fields=["review_status"])
        event_record(organisation=audit.organisation, actor=user, verb=f"review.{decision}",
                     audit=audit, comment=comment)
        if status == Audit.ReviewStatus.APPROVED:
            report_freeze(audit=audit, user=user)
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
