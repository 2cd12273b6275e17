"""The review loop through the web: decisions that notify the submitter (in-app and by
mail), "re-run with changes" linked to the old audit and back in the queue when done,
review states on the lists, the approval's sign-off state, and each new page's
"not your organisation's data" answer."""
from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from audits.models import Audit, AuditEvent, Membership, Notice, Organisation, SignOff
from audits.services import reviews, signoffs
from audits.services.audits import audit_run
from audits.services.reviews import review_decide
from tests.factories import make_user, people_audit, people_dataset


@pytest.fixture
def officer(org):
    return make_user("olga", org, Membership.Role.COMPLIANCE)


@pytest.fixture
def done_audit(org, user, model):
    user.email = "alice@example.org"
    user.save()
    audit = audit_run(audit_id=people_audit(org, user, model, people_dataset(org, user)).pk, resamples=50)
    assert audit.status == Audit.Status.DONE, audit.error
    return audit


@pytest.fixture
def outsider(db):
    return make_user("mallory", Organisation.objects.create(name="Other Corp"))


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_changes_requested_notifies_the_submitter_in_app_and_by_mail(done_audit, user, officer,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _as(officer).post(reverse("audits:audit_review", args=[done_audit.pk]),
                                     {"decision": "changes_requested", "comment": "Add <b>age</b> groups."})
    assert response.status_code == 302
    notice = Notice.objects.get(user=user)
    assert "changes requested by olga" in notice.text and "Add <b>age</b> groups." in notice.text
    [message] = mail.outbox
    assert message.to == ["alice@example.org"] and message.subject == f"Audit {done_audit.pk}: changes requested"
    assert f"/audits/{done_audit.pk}/" in message.body
    client = _as(user)
    home = client.get(reverse("audits:home")).content.decode()
    assert 'id="notice-count"' in home and "Changes requested" in home  # the nav and the audit list
    page = client.get(reverse("audits:notices")).content.decode()
    assert "Add &lt;b&gt;age&lt;/b&gt; groups." in page and "unread" in page
    client.post(reverse("audits:notices"))
    assert not Notice.objects.filter(read_at__isnull=True).exists()
    assert 'id="notice-count"' not in client.get(reverse("audits:home")).content.decode()
    # Nobody else sees the notice.
    assert "age" not in _as(officer).get(reverse("audits:notices")).content.decode()


def test_a_reject_without_mail_settings_sends_nothing_but_the_notice(done_audit, user, officer, settings,
                                                                     django_capture_on_commit_callbacks):
    user.email = ""
    user.save()
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(audit=done_audit, user=officer, decision="reject", comment="wrong dataset")
    assert Notice.objects.filter(user=user, audit=done_audit).count() == 1 and mail.outbox == []


def test_rerun_with_changes_links_the_new_audit_and_returns_to_the_queue(done_audit, user, officer):
    review_decide(audit=done_audit, user=officer, decision="changes_requested", comment="seed 4 please")
    client = _as(user)
    detail = client.get(reverse("audits:audit_detail", args=[done_audit.pk])).content.decode()
    assert 'id="rerun-link"' in detail and "seed 4 please" in detail
    form = client.get(reverse("audits:audit_rerun", args=[done_audit.pk])).content.decode()
    assert f'<option value="{done_audit.model_id}" selected>' in form
    response = client.post(reverse("audits:audit_rerun", args=[done_audit.pk]), {
        "model": done_audit.model_id, "dataset": done_audit.dataset_id, "checks": ["group_fairness"],
        "seed": 4, "explain": 0})
    rerun = Audit.objects.exclude(pk=done_audit.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("audits:audit_detail", args=[rerun.pk])
    assert rerun.previous_id == done_audit.pk and rerun.config["seed"] == 4
    assert AuditEvent.objects.get(verb="audit.rerun", audit=done_audit).detail == {"audit": rerun.pk}
    assert AuditEvent.objects.get(verb="audit.start", audit=rerun).detail["previous"] == done_audit.pk
    queue = _as(officer).get(reverse("audits:review_queue")).content.decode()
    assert 'id="sent-back"' in queue and f"Audit {rerun.pk}</a> (queued)" in queue
    audit_run(audit_id=rerun.pk, resamples=50)
    queue = _as(officer).get(reverse("audits:review_queue")).content.decode()
    assert f"re-run of {done_audit.pk}" in queue
    page = client.get(reverse("audits:audit_detail", args=[rerun.pk])).content.decode()
    assert 'id="previous-audit"' in page


def test_rerun_only_of_an_audit_sent_back(done_audit, user):
    response = _as(user).post(reverse("audits:audit_rerun", args=[done_audit.pk]), {
        "model": done_audit.model_id, "dataset": done_audit.dataset_id, "checks": ["group_fairness"], "seed": 1})
    assert response.status_code == 200 and "was not sent back by a reviewer" in response.content.decode()
    assert Audit.objects.count() == 1


def test_rerun_and_signoff_are_not_another_organisations(done_audit, officer, outsider):
    review_decide(audit=done_audit, user=officer, decision="approve", comment="fine")
    client = _as(outsider)
    for name in ("audits:audit_rerun", "audits:audit_signoff", "audits:audit_delete"):
        url = reverse(name, args=[done_audit.pk])
        assert client.get(url).status_code == 404, name
        assert client.post(url).status_code in {404, 405}, name
    assert Audit.objects.count() == 1


def test_approval_shows_a_signing_state_and_disabled_button_until_signed(done_audit, officer, monkeypatch):
    monkeypatch.setattr(reviews, "signoff_inline", lambda: False)
    monkeypatch.setattr(signoffs, "job_enqueue", lambda **kw: None)
    client = _as(officer)
    response = client.post(reverse("audits:audit_review", args=[done_audit.pk]),
                           {"decision": "approve", "comment": "ok"}, follow=True)
    page = response.content.decode()
    assert "being signed" in page and 'id="signoff"' in page and "data-poll=" in page
    assert 'id="review-submit" disabled' in page
    status = client.get(reverse("audits:audit_signoff", args=[done_audit.pk])).json()
    assert status["status"] == "queued" and status["review_status"] == ""
    # Sent again (a double click that got through): refused, one sign-off.
    again = client.post(reverse("audits:audit_review", args=[done_audit.pk]),
                        {"decision": "approve", "comment": "ok"}, follow=True)
    assert "being signed" in again.content.decode() and SignOff.objects.count() == 1
    signoffs.signoff_run(signoff_id=SignOff.objects.get().pk)
    assert client.get(reverse("audits:audit_signoff", args=[done_audit.pk])).json()["status"] == "done"
    page = client.get(reverse("audits:audit_detail", args=[done_audit.pk])).content.decode()
    assert 'id="signoff"' not in page and 'id="share-form"' in page


def test_signoff_status_is_404_before_any_approval(done_audit, user):
    assert _as(user).get(reverse("audits:audit_signoff", args=[done_audit.pk])).status_code == 404


def test_regulator_home_is_the_root_and_404_pages_have_navigation(db, client, settings):
    settings.DEBUG = False
    regulator = make_user("rita", Organisation.objects.create(name="Authority"), Membership.Role.REGULATOR)
    client.force_login(regulator)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("audits:regulator_home")
    missing = client.get("/no/such/page/")
    page = missing.content.decode()
    assert missing.status_code == 404 and 'id="not-found"' in page
    assert reverse("audits:regulator_home") in page and reverse("audits:verify_report") in page
    assert reverse("login") in Client().get("/no/such/page/").content.decode()
