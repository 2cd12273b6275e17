"""The CI gate: one audit's policy outcome as an HTTP status a pipeline can test.

200  the audit is done and no check fails the policy (warnings allowed), as `manage.py
     audit` exits 0;
409  a check fails the policy (`manage.py audit` exits 1), a check could not run, the
     audit is inconclusive (a check could assess nothing, e.g. every group too small:
     no pass without evidence), or the audit itself failed: nothing was shown to be
     fair, so the release must stop; `reason` says which;
425  (Too Early) still queued or running: not an answer yet, and not 2xx, so a
     pipeline that gates too early with `curl --fail` stops instead of passing.
"""
from __future__ import annotations

from rest_framework import status

from audits.models import Audit
from audits.reports.document import RELEASE_BLOCKING

# A check that errored proves nothing; a gate must not read that as a pass.
BLOCKING = {"fail", "error"}
RETRY_AFTER_SECONDS = 10


def gate_decision(audit: Audit) -> tuple[int, dict]:
    """The HTTP status and body of the gate for `audit`."""
    report = audit.report or {}
    failed = [
        {"id": c.get("id"), "attribute": c.get("attribute"), "status": c.get("status"),
         "message": c.get("message", "")}
        for c in report.get("checks", []) if c.get("status") in BLOCKING
    ]
    body = {"audit": audit.pk, "status": audit.status, "verdict": audit.verdict, "failed_checks": failed,
            "stage": audit.stage, "progress": {"done": audit.progress_done, "total": audit.progress_total},
            "error": audit.error}
    if audit.status == Audit.Status.FAILED:
        return status.HTTP_409_CONFLICT, {**body, "verdict": "error", "reason": "The audit itself failed."}
    if audit.status != Audit.Status.DONE:
        return status.HTTP_425_TOO_EARLY, body
    if audit.verdict in RELEASE_BLOCKING or audit.verdict in BLOCKING or failed:
        return status.HTTP_409_CONFLICT, {**body, "reason": _reason(audit.verdict, report, failed)}
    return status.HTTP_200_OK, body


def _reason(verdict: str, report: dict, failed: list[dict]) -> str:
    if failed:
        return f"{len(failed)} check result(s) fail the policy or could not run; see failed_checks."
    if verdict == "inconclusive":
        unassessed = [c for c, v in ((report.get("summary") or {}).get("checks") or {}).items()
                      if v == "inconclusive"]
        where = f" ({', '.join(unassessed)})" if unassessed else " (no check ran)"
        return ("Inconclusive: nothing could be assessed in at least one check" + where +
                ", e.g. every group was too small to decide; that is not a pass.")
    return f"The audit's verdict is {verdict}."
