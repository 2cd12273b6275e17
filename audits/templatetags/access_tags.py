"""Role-aware template helpers: show a person only the links and forms they can use.

The rules themselves live in audits/access.py; these only ask it.
"""
from __future__ import annotations

from django import template

from audits import access
from audits.models import Audit
from audits.services.notices import notices_unread_count
from audits.services.trail import audit_trail

register = template.Library()


@register.filter
def can(user, verb: str) -> bool:
    """`{% if user|can:"upload" %}`: the user's role holds the verb."""
    return access.user_can(user, verb)


@register.filter
def is_regulator(user) -> bool:
    """`{% if user|is_regulator %}`: the regulator's portal instead of the organisation's pages."""
    return access.is_regulator(user)


REVIEW_VERBS = {"review.approve": "Approved", "review.reject": "Rejected",
                "review.changes_requested": "Changes requested"}


@register.inclusion_tag("audits/_review_panel.html", takes_context=True)
def review_panel(context, audit: Audit) -> dict:
    """The review, sign-off, re-run, sharing, comparison and trail blocks of an audit page."""
    user = context["request"].user
    done = audit.status == Audit.Status.DONE
    approved = audit.review_status == Audit.ReviewStatus.APPROVED
    signed = getattr(audit, "signed", None) if approved else None
    can_share = access.user_can(user, "share") and signed is not None
    events = audit_trail(audit=audit)
    decision = next((e for e in reversed(list(events)) if e.verb in REVIEW_VERBS), None)
    latest = audit.signoffs.select_related("created_by").order_by("-created_at", "-pk").first()
    signoff = latest if latest is not None and not approved and latest.status != latest.Status.DONE else None
    return {
        "audit": audit,
        "csrf_token": context.get("csrf_token"),
        "can_review": access.user_can(user, "review") and done and not approved,
        "can_rerun": access.user_can(user, "audit") and audit.review_status in Audit.SENT_BACK,
        "signoff": signoff,
        "signing": signoff is not None and not signoff.is_finished,
        "decision": {"verb_label": REVIEW_VERBS[decision.verb], "actor_name": decision.actor_name,
                     "created_at": decision.created_at, "comment": decision.comment} if decision else None,
        "can_share": can_share,
        "signed": signed,
        "shares": audit.shares.select_related("regulator") if can_share else [],
        "others": (access.org_audits(audit.organisation).filter(status=Audit.Status.DONE)
                   .exclude(pk=audit.pk)[:50] if done else []),
        "events": events,
    }


@register.simple_tag
def unread_notices(user) -> int:
    """`{% unread_notices user as n %}`: how many notices the person has not read."""
    return notices_unread_count(user=user) if user.is_authenticated else 0
