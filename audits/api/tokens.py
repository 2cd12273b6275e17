"""API tokens: one per user, replaced as a whole so an old key stops working at once."""
from __future__ import annotations

from django.db import transaction
from rest_framework.authtoken.models import Token


def token_rotate(*, user) -> str:
    """Create the user's token, or replace the one they have; returns the new key.

    The key is shown to the person once, by the caller; nothing else displays it.
    """
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user).key


def token_created(*, user):
    """When the user's current token was made, or None without one."""
    return Token.objects.filter(user=user).values_list("created", flat=True).first()
