"""Notices to people: in-app (shown in the navigation until read) and, when the platform
has mail settings (EMAIL_HOST, or an EMAIL_BACKEND of its own), by e-mail too.

A reviewer who rejects an audit or requests changes tells its submitter here; the mail
goes after the decision commits and a mail server that fails never undoes the decision.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from audits.models import Audit, Notice

log = logging.getLogger(__name__)


def notice_send(*, user, audit: Audit | None, text: str, subject: str) -> Notice:
    """One notice to `user`, and the same text by e-mail when they have an address."""
    notice = Notice.objects.create(user=user, organisation=user.membership.organisation, audit=audit, text=text)
    if user.email:
        link = f"{settings.SITE_URL.rstrip('/')}{reverse('audits:audit_detail', args=[audit.pk])}" if audit else ""
        body = f"{text}\n\n{link}\n" if link else f"{text}\n"
        transaction.on_commit(lambda: _mail(subject=subject, body=body, to=user.email))
    return notice


def _mail(*, subject: str, body: str, to: str) -> None:
    try:
        send_mail(subject, body, None, [to])
    except Exception:  # noqa: BLE001 - a mail server's failure must not fail a recorded decision
        log.exception("Could not send the notice e-mail %r", subject)


def notice_sent_back(*, audit: Audit, reviewer, comment: str) -> Notice | None:
    """Tell the audit's submitter that a reviewer rejected it or requested changes."""
    submitter = audit.created_by
    if submitter is None or not hasattr(submitter, "membership") or submitter.pk == reviewer.pk:
        return None
    decision = audit.get_review_status_display().lower()
    text = (f"Audit {audit.pk} ({audit.model.name} on {audit.dataset.name}): {decision} by "
            f"{reviewer.get_username()}: “{comment}”. Open the audit to re-run it with changes.")
    return notice_send(user=submitter, audit=audit, text=text, subject=f"Audit {audit.pk}: {decision}")


def notices_for(*, user) -> QuerySet[Notice]:
    """A person's notices in their current organisation, newest first."""
    membership = getattr(user, "membership", None)
    if membership is None:
        return Notice.objects.none()
    return Notice.objects.filter(user=user, organisation=membership.organisation).select_related("audit")


def notices_unread_count(*, user) -> int:
    return notices_for(user=user).filter(read_at__isnull=True).count()


def notices_mark_read(*, user) -> int:
    """Mark every unread notice of the person read; returns how many were."""
    return notices_for(user=user).filter(read_at__isnull=True).update(read_at=timezone.now())
