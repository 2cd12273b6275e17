"""Deleting a model, a dataset or an audit, where the record allows it.

What may go: an unsigned, finished audit (its report files, explanation chunks and
debiasing runs go with it; the models those runs made stay); a model or dataset no
audit uses (its stored files go too). What may not: an audit whose report is signed,
or being signed, and the model and dataset it references, which are kept for good so
that the signed report can always be checked against them; an audit still running;
a model or dataset an unsigned audit still uses (delete the audit first).

The audit trail is never deleted: each delete is an event of its own, naming what went,
and the events of a deleted audit stay (no longer linked to it).
"""
from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from audits.errors import BadInput
from audits.models import Audit, Dataset, MitigationRun, ModelArtifact, SignedReport
from audits.services.cleanup import stored_files_discard
from audits.services.ownership import organisation_check
from audits.services.signoffs import ACTIVE
from audits.services.trail import event_record

Deletable = ModelArtifact | Dataset | Audit


def _numbers(audits) -> str:
    return ", ".join(str(a.pk) for a in audits)


def _users_blockers(users, what: str) -> list[str]:
    signed = [a for a in users if SignedReport.objects.filter(audit_id=a.pk).exists()]
    if signed:
        return [f"The signed report of audit {_numbers(signed)} references this {what}: a signed report and "
                f"what it references are kept for good, so this {what} cannot be deleted."]
    if users:
        return [f"Audit {_numbers(users)} uses this {what}: delete {'it' if len(users) == 1 else 'them'} first."]
    return []


def delete_blockers(*, obj: Deletable) -> list[str]:
    """Why `obj` cannot be deleted, one sentence each; empty when it can."""
    if isinstance(obj, Audit):
        if SignedReport.objects.filter(audit_id=obj.pk).exists():
            return [f"Audit {obj.pk}'s report is signed: a signed report, its audit and what it references are "
                    "kept for good."]
        if obj.signoffs.filter(status__in=ACTIVE).exists():
            return [f"Audit {obj.pk} is being signed after an approval."]
        if not obj.is_finished:
            return [f"Audit {obj.pk} is still {obj.get_status_display().lower()}; it can be deleted once it ends."]
        running = obj.mitigations.exclude(status__in=MitigationRun.FINISHED)
        return [f"Debiasing run {r.pk} of this audit is still running." for r in running]
    if isinstance(obj, ModelArtifact):
        return _users_blockers(list(Audit.objects.filter(model=obj).order_by("pk")), "model")
    users = Audit.objects.filter(Q(dataset=obj) | Q(config__counterfactual__dataset=obj.pk),
                                 organisation=obj.organisation_id).order_by("pk")
    return _users_blockers(list(users), "dataset")


def _summary(obj: Deletable) -> tuple[str, dict]:
    if isinstance(obj, Audit):
        return "audit.delete", {"audit": obj.pk, "model": obj.model.name, "dataset": obj.dataset.name,
                                "verdict": obj.verdict}
    if isinstance(obj, ModelArtifact):
        return "model.delete", {"model": obj.pk, "name": obj.name, "sha256": obj.sha256}
    return "dataset.delete", {"dataset": obj.pk, "name": obj.name, "sha256": obj.sha256}


def object_delete(*, obj: Deletable, user) -> None:
    """Delete `obj` and its stored files, or refuse with the reasons (BadInput)."""
    organisation_check(user=user, obj=obj, what=str(obj))
    with transaction.atomic():
        obj = type(obj).objects.select_for_update().get(pk=obj.pk)  # nothing starts using it meanwhile
        if blockers := delete_blockers(obj=obj):
            raise BadInput(" ".join(blockers))
        verb, detail = _summary(obj)
        event_record(organisation=obj.organisation, actor=user, verb=verb, detail=detail)
        # Files go once the rows are gone for good: a rolled-back delete keeps both.
        transaction.on_commit(lambda: stored_files_discard(objects=[obj]))
        obj.delete()
