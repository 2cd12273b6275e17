"""Per-user tokens: the `api_token` command and the /account/token/ page."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import password_of


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(reverse("api:model-list")).status_code == 200


def _command(username: str) -> str:
    out = io.StringIO()
    call_command("api_token", username, stdout=out)
    return out.getvalue().strip()


@pytest.mark.django_db
def test_command_creates_then_rotates(user):
    first = _command(user.username)
    assert _works(first)
    second = _command(user.username)
    assert second != first and _works(second) and not _works(first)
    assert Token.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_command_refuses_unknown_and_inactive_users(user):
    with pytest.raises(CommandError, match="nobody"):
        _command("nobody")
    user.is_active = False
    user.save()
    with pytest.raises(CommandError, match="inactive"):
        _command(user.username)
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_page_shows_the_key_once_and_rotation_revokes_the_old_one(user):
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=user.username, password=password_of(user))
    url = reverse("api:account-token")
    assert "no token yet" in browser.get(url).content.decode()
    token = browser.cookies["csrftoken"].value
    made = browser.post(url, {"csrfmiddlewaretoken": token})
    first = Token.objects.get(user=user).key
    assert made.status_code == 200 and first in made.content.decode()
    assert "no-store" in made["Cache-Control"]
    later = browser.get(url).content.decode()
    assert first not in later and "Replace token" in later
    browser.post(url, {"csrfmiddlewaretoken": token})
    assert not _works(first) and _works(Token.objects.get(user=user).key)


@pytest.mark.django_db
def test_page_needs_login_and_csrf(user):
    url = reverse("api:account-token")
    assert Client().get(url)["Location"].startswith(reverse("login"))
    browser = Client(enforce_csrf_checks=True)
    browser.login(username=user.username, password=password_of(user))
    assert browser.post(url).status_code == 403
    assert not Token.objects.exists()
