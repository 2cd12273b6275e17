"""Putting a finished mitigation into its audit's report: the document and its files.

The report.json, report.html and report.pdf in storage are what the web serves and
what a reviewer downloads, so they are rewritten together with the database copy of
the document, and put back as they were if anything fails. A frozen (signed) report
never changes: the mitigation is then shown only on the run's own page.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from audits.models import Audit
from audits.reports.files import report_documents
from audits.services.signing import audit_is_frozen
from audits.services.stored import stored_read, stored_write

log = logging.getLogger(__name__)


def _without_mitigation(document: dict | None) -> dict:
    return {k: v for k, v in (document or {}).items() if k != "mitigation"}


def report_attach(*, audit_id: int, section: dict, then: Callable[[], None]) -> bool:
    """Put `section` into the audit's report and files, then call `then` (the caller's
    own database update), all or nothing. Returns False when the report is frozen or
    missing and only `then` ran."""
    audit = Audit.objects.get(pk=audit_id)
    if audit_is_frozen(audit.pk) or not audit.report:
        with transaction.atomic():
            then()
        return False
    # Rendered before taking the lock: the PDF takes seconds.
    base = _without_mitigation(audit.report)
    files = report_documents({**audit.report, "mitigation": section})
    with transaction.atomic():
        audit = Audit.objects.select_for_update().get(pk=audit_id)
        if audit_is_frozen(audit.pk) or not audit.report:
            then()
            return False
        document = {**audit.report, "mitigation": section}
        if _without_mitigation(audit.report) != base:
            files = report_documents(document)  # changed while rendering: render what is saved
        _replace_files(audit, files, then=lambda: _save(audit_id, document, then))
    return True


def _save(audit_id: int, document: dict, then: Callable[[], None]) -> None:
    Audit.objects.filter(pk=audit_id).update(report=document)
    then()


def _replace_files(audit: Audit, files: dict[str, bytes], *, then: Callable[[], None]) -> None:
    old = {name: stored_read(f"{audit.artifacts_prefix}/{name}") for name in files}
    try:
        for name, content in files.items():
            stored_write(f"{audit.artifacts_prefix}/{name}", content)
        then()
    except BaseException:
        for name, content in old.items():
            try:
                if content is not None:
                    stored_write(f"{audit.artifacts_prefix}/{name}", content)
            except Exception:  # keep restoring the others; the first error is re-raised
                log.exception("could not restore %s of audit %s", name, audit.pk)
        raise
