"""Human names in templates: a check id as people read it ("Subgroup AUC", not
"subgroup_auc"), from the one mapping the report uses (audits/reports/formatting.py)."""
from __future__ import annotations

from django import template

from audits.reports.formatting import check_title as _check_title

register = template.Library()


@register.filter
def check_title(check_id) -> str:
    return _check_title(str(check_id))


@register.filter
def check_titles(check_ids) -> str:
    """A list of check ids as one comma-separated line of names."""
    return ", ".join(_check_title(str(c)) for c in check_ids or [])
