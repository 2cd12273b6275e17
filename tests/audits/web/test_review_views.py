"""The review pages: decisions and shares through the web, the trail export, navigation
by role, the comparison page and the regulator portal serving the frozen files."""
from __future__ import annotations

import hashlib

import pytest
from django.test import Client
from django.urls import reverse

from audits.models import Audit, AuditEvent, Membership, Organisation, SignedReport
from audits.services.audits import audit_run
from tests.factories import make_user, password_of, people_audit, people_dataset


@pytest.fixture
def officer(org):
    return make_user("olga", org, Membership.Role.COMPLIANCE)


@pytest.fixture
def regulator(db):
    return make_user("rita", Organisation.objects.create(name="Authority"), Membership.Role.REGULATOR)


@pytest.fixture
def done_audit(org, user, model):
    audit = people_audit(org, user, model, people_dataset(org, user))
    audit = audit_run(audit_id=audit.pk, resamples=50)
    assert audit.status == Audit.Status.DONE, audit.error
    return audit


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_decision_form_only_for_compliance(done_audit, user, officer):
    url = reverse("audits:audit_detail", args=[done_audit.pk])
    assert 'id="review-form"' in _as(officer).get(url).content.decode()
    page = _as(user).get(url).content.decode()
    assert 'id="review-form"' not in page and 'id="trail"' in page


def test_blank_comment_is_refused_with_a_message(done_audit, officer):
    client = _as(officer)
    response = client.post(reverse("audits:audit_review", args=[done_audit.pk]),
                           {"decision": "approve", "comment": "  "}, follow=True)
    assert "comment is required" in response.content.decode()
    done_audit.refresh_from_db()
    assert done_audit.review_status == ""


def test_decision_needs_csrf(done_audit, officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(officer)
    response = client.post(reverse("audits:audit_review", args=[done_audit.pk]),
                           {"decision": "reject", "comment": "no"})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(verb="review.reject").exists()


def test_approve_share_and_regulator_download(done_audit, officer, regulator, user):
    client = _as(officer)
    queue = client.get(reverse("audits:review_queue")).content.decode()
    assert f"Audit {done_audit.pk}<" in queue
    client.post(reverse("audits:audit_review", args=[done_audit.pk]),
                {"decision": "approve", "comment": "<b>fine</b> by me"})
    page = client.get(reverse("audits:audit_detail", args=[done_audit.pk])).content.decode()
    assert "&lt;b&gt;fine&lt;/b&gt; by me" in page and 'id="share-form"' in page
    client.post(reverse("audits:audit_share", args=[done_audit.pk]), {"regulator": "rita"})

    portal = _as(regulator)
    listing = portal.get(reverse("audits:regulator_home")).content.decode()
    assert reverse("audits:regulator_report", args=[done_audit.pk]) in listing
    assert portal.get(reverse("audits:regulator_report", args=[done_audit.pk])).status_code == 200
    signed = SignedReport.objects.get(audit=done_audit)
    for kind, sha in (("pdf", signed.pdf_sha256), ("json", signed.json_sha256)):
        response = portal.get(reverse("audits:regulator_download", args=[done_audit.pk, kind]))
        assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == sha
    downloads = AuditEvent.objects.filter(verb="report.download", actor=regulator, audit=done_audit)
    assert sorted(e.detail["file"] for e in downloads) == ["report.json", "report.pdf"]
    # The officer sees the whole loop in the trail, and its export.
    csv_text = _as(user).get(reverse("audits:audit_trail_csv", args=[done_audit.pk])).content.decode()
    for verb in ("audit.start", "review.approve", "report.share", "report.download"):
        assert verb in csv_text


def test_web_download_is_logged(done_audit, user):
    response = _as(user).get(reverse("audits:audit_download", args=[done_audit.pk, "json"]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(verb="report.download", actor=user, detail__file="report.json").exists()


def test_api_download_is_logged(done_audit, user):
    response = _as(user).get(reverse("api:audit-report-json", args=[done_audit.pk]))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(verb="report.download", actor=user, detail__via="api").exists()


def test_trail_csv_is_neutralised(done_audit, officer):
    _as(officer).post(reverse("audits:audit_review", args=[done_audit.pk]),
                      {"decision": "reject", "comment": "=HYPERLINK(\"http://x\")"})
    text = _as(officer).get(reverse("audits:audit_trail_csv", args=[done_audit.pk])).content.decode()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_navigation_by_role(org, user, officer, regulator):
    ds = _as(user).get(reverse("audits:home")).content.decode()
    assert "Upload model" in ds and "New audit" in ds and "Review queue" not in ds
    co = _as(officer).get(reverse("audits:home")).content.decode()
    assert "Review queue" in co and "Upload model" not in co and "New audit" not in co
    assert reverse("audits:model_upload") not in co and reverse("audits:audit_new") not in co
    reg = _as(regulator).get(reverse("audits:regulator_home")).content.decode()
    assert "Shared reports" in reg and f'href="{reverse("audits:home")}"' not in reg
    assert "Upload" not in reg and "Compare" not in reg


def test_compliance_reads_but_cannot_upload(officer, done_audit):
    client = _as(officer)
    assert client.get(reverse("audits:audit_report", args=[done_audit.pk])).status_code == 200
    page = client.get(reverse("audits:model_detail", args=[done_audit.model_id])).content.decode()
    assert "Audit this model" not in page and "Audit this model" in _as(done_audit.created_by).get(
        reverse("audits:model_detail", args=[done_audit.model_id])).content.decode()
    for name in ("audits:model_upload", "audits:dataset_upload", "audits:audit_new", "audits:lexicon"):
        assert client.get(reverse(name)).status_code == 404
        assert client.post(reverse(name)).status_code == 404


def test_login_lands_regulators_on_their_portal(client, regulator, user):
    response = client.post(reverse("login"), {"username": "rita", "password": password_of(regulator)})
    assert client.get(response["Location"]).url == reverse("audits:regulator_home")
    other = Client()
    response = other.post(reverse("login"), {"username": "alice", "password": password_of(user)})
    assert other.get(response["Location"]).url == reverse("audits:home")


def test_compare_page_shows_both_audits(org, user, model, done_audit):
    second = audit_run(audit_id=people_audit(org, user, model, done_audit.dataset, seed=9).pk, resamples=50)
    page = _as(user).get(reverse("audits:audit_compare") + f"?a={done_audit.pk}&b={second.pk}").content.decode()
    [fairness] = [c for c in second.report["checks"] if c["id"] == "group_fairness"]
    di = fairness["metrics"]["disparate_impact"]
    assert f"{di['value']:.3f}" in page and f"[{di['ci_low']:.3f}, {di['ci_high']:.3f}]" in page
    assert _as(user).get(reverse("audits:audit_compare") + "?a=x&b=1").status_code == 404
