"""The audit page's debiasing panel: the runs started from an audit, and the attributes a
new run may debias for.

The attributes need the dataset read and every text searched for identity terms
(mitigation_attributes), which is too slow for every page view; they depend only on the
dataset, the audit's mapping and the organisation's lexicon, so they are computed once
and kept in Django's cache under a key made of exactly those (a changed lexicon is a new
key, never a stale answer).
"""
from __future__ import annotations

import hashlib
import json

from django.core.cache import cache

from audits.models import Audit
from audits.services.mitigations import mitigation_attributes

RUNS_SHOWN = 20


def _attributes_key(audit: Audit) -> str:
    inputs = json.dumps([audit.config, audit.organisation.identity_terms or ""], sort_keys=True, default=str)
    digest = hashlib.sha256(inputs.encode()).hexdigest()
    return f"mitigation-attributes:{audit.pk}:{audit.dataset.sha256}:{digest}"


def mitigation_attributes_cached(*, audit: Audit) -> list[str]:
    """mitigation_attributes(audit=audit), read from the dataset once per audit and lexicon."""
    key = _attributes_key(audit)
    attributes = cache.get(key)
    if attributes is None:
        attributes = mitigation_attributes(audit=audit)
        cache.set(key, attributes, timeout=None)  # the key changes with its inputs
    return list(attributes)


def mitigation_panel(*, audit: Audit, can_start: bool) -> dict:
    """The panel's data: the latest runs, and with `can_start` the attributes a new run may take."""
    return {
        "runs": list(audit.mitigations.select_related("result_model")[:RUNS_SHOWN]),
        "attributes": mitigation_attributes_cached(audit=audit) if can_start else None,
    }
