"""Views: access check, early returns, one service call, render."""
from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from audits import access
from audits.errors import BadInput
from audits.forms import AuditForm, DatasetUploadForm, LexiconForm, MappingForm, ModelUploadForm
from audits.identity import lexicon_for
from audits.reports import report_context
from audits.services.audits import audit_create, report_download
from audits.services.columns import group_candidates
from audits.services.datasets import dataset_frame, dataset_map, dataset_preview, dataset_upload
from audits.services.lexicon import lexicon_update
from audits.services.models import model_upload

DOWNLOADS = {
    "json": ("report.json", "application/json"),
    "pdf": ("report.pdf", "application/pdf"),
    "csv": ("predictions.csv", "text/csv"),
    "html": ("report.html", "text/html"),
}


@access.member_required
def home(request):
    org = request.organisation
    return render(request, "audits/home.html", {
        "models": access.org_models(org)[:50],
        "datasets": access.org_datasets(org)[:50],
        "audits": access.org_audits(org)[:50],
    })


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def model_upload_view(request):
    form = ModelUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            model = model_upload(organisation=request.organisation, user=request.user,
                                 name=form.cleaned_data["name"], files=form.cleaned_data["files"])
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Model “{model.name}” uploaded.")
            for note in getattr(model, "upload_notes", []):
                messages.info(request, note)
            return redirect("audits:model_detail", pk=model.pk)
    return render(request, "audits/model_upload.html", {"form": form})


@access.member_required
def model_detail(request, pk: int):
    model = access.get_model(request, pk)
    return render(request, "audits/model_detail.html", {"model": model})


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def dataset_upload_view(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_upload(organisation=request.organisation, user=request.user,
                                     name=form.cleaned_data["name"], uploaded_file=form.cleaned_data["file"])
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("audits:dataset_map", pk=dataset.pk)
    return render(request, "audits/dataset_upload.html", {"form": form})


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def dataset_map_view(request, pk: int):
    dataset = access.get_dataset(request, pk)
    frame = dataset_frame(dataset=dataset)
    initial = dict(dataset.mapping or {})
    initial["reference_shares"] = "\n".join(
        f"{a},{g},{v:g}" for a, groups in initial.get("reference_shares", {}).items() for g, v in groups.items())
    form = MappingForm(request.POST or None, initial=initial, columns=[str(c) for c in frame.columns],
                       group_columns=group_candidates(frame=frame))
    if request.method == "POST" and form.is_valid():
        try:
            dataset_map(dataset=dataset, mapping=form.mapping())
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Columns of “{dataset.name}” mapped.")
            return redirect("audits:audit_new")
    return render(request, "audits/dataset_map.html", {
        "dataset": dataset, "form": form, "preview": dataset_preview(dataset=dataset),
    })


@access.requires("audit")
@require_http_methods(["GET", "POST"])
def audit_new(request):
    org = request.organisation
    # "Audit this model" links here with ?model=<id>; the form's queryset still scopes it.
    form = AuditForm(request.POST or None,
                     initial={"model": request.GET.get("model"), "dataset": request.GET.get("dataset")},
                     models=access.org_models(org), datasets=access.org_datasets(org))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        dataset = data["dataset"]
        config = {**dataset.mapping, "checks": data["checks"], "seed": data["seed"],
                  "explain": data.get("explain") or 0}
        if data.get("counterfactual_dataset"):
            config["counterfactual"] = {"dataset": data["counterfactual_dataset"].pk,
                                        "id_column": data.get("counterfactual_id_column", "")}
        try:
            audit = audit_create(organisation=org, user=request.user, model=data["model"],
                                 dataset=dataset, config=config)
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("audits:audit_detail", pk=audit.pk)
    return render(request, "audits/audit_new.html", {"form": form})


@access.member_required
def audit_detail(request, pk: int):
    audit = access.get_audit(request, pk)
    return render(request, "audits/audit_detail.html", {"audit": audit})


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


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def lexicon_view(request):
    org = request.organisation
    current = "\n".join(f"{term},{category}" for term, category in lexicon_for(org))
    form = LexiconForm(request.POST or None, initial={"identity_terms": current})
    if request.method == "POST" and form.is_valid():
        try:
            lexicon_update(organisation=org, text=form.cleaned_data["identity_terms"])
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Identity terms saved.")
            return redirect("audits:lexicon")
    return render(request, "audits/lexicon.html", {"form": form})
