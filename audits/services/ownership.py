"""The same-organisation rule inside services: a user acts only on their organisation's objects.

Views and the API fetch every object through the user's organisation (audits.access);
services check again for their other callers (the CLI, the demo, tests, other services).
"""
from __future__ import annotations

from audits.errors import BadInput


def organisation_check(*, user, obj, what: str) -> None:
    """BadInput unless `user` is a member of the organisation that owns `obj`; `what`
    names the object in the message ("The audit", "Audit 7")."""
    membership = getattr(user, "membership", None)
    if membership is None or membership.organisation_id != obj.organisation_id:
        raise BadInput(f"{what} belongs to another organisation.")
