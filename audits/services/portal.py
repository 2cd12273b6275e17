"""The regulator portal's reads: the frozen (signed) report files of a shared audit.

Regulators only ever get the files frozen at approval, never the live report, so what
they download is exactly what was signed. Every download goes to the audit trail.
"""
from __future__ import annotations

import json

from django.core.files.storage import default_storage

from audits.models import Audit
from audits.services.trail import event_record

FROZEN = {"pdf": ("pdf_path", "pdf_sha256", "application/pdf"),
          "json": ("json_path", "json_sha256", "application/json")}


def shared_report_document(*, audit: Audit) -> dict:
    """The frozen report.json of a signed audit."""
    with default_storage.open(audit.signed.json_path, "rb") as handle:
        return json.loads(handle.read())


def shared_report_open(*, audit: Audit, user, kind: str):
    """Open a frozen file for a regulator's download and log it; returns (handle, filename, type).

    Raises KeyError for an unknown kind and FileNotFoundError when the file is missing."""
    path_field, sha_field, content_type = FROZEN[kind]
    signed = audit.signed
    handle = default_storage.open(getattr(signed, path_field), "rb")
    event_record(organisation=audit.organisation, actor=user, verb="report.download", audit=audit,
                 detail={"file": f"report.{kind}", "frozen": True, "sha256": getattr(signed, sha_field)})
    return handle, f"audit-{audit.pk}-signed-report.{kind}", content_type
