"""Views of the review workflow: where logging in lands, the queue, decisions and their
sign-off, notices, sharing, comparison and the audit trail. Every rule on who may see what is in audits/access.py."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import access
from audits.errors import BadInput
from audits.models import Audit
from audits.services.compare import audit_compare, compare_summary
from audits.services.notices import notices_for, notices_mark_read
from audits.services.reviews import report_share, review_decide, review_queue, review_sent_back
from audits.services.trail import audit_trail, event_record, trail_csv
from audits.web.forms import ReviewForm, ShareForm


@login_required
def start(request):
    """Where logging in lands: regulators have only their portal, everyone else home."""
    if access.is_regulator(request.user):
        return redirect("audits:regulator_home")
    return redirect("audits:home")


@access.requires("review")
@require_GET
def review_queue_view(request):
    org = request.organisation
    return render(request, "audits/review_queue.html",
                  {"audits": review_queue(organisation=org), "sent_back": review_sent_back(organisation=org)})


@login_required
@require_http_methods(["GET", "POST"])
def notices_view(request):
    """The person's notices; POST marks them read. Everyone's own, in their organisation."""
    if request.method == "POST":
        notices_mark_read(user=request.user)
        return redirect("audits:notices")
    return render(request, "audits/notices.html", {"notices": notices_for(user=request.user)[:100]})


@access.requires("review")
@require_POST
def audit_review(request, pk: int):
    audit = access.get_audit(request, pk)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a decision and write a comment; a comment is required.")
        return redirect("audits:audit_detail", pk=audit.pk)
    try:
        audit = review_decide(audit=audit, user=request.user, decision=form.cleaned_data["decision"],
                              comment=form.cleaned_data["comment"])
    except BadInput as exc:
        messages.error(request, str(exc))
    else:
        if form.cleaned_data["decision"] == "approve" and audit.review_status != Audit.ReviewStatus.APPROVED:
            messages.success(request, f"Audit {audit.pk}: approval recorded; the report is being signed and "
                                      "this page updates when it is.")
        else:
            messages.success(request, f"Audit {audit.pk}: {audit.get_review_status_display().lower()}.")
    return redirect("audits:audit_detail", pk=audit.pk)


@access.member_required
@require_GET
def audit_signoff(request, pk: int):
    """The state of the audit's latest sign-off, polled by its page while it is signed."""
    audit = access.get_audit(request, pk)
    signoff = audit.signoffs.order_by("-created_at", "-pk").first()
    if signoff is None:
        raise Http404("No sign-off")
    return JsonResponse({"status": signoff.status, "stage": signoff.stage, "error": signoff.error,
                         "review_status": audit.review_status})


@access.requires("share")
@require_POST
def audit_share(request, pk: int):
    audit = access.get_audit(request, pk)
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the regulator's username.")
        return redirect("audits:audit_detail", pk=audit.pk)
    try:
        share = report_share(audit=audit, user=request.user, regulator_username=form.cleaned_data["regulator"])
    except BadInput as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Report of audit {audit.pk} shared with {share.regulator.get_username()}.")
    return redirect("audits:audit_detail", pk=audit.pk)


@access.member_required
@require_GET
def audit_trail_csv(request, pk: int):
    audit = access.get_audit(request, pk)
    # Logged before the export so the file itself records that it was taken.
    event_record(organisation=audit.organisation, actor=request.user, verb="trail.export", audit=audit)
    response = HttpResponse(trail_csv(events=audit_trail(audit=audit)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{audit.pk}-trail.csv"'
    return response


@access.member_required
@require_GET
def audit_compare_view(request):
    choices = access.org_audits(request.organisation).filter(status=Audit.Status.DONE)[:100]
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if not a or not b:
        return render(request, "audits/compare.html", {"choices": choices, "a": a, "b": b})
    if not (a.isdigit() and b.isdigit()):
        raise Http404("Not found")
    first, second = access.get_audit(request, int(a)), access.get_audit(request, int(b))
    if not first.report or not second.report:
        raise Http404("No report yet")
    sections = audit_compare(first=first, second=second)
    return render(request, "audits/compare.html", {
        "choices": choices, "a": a, "b": b, "first": first, "second": second,
        "sections": sections, "summary": compare_summary(sections),
    })

