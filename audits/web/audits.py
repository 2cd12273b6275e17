"""Views of audits: the home page (with the demo being built), starting an audit or re-running
one, its page, progress, report and downloads."""
from __future__ import annotations

import functools

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audits import access
from audits.errors import BadInput
from audits.reports import report_context
from audits.services.audit_config import audit_config_build
from audits.services.audits import audit_create, report_download
from audits.services.demo_builds import demo_build_current, demo_build_status
from audits.services.reviews import audit_rerun
from audits.web.forms import AuditForm
from audits.web.mitigation import mitigation_panel_context

DOWNLOADS = {
    "json": ("report.json", "application/json"),
    "pdf": ("report.pdf", "application/pdf"),
    "csv": ("predictions.csv", "text/csv"),
    "html": ("report.html", "text/html"),
}


@login_required
def home(request):
    """`/`: the organisation's overview, or a regulator's shared reports."""
    if access.is_regulator(request.user):
        return redirect("audits:regulator_home")
    return _overview(request)


@access.member_required
def _overview(request):
    org = request.organisation
    build = demo_build_current(organisation=org)
    return render(request, "audits/home.html", {
        "models": access.org_models(org)[:50],
        "datasets": access.org_datasets(org)[:50],
        "audits": access.org_audits(org).select_related("previous")[:50],
        "demo": build,
        # The first paint says what the poll will (the demo audit's own stage and bar), even without script.
        "demo_now": demo_build_status(build=build) if build is not None else None,
    })


@access.member_required
def demo_progress(request):
    """The organisation's demo build, polled by the home page while the worker builds it."""
    build = demo_build_current(organisation=request.organisation)
    if build is None:
        raise Http404("No demo being built")
    return JsonResponse(demo_build_status(build=build))


def _started(request, form: AuditForm, start):
    """A POSTed audit form, valid, started with `start(model=, dataset=, config=)`: the new
    audit's page; None when there is nothing to start or the service refused (the form
    then carries the message)."""
    if request.method != "POST" or not form.is_valid():
        return None
    data = form.cleaned_data
    config = audit_config_build(
        dataset=data["dataset"], checks=data["checks"], seed=data["seed"], explain=data.get("explain"),
        counterfactual_dataset=data.get("counterfactual_dataset"),
        counterfactual_id_column=data.get("counterfactual_id_column", ""),
        compress=data.get("compress") or None, train_dataset=data.get("train_dataset"))
    try:
        audit = start(model=data["model"], dataset=data["dataset"], config=config)
    except BadInput as exc:
        form.add_error(None, str(exc))
        return None
    return redirect("audits:audit_detail", pk=audit.pk)


@access.requires("audit")
@require_http_methods(["GET", "POST"])
def audit_new(request):
    org = request.organisation
    # "Audit this model" links here with ?model=<id>; the form's queryset still scopes it.
    form = AuditForm(request.POST or None,
                     initial={"model": request.GET.get("model"), "dataset": request.GET.get("dataset"),
                              "compress": request.GET.get("compress", "")},
                     models=access.org_models(org), datasets=access.org_datasets(org))
    if response := _started(request, form, functools.partial(audit_create, organisation=org, user=request.user)):
        return response
    return render(request, "audits/audit_new.html", {"form": form})


@access.requires("audit")
@require_http_methods(["GET", "POST"])
def audit_rerun_view(request, pk: int):
    """"Re-run with changes": the sent-back audit's settings, to change and start again."""
    previous = access.get_audit(request, pk)
    org = request.organisation
    config = previous.config or {}
    twin = config.get("counterfactual") or {}
    form = AuditForm(request.POST or None, initial={
        "model": previous.model_id, "dataset": previous.dataset_id, "checks": config.get("checks"),
        "seed": config.get("seed", 0), "explain": config.get("explain", 0),
        "counterfactual_dataset": twin.get("dataset"), "counterfactual_id_column": twin.get("id_column", "")},
        models=access.org_models(org), datasets=access.org_datasets(org))
    if response := _started(request, form, functools.partial(audit_rerun, previous=previous, user=request.user)):
        return response
    return render(request, "audits/audit_rerun.html", {"form": form, "previous": previous})


@access.member_required
def audit_detail(request, pk: int):
    audit = access.get_audit(request, pk)
    return render(request, "audits/audit_detail.html", {"audit": audit, **mitigation_panel_context(request, audit)})


@access.member_required
def audit_progress(request, pk: int):
    audit = access.get_audit(request, pk)
    return JsonResponse({
        "status": audit.status, "stage": audit.stage, "done": audit.progress_done,
        "total": audit.progress_total, "error": audit.error, "verdict": audit.verdict,
    })


@access.member_required
def audit_report(request, pk: int):
    audit = access.get_audit(request, pk)
    if not audit.report:
        raise Http404("No report yet")
    return render(request, "audits/report.html", {"audit": audit, **report_context(audit.report)})


@access.member_required
def audit_download(request, pk: int, kind: str):
    audit = access.get_audit(request, pk)
    if kind not in DOWNLOADS:
        raise Http404("Unknown download")
    name, content_type = DOWNLOADS[kind]
    try:
        handle = report_download(audit=audit, user=request.user, name=name)
    except FileNotFoundError as exc:
        raise Http404("No such file") from exc
    filename = f"audit-{audit.pk}-{name}"
    return FileResponse(handle, as_attachment=True, filename=filename, content_type=content_type)
