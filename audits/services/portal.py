"""The regulator portal's reads: the frozen (signed) report files of a shared audit.

Regulators only ever get the files frozen at approval, never the live report, so what
they download is exactly what was signed. Every download goes to the audit trail.
"""
from __future__ import annotations

import json

from audits.models import Audit
from audits.services.audits import audit_file, report_download

# audit_file serves a signed audit's frozen files.
FROZEN = {"pdf": ("pdf_sha256", "application/pdf"), "json": ("json_sha256", "application/json")}


def shared_report_document(*, audit: Audit) -> dict:
    """The frozen report.json of a signed audit."""
    with audit_file(audit=audit, name="report.json") as handle:
        return json.loads(handle.read())


def shared_report_open(*, audit: Audit, user, kind: str):
    """Open a frozen file for a regulator's download and log it; returns (handle, filename, type).

    Raises KeyError for an unknown kind and FileNotFoundError when the file is missing."""
    sha_field, content_type = FROZEN[kind]
    handle = report_download(audit=audit, user=user, name=f"report.{kind}",
                             detail={"frozen": True, "sha256": getattr(audit.signed, sha_field)})
    return handle, f"audit-{audit.pk}-signed-report.{kind}", content_type
