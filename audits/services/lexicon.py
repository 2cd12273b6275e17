"""Editing an organisation's identity-term lexicon."""
from __future__ import annotations

from audits.identity import parse_lexicon
from audits.models import Organisation


def lexicon_update(*, organisation: Organisation, text: str) -> Organisation:
    """Validate and save; an empty text returns the organisation to the shipped lexicon."""
    terms = parse_lexicon(text) if text.strip() else []
    organisation.identity_terms = "\n".join(f"{term},{category}" for term, category in terms)
    organisation.save(update_fields=["identity_terms"])
    return organisation
