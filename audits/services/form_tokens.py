"""One-time form tokens: an upload form sent twice (Back and send again, a reload, a
double click) stores one model or dataset, not two.

The form carries a fresh token; the first request to present it claims it (a unique
row, committed at once, so a second request arriving while the first still works
sees the claim), and records where its result lives when it succeeds. A failed upload
releases its token, so the same form may be corrected and sent again.
"""
from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction

from audits.models import FormToken


def form_token_new() -> str:
    return str(uuid.uuid4())


def form_token_claim(*, user, token: uuid.UUID) -> FormToken | None:
    """None when this request now holds the token; else the earlier claim by the same
    person (its result_url is empty while that upload is still running). A token held
    by someone else is refused as stale, never shown."""
    try:
        with transaction.atomic():
            FormToken.objects.create(token=token, user=user)
        return None
    except IntegrityError:
        earlier = FormToken.objects.filter(token=token, user=user).first()
        if earlier is None:
            raise ValueError("stale form token") from None
        return earlier


def form_token_done(*, user, token: uuid.UUID, url: str) -> None:
    FormToken.objects.filter(token=token, user=user).update(result_url=url)


def form_token_release(*, user, token: uuid.UUID) -> None:
    FormToken.objects.filter(token=token, user=user, result_url="").delete()
