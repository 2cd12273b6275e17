"""Who may call what: another organisation's objects, role verbs, regulators, anonymous
callers, tokens, and CSRF for browser sessions. Denied is a 404, as on the web."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from audits.api import urls as api_urls
from audits.models import Audit
from tests.audits.api.conftest import stand_in_rows, token_client
from tests.factories import password_of

# (url name, object kind or None for a list, method); every API endpoint but the schema.
ENDPOINTS = [
    ("api:model-list", None, "get"), ("api:model-list", None, "post"),
    ("api:model-detail", "model", "get"),
    ("api:dataset-list", None, "get"), ("api:dataset-list", None, "post"),
    ("api:dataset-detail", "dataset", "get"), ("api:dataset-mapping", "dataset", "post"),
    ("api:audit-list", None, "get"), ("api:audit-list", None, "post"),
    ("api:audit-detail", "audit", "get"), ("api:audit-report-json", "audit", "get"),
    ("api:audit-report-pdf", "audit", "get"), ("api:audit-gate", "audit", "get"),
]
OBJECT_ENDPOINTS = [e for e in ENDPOINTS if e[1]]
WRITES = {("api:model-list", "post"): "upload", ("api:dataset-list", "post"): "upload",
          ("api:dataset-mapping", "post"): "upload", ("api:audit-list", "post"): "audit"}


def _url(name, kind, rows) -> str:
    return reverse(name, args=[rows[kind].pk]) if kind else reverse(name)


def _call(client, method, url):
    return getattr(client, method)(url, {}, format="json") if method == "post" else client.get(url)


def test_every_api_url_is_covered_here():
    names = {f"api:{p.name}" for p in api_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names - {"api:schema", "api:account-token"} == {name for name, _, _ in ENDPOINTS}


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "method"), OBJECT_ENDPOINTS)
def test_other_organisations_objects_are_404(api, other_org, name, kind, method):
    theirs = stand_in_rows(other_org)
    assert _call(api, method, _url(name, kind, theirs)).status_code == 404


@pytest.mark.django_db
def test_lists_hold_only_own_organisation(api, org, other_org):
    mine, theirs = stand_in_rows(org), stand_in_rows(other_org)
    for name, kind in (("api:model-list", "model"), ("api:dataset-list", "dataset"), ("api:audit-list", "audit")):
        ids = {row["id"] for row in api.get(reverse(name)).json()["results"]}
        assert ids == {mine[kind].pk} and theirs[kind].pk not in ids


@pytest.mark.django_db
def test_audit_of_another_organisations_model_is_refused_like_a_missing_one(api, org, other_org):
    mine, theirs = stand_in_rows(org), stand_in_rows(other_org)
    url = reverse("api:audit-list")
    foreign = api.post(url, {"model": theirs["model"].pk, "dataset": mine["dataset"].pk}, format="json")
    missing = api.post(url, {"model": 10**9, "dataset": mine["dataset"].pk}, format="json")
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["model"] == [m.replace(str(10**9), str(theirs["model"].pk)) for m in missing.json()["model"]]
    assert not Audit.objects.filter(organisation=org).exclude(pk=mine["audit"].pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "method"), ENDPOINTS)
def test_compliance_reads_but_cannot_upload_or_audit(role_client, org, name, kind, method):
    rows = stand_in_rows(org)
    response = _call(role_client("compliance"), method, _url(name, kind, rows))
    if (name, method) in WRITES:
        assert response.status_code == 404
    else:
        # report files: the stand-in audit has none stored, which is also a 404, with its reason.
        assert response.status_code == 200 or "has no report" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "method"), ENDPOINTS)
def test_regulator_gets_404_everywhere(role_client, org, name, kind, method):
    rows = stand_in_rows(org)
    assert _call(role_client("regulator"), method, _url(name, kind, rows)).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "method"), ENDPOINTS)
def test_admin_may_do_what_the_web_lets_an_admin_do(role_client, org, name, kind, method):
    rows = stand_in_rows(org)
    response = _call(role_client("admin"), method, _url(name, kind, rows))
    # Writes reach the service and fail on the empty body (400), never on access.
    assert response.status_code != 404 or "has no report" in response.json()["detail"]


@pytest.mark.django_db
def test_user_without_organisation_gets_404(django_user_model):
    loner = django_user_model.objects.create_user("loner", password="x-12345678")
    assert token_client(loner).get(reverse("api:model-list")).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kind", "method"), ENDPOINTS + [("api:schema", None, "get")])
def test_anonymous_and_wrong_token_are_401(org, name, kind, method):
    url = _url(name, kind, stand_in_rows(org))
    response = _call(APIClient(), method, url)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert _call(wrong, method, url).status_code == 401


@pytest.mark.django_db
def test_session_post_needs_csrf_token_get_does_not(user):
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=user.username, password=password_of(user))
    assert browser.get(reverse("api:dataset-list")).status_code == 200
    refused = browser.post(reverse("api:audit-list"), {}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


@pytest.mark.django_db
def test_token_posts_need_no_csrf(api):
    # A CSRF-enforcing client with a token: reaches validation (400), not the CSRF refusal.
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
    assert client.post(reverse("api:audit-list"), {}, format="json").status_code == 400


@pytest.mark.django_db
def test_inactive_users_token_stops_working(user, api):
    user.is_active = False
    user.save()
    assert api.get(reverse("api:model-list")).status_code == 401

