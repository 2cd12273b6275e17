"""Every model change comes with its migration."""
import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_pending_migrations():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit as exc:
        pytest.fail(f"Pending migrations:\n{out.getvalue()} (exit {exc.code})")
