"""Views of the regulator portal: the reports shared with a regulator, read and downloaded
from their frozen (signed) files. Every rule on who may see what is in audits/access.py."""
from __future__ import annotations

from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audits import access
from audits.reports import report_context
from audits.services.portal import FROZEN, shared_report_document, shared_report_open


@access.regulator_required
@require_GET
def regulator_home(request):
    shared = access.shared_audits(request.user).select_related("signed", "organisation").order_by("-signed__signed_at")
    return render(request, "audits/regulator_home.html", {"audits": shared})


@access.regulator_required
@require_GET
def regulator_report(request, pk: int):
    audit = access.get_shared_audit(request, pk)
    try:
        document = shared_report_document(audit=audit)
    except FileNotFoundError as exc:
        raise Http404("No such file") from exc
    return render(request, "audits/regulator_report.html",
                  {"audit": audit, "signed": audit.signed, **report_context(document)})


@access.regulator_required
@require_GET
def regulator_download(request, pk: int, kind: str):
    audit = access.get_shared_audit(request, pk)
    if kind not in FROZEN:
        raise Http404("Unknown download")
    try:
        handle, filename, content_type = shared_report_open(audit=audit, user=request.user, kind=kind)
    except FileNotFoundError as exc:
        raise Http404("No such file") from exc
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
