"""Policies: the organisation's current thresholds, and new versions on every change."""
from __future__ import annotations

import copy
import math

from django.db import transaction

from audits.checks.policy import DEFAULT_POLICY
from audits.errors import BadInput
from audits.models import Organisation, Policy


def policy_current(*, organisation: Organisation, name: str = "default") -> Policy:
    """The latest version; an organisation without one starts from the shipped default."""
    latest = Policy.objects.filter(organisation=organisation, name=name).order_by("-version").first()
    if latest is not None:
        return latest
    return policy_new_version(organisation=organisation, user=None, name=name,
                              thresholds=copy.deepcopy(DEFAULT_POLICY["thresholds"]))


def thresholds_validate(thresholds) -> dict:
    if not isinstance(thresholds, dict) or not thresholds:
        raise BadInput("A policy needs a non-empty mapping of metric -> {low, high}.")
    clean = {}
    for metric, bounds in thresholds.items():
        if not isinstance(bounds, dict) or set(bounds) != {"low", "high"}:
            raise BadInput(f"Policy metric {metric!r}: give exactly 'low' and 'high'.")
        try:
            low, high = float(bounds["low"]), float(bounds["high"])
        except (TypeError, ValueError) as exc:
            raise BadInput(f"Policy metric {metric!r}: 'low' and 'high' must be numbers.") from exc
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise BadInput(f"Policy metric {metric!r}: need finite low <= high, got {low} and {high}.")
        clean[str(metric)] = {"low": low, "high": high}
    return clean


def policy_new_version(*, organisation: Organisation, user, thresholds: dict, name: str = "default") -> Policy:
    thresholds = thresholds_validate(thresholds)
    with transaction.atomic():
        # Lock the organisation's row so two editors cannot take the same version number.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        latest = Policy.objects.filter(organisation=organisation, name=name).order_by("-version").first()
        return Policy.objects.create(
            organisation=organisation, name=name, thresholds=thresholds, created_by=user,
            version=(latest.version + 1) if latest else 1,
        )
