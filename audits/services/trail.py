"""The audit trail: an append-only record of who did what, and its CSV export.

Events are only ever added (`AuditEvent` refuses updates and deletes). An audit's
trail also holds the uploads of its model and dataset, which happen before the audit
exists: those events name the model or dataset in `detail` instead.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from audits.models import Audit, AuditEvent, Organisation

# OWASP "CSV injection": a spreadsheet runs a cell that starts with one of these as a
# formula; tab and carriage return can hide such a start from a quick look.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("time", "actor", "verb", "audit", "comment", "detail")


def event_record(
    *, organisation: Organisation, actor, verb: str, audit: Audit | None = None, comment: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Append one event. `actor` may be None (the command line, a worker)."""
    is_person = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        organisation=organisation, audit=audit, actor=actor if is_person else None,
        actor_name=actor.get_username() if is_person else "system",
        verb=verb, comment=comment, detail=detail or {},
    )


def audit_trail(*, audit: Audit) -> QuerySet[AuditEvent]:
    """The audit's own events and the uploads of the model and dataset it used, oldest first."""
    return AuditEvent.objects.filter(organisation=audit.organisation_id).filter(
        Q(audit=audit)
        | Q(audit__isnull=True, verb="model.upload", detail__model=audit.model_id)
        | Q(audit__isnull=True, verb="dataset.upload", detail__dataset=audit.dataset_id)
    ).order_by("created_at", "pk")


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: a formula start gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def trail_csv(*, events: Iterable[AuditEvent]) -> str:
    """The events as CSV, one row each, every cell neutralised against formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        detail = "; ".join(f"{key}={value}" for key, value in sorted(event.detail.items()))
        row = (event.created_at.isoformat(), event.actor_name, event.verb, event.audit_id or "",
               event.comment, detail)
        writer.writerow([csv_cell(cell) for cell in row])
    return out.getvalue()
