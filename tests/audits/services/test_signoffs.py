"""Approval as a background job: the request records a sign-off, a worker signs the report
with the approver's comment and the meaning of the approval, then marks the audit approved."""
from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from audits.errors import BadInput
from audits.models import Audit, AuditEvent, Membership, SignOff
from audits.reports.approval import FAIL_MEANING, MEANING, approval_block, failing_findings
from audits.services import reviews, signoffs
from audits.services.signing import report_verify
from tests.factories import flip_byte, make_user, signed_files


@pytest.fixture
def officer(org):
    return make_user("olga", org, Membership.Role.COMPLIANCE)


@pytest.fixture
def queued(monkeypatch):
    """Approvals go to the worker (not signed in the request); the queued ids are kept."""
    sent = []
    monkeypatch.setattr(reviews, "signoff_inline", lambda: False)
    monkeypatch.setattr(signoffs, "job_enqueue", lambda **kw: sent.extend(kw["ids"]))
    return sent


def test_approval_is_queued_not_signed_in_the_request(finished, officer, signing_key, queued):
    audit = reviews.review_decide(audit=finished, user=officer, decision="approve", comment="Accept <DI> gap.")
    signoff = SignOff.objects.get(audit=finished)
    assert queued == [signoff.pk] and signoff.status == "queued" and signoff.comment == "Accept <DI> gap."
    assert audit.review_status == "" and not hasattr(Audit.objects.get(pk=finished.pk), "signed")
    assert not AuditEvent.objects.filter(verb="review.approve").exists()


def test_a_second_decision_while_signing_is_refused(finished, officer, signing_key, queued):
    reviews.review_decide(audit=finished, user=officer, decision="approve", comment="ok")
    for decision in ("approve", "reject", "changes_requested"):
        with pytest.raises(BadInput, match="being signed"):
            reviews.review_decide(audit=finished, user=officer, decision=decision, comment="again")
    assert SignOff.objects.filter(audit=finished).count() == 1


def test_one_active_signoff_per_audit_even_without_the_check(finished, officer, queued):
    signoffs.signoff_create(audit=finished, user=officer, comment="first", enqueue=False)
    with pytest.raises(BadInput, match="already being signed"):
        signoffs.signoff_create(audit=finished, user=officer, comment="second", enqueue=False)


def test_signoff_run_signs_with_the_comment_and_meaning_then_approves(finished, officer, signing_key, queued):
    reviews.review_decide(audit=finished, user=officer, decision="approve", comment="Accepted: <b>DI</b> 0.70.")
    signoff = signoffs.signoff_run(signoff_id=queued[0])
    assert signoff.status == "done" and signoff.stage == "signed", signoff.error
    audit = Audit.objects.get(pk=finished.pk)
    assert audit.review_status == "approved"
    event = AuditEvent.objects.get(verb="review.approve", audit=audit)
    assert event.comment == "Accepted: <b>DI</b> 0.70." and event.actor == officer
    files = signed_files(audit.signed)
    for data in files.values():
        assert report_verify(data=data).valid
        assert not report_verify(data=flip_byte(data, len(data) // 2)).valid
    approval = json.loads(files["json"])["signed"]["approval"]
    assert approval["comment"] == "Accepted: <b>DI</b> 0.70." and approval["decision"] == "approved"
    # The finished fixture fails the four-fifths rule: approving accepts that finding, by name.
    assert approval["verdict"] == "fail" and FAIL_MEANING in approval["meaning"] and MEANING in approval["meaning"]
    assert approval["accepted_failing_findings"] == failing_findings(audit.report)
    assert approval["accepted_failing_findings"] == [
        "Group fairness (gender): Disparate impact (DI) 0.700 [0.600, 0.800], acceptable 0.800 to 1.250"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(files["pdf"])).pages).replace("\n", " ")
    assert "Accepted: <b>DI</b> 0.70." in text and "Reviewed and accepted with these findings" in text
    assert "certified fair" not in text.lower()
    # A redelivered task finds the work done and changes nothing.
    assert signoffs.signoff_run(signoff_id=signoff.pk).status == "done"
    assert AuditEvent.objects.filter(verb="review.approve").count() == 1


def test_a_pass_verdict_lists_no_accepted_failures():
    report = {"summary": {"status": "pass"}, "checks": []}
    block = approval_block(report=report, comment="fine")
    assert block["meaning"] == MEANING and "accepted_failing_findings" not in block
    assert "not a certification that the model is fair" in MEANING


def test_a_failed_signing_leaves_the_audit_unapproved_and_can_be_retried(finished, officer, signing_key, queued,
                                                                          monkeypatch):
    reviews.review_decide(audit=finished, user=officer, decision="approve", comment="ok")

    def broken(**kwargs):
        raise OSError("storage is read-only")

    monkeypatch.setattr(signoffs, "report_freeze", broken)
    signoff = signoffs.signoff_run(signoff_id=queued[0])
    assert signoff.status == "failed" and "storage is read-only" in signoff.error
    assert Audit.objects.get(pk=finished.pk).review_status == ""
    monkeypatch.undo()
    monkeypatch.setattr(reviews, "signoff_inline", lambda: True)
    audit = reviews.review_decide(audit=finished, user=officer, decision="approve", comment="retry")
    assert audit.review_status == "approved" and SignOff.objects.filter(audit=finished).count() == 2
