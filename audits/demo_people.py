"""The demo's people: the organisation "Demo", its data scientist with a generated
password kept in var/demo-credentials.txt, a compliance officer of the same organisation
and a regulator in an organisation of their own, all with that password (issue 14's three
roles). The fast part of the demo, done before the server starts."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User

from audits.models import Membership, Organisation

ORG_NAME, USERNAME = "Demo", "demo"
REGULATOR_ORG = "Demo regulator"
URL = "http://127.0.0.1:8000"


def demo_credentials(path: Path) -> tuple[str, str]:
    """(username, password): generated once, then read back from the same file."""
    path = Path(path)
    if path.is_file():
        values = dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)
        if values.get("username") and values.get("password"):
            return values["username"], values["password"]
    password = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by the owner only: it is a login.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"url: {URL}\nusername: {USERNAME}\npassword: {password}\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that was already there
    return USERNAME, password


def _login(username: str, password: str, membership: dict) -> User:
    """The user `username` with `password` (reset when it changed) and that membership."""
    user, created = User.objects.get_or_create(username=username)
    if created or not user.check_password(password):
        user.set_password(password)
        user.save()
    Membership.objects.update_or_create(user=user, defaults=membership)
    return user


def demo_user(organisation: Organisation, credentials: Path) -> tuple[User, str]:
    """The demo login; its password follows the credentials file, which is made once."""
    username, password = demo_credentials(credentials)
    return _login(username, password, {"organisation": organisation}), password


def demo_people(organisation: Organisation, password: str) -> dict[str, str]:
    """The other two people of the review loop, with the demo password: a compliance
    officer of the demo organisation and a regulator in an organisation of their own."""
    regulator_org, _ = Organisation.objects.get_or_create(name=REGULATOR_ORG)
    people = {f"{USERNAME}-compliance": (organisation, Membership.Role.COMPLIANCE),
              f"{USERNAME}-regulator": (regulator_org, Membership.Role.REGULATOR)}
    for username, (org, role) in people.items():
        _login(username, password, {"organisation": org, "role": role})
    return {username: role.label for username, (_, role) in people.items()}


def demo_people_setup() -> dict:
    """The organisation and the three logins."""
    organisation, _ = Organisation.objects.get_or_create(name=ORG_NAME)
    credentials = Path(settings.VAR_DIR) / "demo-credentials.txt"
    user, password = demo_user(organisation, credentials)
    return {"organisation": organisation, "user": user, "password": password, "credentials": credentials,
            "people": demo_people(organisation, password)}


def demo_logins(people: dict) -> str:
    """How to log in, as `make run` prints it."""
    user, password = people["user"], people["password"]
    return (f"  log in at {URL} as {user.username} / {password}   (data scientist; saved in "
            f"{people['credentials']})\n"
            + "".join(f"        or {name} / the same password   ({role.lower()})\n"
                      for name, role in people["people"].items()))
