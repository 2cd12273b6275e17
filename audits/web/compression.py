"""The compression comparison page: an audit's model beside each of its compressed variants,
every check's figures per attribute and group with the change from the parent."""
from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audits import access
from audits.reports.compression_view import compression_view
from audits.services.compare import checks_compare, compare_summary


@access.member_required
@require_GET
def audit_compression(request, pk: int):
    audit = access.get_audit(request, pk)
    section = (audit.report or {}).get("compression")
    if not section:
        raise Http404("This audit compressed nothing")
    view = compression_view(section)
    parent_checks = audit.report.get("checks") or []
    for detail, variant in zip(view["variants"], section.get("variants") or [], strict=True):
        sections = checks_compare(first=parent_checks, second=variant.get("checks") or [])
        detail["sections"] = sections
        detail["summary"] = compare_summary(sections)
    return render(request, "audits/compression.html", {"audit": audit, "compression": view})
