"""Guards that keep a signed report frozen whatever code path tries to change it.

Services are the front door (report_freeze writes the frozen files once, audit_finish
skips frozen audits); these receivers are the last line: a save that would change a
signed audit's `report`, or touch a SignedReport after it was written, is refused.
"""
from __future__ import annotations

from django.db.models.signals import pre_delete, pre_save
from django.dispatch import receiver

from audits.models import Audit, SignedReport


class FrozenReport(PermissionError):
    """A signed report was about to change; a re-run must be a new audit."""


@receiver(pre_save, sender=Audit, dispatch_uid="audits.frozen_audit_report")
def _audit_report_frozen(sender, instance: Audit, update_fields=None, raw=False, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and "report" not in update_fields):
        return
    if not SignedReport.objects.filter(audit_id=instance.pk).exists():
        return
    stored = Audit.objects.filter(pk=instance.pk).values_list("report", flat=True).first()
    if stored != instance.report:
        raise FrozenReport(f"Audit {instance.pk}'s report is signed and frozen; a re-run is a new audit.")


@receiver(pre_save, sender=SignedReport, dispatch_uid="audits.signed_report_immutable")
def _signed_report_immutable(sender, instance: SignedReport, raw=False, **kwargs):
    if not raw and instance.pk is not None:
        raise FrozenReport("A signed report record is never changed.")


@receiver(pre_delete, sender=SignedReport, dispatch_uid="audits.signed_report_undeletable")
def _signed_report_undeletable(sender, instance: SignedReport, **kwargs):
    raise FrozenReport("A signed report record is never deleted.")
