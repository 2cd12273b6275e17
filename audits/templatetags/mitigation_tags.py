"""The audit page's debiasing panel: the runs started from the audit and, for a role
that may mitigate a finished audit, the "Debias this model" form.

A tag rather than view context so the audit page's view stays as it is; the form's
defaults come from audits.mitigation.OPTION_DEFAULTS.
"""
from __future__ import annotations

from django import template

from audits import access
from audits.models import Audit
from audits.services.mitigations import mitigation_attributes
from audits.web.forms import MitigationForm

register = template.Library()


@register.inclusion_tag("audits/_mitigation_panel.html", takes_context=True)
def mitigation_panel(context, audit: Audit) -> dict:
    request = context["request"]
    can_start = audit.status == Audit.Status.DONE and access.user_can(request.user, "mitigate")
    form = context.get("mitigation_form")
    if can_start and form is None:
        form = MitigationForm(attributes=mitigation_attributes(audit=audit),
                              initial={"seed": audit.config.get("seed", 0)})
    return {"audit": audit, "runs": audit.mitigations.select_related("result_model")[:20],
            "form": form if can_start else None, "csrf_token": context.get("csrf_token")}
