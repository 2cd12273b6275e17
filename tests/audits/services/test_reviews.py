"""Review decisions, sharing, the audit trail and its CSV export, and the comparison."""
from __future__ import annotations

import csv
import io

import pytest

from audits.errors import BadInput
from audits.models import Audit, AuditEvent, Membership, Organisation, ReportShare, SignedReport
from audits.services.audits import audit_run
from audits.services.compare import audit_compare, change
from audits.services.reviews import report_share, review_decide, review_queue
from audits.services.trail import audit_trail, csv_cell, event_record, trail_csv
from tests.factories import make_user, people_audit, people_dataset


@pytest.fixture
def officer(org):
    return make_user("olga", org, Membership.Role.COMPLIANCE)


@pytest.fixture
def regulator(db):
    return make_user("rita", Organisation.objects.create(name="Authority"), Membership.Role.REGULATOR)


@pytest.fixture
def done_audit(org, user, model):
    dataset = people_dataset(org, user)
    audit = people_audit(org, user, model, dataset)
    audit = audit_run(audit_id=audit.pk, resamples=50)
    assert audit.status == Audit.Status.DONE, audit.error
    return audit


@pytest.mark.parametrize("text", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(text):
    assert csv_cell(text) == "'" + text


def test_plain_cells_are_kept():
    assert csv_cell("approved, fine") == "approved, fine" and csv_cell(None) == "" and csv_cell(3) == "3"


def test_trail_csv_neutralises_every_column(org, user):
    user.username = "=evil"
    event = event_record(organisation=org, actor=user, verb="review.approve", comment="@SUM(1)",
                         detail={"note": "+x"})
    rows = list(csv.reader(io.StringIO(trail_csv(events=[event]))))
    assert rows[0] == ["time", "actor", "verb", "audit", "comment", "detail"]
    assert rows[1][1] == "'=evil" and rows[1][4] == "'@SUM(1)" and rows[1][5] == "note=+x"


def test_events_are_append_only(org, user):
    event = event_record(organisation=org, actor=user, verb="x")
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(verb="y")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()


def test_trail_holds_uploads_start_and_decisions(done_audit, officer, org, user):
    other = people_dataset(org, user, suffix="!")  # an upload the audit did not use
    review_decide(audit=done_audit, user=officer, decision="reject", comment="too few rows")
    verbs = [e.verb for e in audit_trail(audit=done_audit)]
    assert verbs == ["dataset.upload", "audit.start", "review.reject"]
    assert not audit_trail(audit=done_audit).filter(detail__dataset=other.pk).exists()
    assert AuditEvent.objects.filter(verb="dataset.upload", detail__dataset=other.pk).exists()


@pytest.mark.parametrize("comment", ["", "   \n"])
def test_a_decision_needs_a_comment(done_audit, officer, comment):
    with pytest.raises(BadInput, match="comment is required"):
        review_decide(audit=done_audit, user=officer, decision="reject", comment=comment)
    done_audit.refresh_from_db()
    assert done_audit.review_status == "" and not AuditEvent.objects.filter(verb__startswith="review").exists()


def test_only_finished_audits_are_reviewed(org, user, model, officer):
    audit = people_audit(org, user, model, people_dataset(org, user))
    with pytest.raises(BadInput, match="not finished"):
        review_decide(audit=audit, user=officer, decision="approve", comment="ok")


def test_another_organisation_cannot_decide(done_audit, other_org):
    outsider = make_user("oscar", other_org, Membership.Role.COMPLIANCE)
    with pytest.raises(BadInput, match="another organisation"):
        review_decide(audit=done_audit, user=outsider, decision="reject", comment="no")


def test_approval_signs_and_is_final(done_audit, officer):
    assert list(review_queue(organisation=done_audit.organisation)) == [done_audit]
    review_decide(audit=done_audit, user=officer, decision="changes_requested", comment="add a dataset")
    review_decide(audit=done_audit, user=officer, decision="approve", comment="now fine")
    done_audit.refresh_from_db()
    assert done_audit.review_status == "approved"
    signed = SignedReport.objects.get(audit=done_audit)
    assert signed.signed_by == officer and signed.pdf_sha256
    assert not review_queue(organisation=done_audit.organisation).exists()
    with pytest.raises(BadInput, match="already approved"):
        review_decide(audit=done_audit, user=officer, decision="reject", comment="changed my mind")
    events = list(audit_trail(audit=done_audit).filter(verb__startswith="review."))
    assert [(e.verb, e.comment, e.actor_name) for e in events] == [
        ("review.changes_requested", "add a dataset", "olga"), ("review.approve", "now fine", "olga")]


def test_share_needs_approval_and_a_regulator(done_audit, officer, regulator, user):
    with pytest.raises(BadInput, match="approved and signed"):
        report_share(audit=done_audit, user=officer, regulator_username="rita")
    review_decide(audit=done_audit, user=officer, decision="approve", comment="ok")
    for name in ("alice", "nobody"):  # a data scientist, and no such account: one message
        with pytest.raises(BadInput, match="not a regulator account"):
            report_share(audit=done_audit, user=officer, regulator_username=name)
    first = report_share(audit=done_audit, user=officer, regulator_username="rita")
    again = report_share(audit=done_audit, user=officer, regulator_username=" rita ")
    assert first.pk == again.pk and ReportShare.objects.count() == 1
    assert AuditEvent.objects.filter(verb="report.share", audit=done_audit).count() == 1


def _report(checks):
    return {"checks": checks}


def test_compare_every_metric_with_both_intervals_and_the_change(org, user, model):
    dataset = people_dataset(org, user)
    first = people_audit(org, user, model, dataset)
    second = people_audit(org, user, model, dataset)
    first.report = _report([
        {"id": "group_fairness", "attribute": "gender", "status": "fail",
         "metrics": {"disparate_impact": {"value": 0.6, "ci_low": 0.5, "ci_high": 0.7}},
         "groups": {"female": {"disparate_impact": 0.6, "disparate_impact_ci_low": 0.5,
                               "disparate_impact_ci_high": 0.7, "count": 40}}},
        {"id": "sampling_bias", "attribute": "gender", "status": "pass", "metrics": {}, "groups": {}},
    ])
    second.report = _report([
        {"id": "group_fairness", "attribute": "gender", "status": "pass",
         "metrics": {"disparate_impact": {"value": 0.95, "ci_low": 0.85, "ci_high": 1.05},
                     "statistical_parity_difference": {"value": -0.02, "ci_low": -0.05, "ci_high": 0.01}},
         "groups": {"female": {"disparate_impact": 0.95, "count": 38}}},
    ])
    sections = audit_compare(first=first, second=second)
    assert [(s["check"], s["attribute"]) for s in sections] == [("group_fairness", "gender"), ("sampling_bias", "gender")]
    di, spd = sections[0]["metrics"]
    assert (di["a"], di["a_ci"], di["b"], di["b_ci"], di["change"]) == ("0.600", "[0.500, 0.700]", "0.950",
                                                                        "[0.850, 1.050]", "+0.350")
    assert (spd["a"], spd["b"], spd["change"]) == ("—", "-0.020", "—")
    [female] = sections[0]["groups"]
    rows = {r["name"]: r for r in female["rows"]}
    assert set(rows) == {"disparate_impact", "count"}
    assert rows["disparate_impact"]["a_ci"] == "[0.500, 0.700]" and rows["disparate_impact"]["b_ci"] == "—"
    assert rows["count"]["change"] == "-2"
    assert sections[1]["status_b"] is None


def test_change_signs():
    assert change(0.5, 0.25) == "-0.250" and change(0.1, 0.1) == "0.000" and change(None, 1) == "—"
    assert change(True, 1) == "—"
