"""Views that delete a model, a dataset or an audit: a page saying what goes (or why it
cannot), and its POST. The rules are the service's (audits/services/deletion.py)."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from audits import access
from audits.errors import BadInput
from audits.services.deletion import delete_blockers, object_delete

GOES = {
    "model": "The model's record and its stored files.",
    "dataset": "The dataset's record and its stored table.",
    "audit": "The audit's record, its report files, its explanations and its debiasing runs "
             "(models those runs made are kept).",
}


def _delete(request, obj, kind: str, back: str):
    if request.method == "POST":
        try:
            object_delete(obj=obj, user=request.user)
        except BadInput as exc:
            messages.error(request, str(exc))
            return redirect(request.path)
        messages.success(request, f"{obj} deleted.")
        return redirect("audits:home")
    return render(request, "audits/delete_confirm.html", {
        "obj": obj, "kind": kind, "back": back, "goes": GOES[kind], "blockers": delete_blockers(obj=obj)})


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def model_delete(request, pk: int):
    return _delete(request, access.get_model(request, pk), "model", back=reverse("audits:model_detail", args=[pk]))


@access.requires("upload")
@require_http_methods(["GET", "POST"])
def dataset_delete(request, pk: int):
    return _delete(request, access.get_dataset(request, pk), "dataset", back=reverse("audits:dataset_map", args=[pk]))


@access.requires("audit")
@require_http_methods(["GET", "POST"])
def audit_delete(request, pk: int):
    return _delete(request, access.get_audit(request, pk), "audit", back=reverse("audits:audit_detail", args=[pk]))
