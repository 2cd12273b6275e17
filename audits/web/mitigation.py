"""Views of debiasing runs: access check, early returns, one service call, render."""
from __future__ import annotations

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audits import access
from audits.errors import BadInput
from audits.models import Audit, MitigationRun
from audits.reports.mitigation_view import mitigation_view, verification_view
from audits.services.mitigation_panel import mitigation_attributes_cached, mitigation_panel
from audits.services.mitigation_verify import verification_rows
from audits.services.mitigations import mitigation_cancel, mitigation_create
from audits.web.forms import MitigationForm


@access.requires("mitigate")
@require_POST
def mitigation_start(request, pk: int):
    audit = access.get_audit(request, pk)
    if audit.status != audit.Status.DONE:
        # Before the form: its attribute choices come from the finished audit's groups.
        messages.error(request, "Only a finished audit can be debiased.")
        return redirect("audits:audit_detail", pk=audit.pk)
    attributes = mitigation_attributes_cached(audit=audit)
    form = MitigationForm(request.POST, attributes=attributes, datasets=_training_choices(request, audit))
    if form.is_valid():
        try:
            run = mitigation_create(audit=audit, user=request.user, method=form.cleaned_data["method"],
                                    attribute=form.cleaned_data["attribute"], options=form.options(),
                                    attributes=attributes, train_dataset=form.cleaned_data["train_dataset"])
        except BadInput as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("audits:mitigation_detail", pk=run.pk)
    # The audit page again, with the form's errors next to the fields.
    return render(request, "audits/audit_detail.html", {"audit": audit, **mitigation_panel_context(request, audit, form)})


def _training_choices(request, audit: Audit):
    """The organisation's datasets a run may train on: any but the audit's own."""
    return access.org_datasets(request.organisation).exclude(pk=audit.dataset_id).order_by("-pk")


def mitigation_panel_context(request, audit: Audit, form: MitigationForm | None = None) -> dict:
    """The audit page's debiasing panel (audits/_mitigation_panel.html): the runs started
    from the audit and, for a role that may mitigate a finished audit, the "Debias this
    model" form (`form` when it comes back with errors, else one with the defaults)."""
    can_start = audit.status == audit.Status.DONE and access.user_can(request.user, "mitigate")
    panel = mitigation_panel(audit=audit, can_start=can_start)
    if can_start and form is None:
        form = MitigationForm(attributes=panel["attributes"], initial={"seed": audit.config.get("seed", 0)},
                              datasets=_training_choices(request, audit))
    return {"mitigation_runs": panel["runs"], "mitigation_form": form if can_start else None}


@access.member_required
def mitigation_detail(request, pk: int):
    run = access.get_mitigation(request, pk)
    return render(request, "audits/mitigation_detail.html", {
        "run": run, "mitigation": mitigation_view(run.result) if run.status == run.Status.DONE else None,
        "can_mitigate": access.user_can(request.user, "mitigate"),
        "verification": _verification(request, run),
    })


def _verification(request, run: MitigationRun) -> dict | None:
    """The held-out dataset and the two audits that check the run, fetched through the
    user's organisation like every other object, and their figures beside the run's."""
    ids = [i for i in (run.before_audit_id, run.after_audit_id) if i is not None]
    if run.held_out_dataset_id is None and not ids:
        return None
    audits = access.org_audits(request.organisation).in_bulk(ids)
    before, after = audits.get(run.before_audit_id), audits.get(run.after_audit_id)
    dataset = access.org_datasets(request.organisation).filter(pk=run.held_out_dataset_id).first()

    def report(audit):
        return audit.report if audit is not None and audit.status == audit.Status.DONE else None

    rows = verification_rows(run.result, report(after), report(before)) if report(after) else []
    return verification_view(rows=rows, dataset=dataset, before=before, after=after)


@access.member_required
def mitigation_progress(request, pk: int):
    run = access.get_mitigation(request, pk)
    return JsonResponse({"status": run.status, "stage": run.stage, "done": run.progress_done,
                         "total": run.progress_total, "error": run.error,
                         "cancel_requested": run.cancel_requested})


@access.requires("mitigate")
@require_POST
def mitigation_cancel_view(request, pk: int):
    run = access.get_mitigation(request, pk)
    try:
        mitigation_cancel(run=run, user=request.user)
    except BadInput as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, "Cancelling: the run stops at its next step and saves nothing.")
    return redirect("audits:mitigation_detail", pk=run.pk)
