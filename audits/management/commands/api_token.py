"""`manage.py api_token USERNAME`: create or replace a user's API token and print it once."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from audits.api.tokens import token_rotate


class Command(BaseCommand):
    help = "Create the user's REST API token, or replace the one they have, and print the new key."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **opts):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is inactive; a token would not authenticate.")
        # Only the key on stdout, so `TOKEN=$(manage.py api_token ci-bot)` works.
        self.stdout.write(token_rotate(user=user))
