"""API access: the role verbs of audits.access, with the web's rule that denied is a 404.

Each view names the verb every action needs (`verbs`); this class only looks it up and
asks `access.user_can`, so the API and the web share one copy of the rules. Without
credentials the answer is 401 (a CI job should learn its token is missing, not that
the object is absent); with credentials but without the verb, 404 for everything, so
neither the endpoint's objects nor their existence leak (regulators hold no verb).
"""
from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from audits import access


class HasRoleVerb(BasePermission):
    """The view's `verbs` maps each action (`list`, `create`, `gate`, ...) to a role verb."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        action = getattr(view, "action", None)
        # No action: a method the endpoint lacks; members then get 405, others still 404.
        # A named action missing from `verbs` is a programming error: refuse, never allow.
        verb = view.verbs.get(action) if action else "read"
        if verb is None or not access.user_can(request.user, verb):
            raise NotFound()
        request.organisation = request.user.membership.organisation
        return True
