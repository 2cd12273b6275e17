"""Views of signed reports: verify a downloaded report, and the published public key.

Open to everyone, logged in or not: regulators and the public must be able to check a
report they were given without an account here. Validity comes from the file and the
public key alone; the platform's records are only mentioned beside a valid result.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from audits.services.signing import key_id, public_key_pem, report_verify, verify_record_note

# Room for the multipart form's own bytes around the file.
FORM_OVERHEAD = 64 * 1024


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:.1f} MB"


@require_http_methods(["GET", "POST"])
def verify_report(request):
    context: dict = {"limit": _megabytes(settings.VERIFY_MAX_UPLOAD_BYTES)}
    if request.method == "POST":
        limit = settings.VERIFY_MAX_UPLOAD_BYTES
        # Judged from the header first, before Django parses (and spools to disk) the body.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        too_big = declared > limit + FORM_OVERHEAD
        upload = None if too_big else request.FILES.get("file")
        size = declared if too_big else (upload.size if upload else 0)
        if size > limit:
            context["error"] = (f"The {'upload' if too_big else 'file'} is {_megabytes(size)}; files up to "
                                f"{_megabytes(limit)} can be verified, and no signed report is that large.")
        elif upload is None:
            context["error"] = "Choose the signed report file (PDF or JSON) to verify."
        else:
            data = upload.read(limit + 1)
            result = report_verify(data=data)
            context.update(result=result, note=verify_record_note(result, data), filename=upload.name,
                           manifest=json.dumps(result.manifest, indent=2, sort_keys=True) if result.manifest else "")
    status = 400 if context.get("error") else 200
    return render(request, "audits/verify.html", context, status=status)


@require_GET
def signing_key(request):
    return render(request, "audits/signing_key.html", {"pem": public_key_pem(), "key_id": key_id()})


@require_GET
def signing_key_pem(request):
    response = HttpResponse(public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="auditplatform-signing-key.pem"'
    return response
