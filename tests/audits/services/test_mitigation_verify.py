"""A debiasing run checked by the ordinary audit: the held-out rows as a dataset, the
audits of the parent and of the new model on it, the figures compared, and the page."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

import audits.mitigation as mitigation_core
from audits.checks.group_fairness import POLICY_METRICS
from audits.errors import BadInput
from audits.models import Audit, AuditEvent, Dataset, MitigationRun, ModelArtifact
from audits.services import mitigation_report, mitigation_verify
from audits.services.audits import audit_run
from audits.services.datasets import dataset_frame
from audits.services.mitigation_verify import verification_rows
from audits.services.mitigations import mitigation_create, mitigation_run
from tests.factories import people_audit, people_dataset

OPTIONS = {"epochs": 3, "sweep": [0.0, 1.0], "adversary_weight": 1.0, "batch_size": 32}
RESAMPLES = 100
# automation_bias and subgroup_auc state accuracy and ROC AUC on all rows, so those are compared too.
CHECKS = ["group_fairness", "subgroup_auc", "automation_bias"]


@pytest.fixture
def audit(org, user, model, settings, tmp_path):
    folder = tmp_path / "work-tmp"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    dataset = people_dataset(org, user, rows=160)
    return audit_run(audit_id=people_audit(org, user, model, dataset, checks=CHECKS, explain=2).pk)


@pytest.fixture
def held_out(monkeypatch):
    """The held-out row indices of the next run (mitigation_compute's outcome)."""
    captured = {}
    real = mitigation_core.mitigation_compute

    def keep(**kwargs):
        outcome = real(**kwargs)
        captured["rows"] = outcome.held_out_rows
        return outcome

    monkeypatch.setattr(mitigation_core, "mitigation_compute", keep)
    return captured


def _start(audit, user, method="adversarial", verify=True):
    run = mitigation_create(audit=audit, user=user, method=method, attribute="gender", options=OPTIONS,
                            enqueue=False)
    return mitigation_run(run_id=run.pk, resamples=RESAMPLES, verify=verify)


def _verification_section(page: str) -> str:
    start = page.index('id="verification"')
    return page[start:page.index("</section>", start)]


def _stored_datasets() -> list[str]:
    return sorted(default_storage.listdir("datasets")[1])


def test_inline_check_audits_exactly_the_held_out_rows_and_every_figure_agrees(audit, user, held_out, client_in):
    run = _start(audit, user, verify="inline")
    assert run.status == "done", run.error
    data = run.held_out_dataset
    assert data.organisation_id == audit.organisation_id
    assert data.name == f"people (held-out rows of debiasing run {run.pk})"
    assert data.rows == len(held_out["rows"]) == run.result["held_out_rows"]
    expected = dataset_frame(dataset=audit.dataset).iloc[held_out["rows"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(dataset_frame(dataset=data), expected)  # same rows, same types
    assert data.mapping == audit.dataset.mapping
    before, after = run.before_audit, run.after_audit
    assert (before.model_id, after.model_id) == (audit.model_id, run.result_model_id)
    for checked in (before, after):
        assert checked.status == "done", checked.error
        assert checked.dataset_id == data.pk and checked.policy_id == audit.policy_id
        assert checked.config == {**audit.config, "explain": 0}

    assert set(run.result["after"]["groups"]) == {"female"}
    assert set(run.result["after"]["groups"]["female"]) == set(POLICY_METRICS)
    rows = verification_rows(run.result, after.report, before.report)
    compared = {(r["side"], r["figure"], r["group"]) for r in rows}
    assert compared == {(side, figure, group) for side in ("before", "after")
                        for figure, group in [("accuracy", ""), ("roc_auc", ""),
                                              *((m, "female") for m in POLICY_METRICS)]}
    assert all(r["agrees"] for r in rows), [r for r in rows if not r["agrees"]]

    page = client_in.get(reverse("audits:mitigation_detail", args=[run.pk])).content.decode()
    section = _verification_section(page)
    assert "Checked by audit" in section
    assert f"All {len(rows)} figures agree." in section and section.count("<td>yes</td>") == len(rows)
    assert reverse("audits:audit_detail", args=[before.pk]) in page
    assert reverse("audits:audit_detail", args=[after.pk]) in page
    assert reverse("audits:dataset_map", args=[data.pk]) in page
    assert f"{reverse('audits:audit_compare')}?a={before.pk}&amp;b={after.pk}" in page
    assert 'id="verification-pending"' not in page and 'http-equiv="refresh"' not in page


def test_by_default_the_audits_are_queued_once_the_run_is_committed(audit, user,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run = _start(audit, user, method="reweighing")
    assert run.status == "done", run.error
    assert (run.before_audit.status, run.after_audit.status) == ("queued", "queued")
    assert len(callbacks) == 2  # one task per audit, sent only after the commit
    for callback in callbacks:
        callback()  # Celery runs eagerly in the tests
    assert Audit.objects.get(pk=run.after_audit_id).status == "done"


def _fail_on_second_audit(monkeypatch):
    real, calls = mitigation_verify.audit_create, []

    def create(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise BadInput("the new model's labels do not match")
        return real(**kwargs)

    monkeypatch.setattr(mitigation_verify, "audit_create", create)


def _fail_upload(monkeypatch):
    def upload(**kwargs):
        raise OSError("disk full while storing the held-out rows")

    monkeypatch.setattr(mitigation_verify, "dataset_upload", upload)


def _fail_after_marking_done(monkeypatch):
    real_save = mitigation_report._save

    def save_then_fail(audit_id, document, then):
        real_save(audit_id, document, then)  # audits created, run marked done ...
        raise OSError("commit failed")  # ... and then the transaction fails

    monkeypatch.setattr(mitigation_report, "_save", save_then_fail)


@pytest.mark.parametrize(("breaking", "reason"), [
    (_fail_upload, "disk full while storing the held-out rows"),
    (_fail_on_second_audit, "the new model's labels do not match"),
    (_fail_after_marking_done, "commit failed"),
])
def test_a_failing_check_leaves_nothing_behind(audit, user, monkeypatch, breaking, reason):
    datasets_before, report_before = _stored_datasets(), audit.report
    events_before = AuditEvent.objects.filter(verb="audit.start").count()
    breaking(monkeypatch)
    run = _start(audit, user, method="reweighing")
    assert run.status == "failed" and reason in run.error, run.error
    assert run.result_model is None and run.held_out_dataset is None and run.after_audit is None
    assert Dataset.objects.count() == 1 and Audit.objects.count() == 1 and ModelArtifact.objects.count() == 1
    assert _stored_datasets() == datasets_before
    assert AuditEvent.objects.filter(verb="audit.start").count() == events_before
    assert Audit.objects.get(pk=audit.pk).report == report_before


def test_rows_that_cannot_be_audited_keep_the_run_and_say_why(audit, user, client_in, monkeypatch):
    def too_few(**kwargs):
        raise BadInput("protected group 'gender' has 3 rows among the held-out rows")

    monkeypatch.setattr(mitigation_verify, "audit_config_validate", too_few)
    datasets_before = _stored_datasets()
    run = _start(audit, user, method="reweighing")
    assert run.status == "done", run.error
    assert run.result_model is not None and run.held_out_dataset is None and run.after_audit is None
    assert "could not be audited on their own: protected group 'gender'" in run.result["verification_skipped"]
    assert Dataset.objects.count() == 1 and _stored_datasets() == datasets_before
    page = client_in.get(reverse("audits:mitigation_detail", args=[run.pk])).content.decode()
    assert "Not checked:" in page and "protected group &#x27;gender&#x27; has 3 rows" in page


@pytest.mark.parametrize(("method", "verify"), [("threshold", "inline"), ("reweighing", False)])
def test_no_model_or_no_verify_makes_no_check(audit, user, method, verify):
    run = _start(audit, user, method=method, verify=verify)
    assert run.status == "done", run.error
    assert (run.held_out_dataset, run.before_audit, run.after_audit) == (None, None, None)
    assert Dataset.objects.count() == 1 and Audit.objects.count() == 1


# --- the comparison and the page, on made-up reports -------------------------------------

def _report(groups: dict, *, accuracy=None, auc=None, labels=2) -> dict:
    checks = [{"id": "group_fairness", "attribute": "gender", "groups": groups},
              {"id": "group_fairness", "attribute": "other", "groups": {g: {"disparate_impact": 9.0} for g in groups}}]
    if accuracy is not None:
        checks.append({"id": "automation_bias", "attribute": "gender", "groups": {"all rows": {"accuracy": accuracy}}})
    if auc is not None:
        checks.append({"id": "subgroup_auc", "attribute": "gender", "groups": {"all rows": {"overall_auc": auc}}})
    return {"model": {"labels": {str(i): f"l{i}" for i in range(labels)}}, "checks": checks}


RESULT = {"attribute": "gender",
          "after": {"accuracy": {"value": 0.75}, "roc_auc": {"value": 0.8},
                    "groups": {"<b>f</b>": {"disparate_impact": 0.9, "statistical_parity_difference": -0.05},
                               "tiny": {"disparate_impact": None}}},
          "before": {"accuracy": {"value": 0.7}, "groups": {"<b>f</b>": {"disparate_impact": None}}}}


def test_rows_compare_only_what_both_state():
    after = _report({"<b>f</b>": {"disparate_impact": 0.9 + 1e-12, "statistical_parity_difference": -0.04,
                                  "theil_index": 0.1}, "privileged: m": {"selection_rate": 0.5}},
                    accuracy=0.75, auc=0.8)
    before = _report({"<b>f</b>": {"disparate_impact": None}}, accuracy=0.7, labels=3)
    rows = verification_rows(RESULT, after, before)
    found = {(r["side"], r["figure"], r["group"]): r for r in rows}
    # "tiny" is under the audit's min_group_rows; with three labels accuracy means something else.
    assert set(found) == {("after", "accuracy", ""), ("after", "roc_auc", ""), ("after", "disparate_impact", "<b>f</b>"),
                          ("after", "statistical_parity_difference", "<b>f</b>"), ("before", "disparate_impact", "<b>f</b>")}
    assert found[("after", "disparate_impact", "<b>f</b>")]["agrees"]
    spd = found[("after", "statistical_parity_difference", "<b>f</b>")]
    assert not spd["agrees"] and spd["difference"] == pytest.approx(0.01)
    assert found[("before", "disparate_impact", "<b>f</b>")] == {
        "side": "before", "figure": "disparate_impact", "group": "<b>f</b>", "run": None, "audit": None,
        "difference": None, "agrees": True}
    assert verification_rows(RESULT, None, None) == [] and verification_rows(None, after) == []


@pytest.fixture
def linked_run(org, user, model):
    """A done run whose check audits carry made-up reports (no training, no audit run)."""
    held = people_dataset(org, user, rows=40)
    audit = people_audit(org, user, model, held)
    made = {side: Audit.objects.create(organisation=audit.organisation, model=audit.model, dataset=held,
                                       config=audit.config, status="done", report=report)
            for side, report in (("before", _report({})), ("after", _report(
                {"<b>f</b>": {"disparate_impact": 0.9, "statistical_parity_difference": -0.04}}, accuracy=0.75)))}
    return MitigationRun.objects.create(
        organisation=audit.organisation, audit=audit, method="adversarial", attribute="gender", status="done",
        result=RESULT, created_by=user, held_out_dataset=held, before_audit=made["before"], after_audit=made["after"])


def test_page_names_the_figures_that_disagree_and_escapes_groups(client_in, linked_run):
    page = client_in.get(reverse("audits:mitigation_detail", args=[linked_run.pk])).content.decode()
    assert "<b>f</b>" not in page and "&lt;b&gt;f&lt;/b&gt;" in page
    section = _verification_section(page)
    assert "1 of 3 figures do not agree: new model" in section and "(&lt;b&gt;f&lt;/b&gt;)." in section
    assert section.count("<td>no</td>") == 1 and section.count("<td>yes</td>") == 2
    assert "<td>1.0e-02</td>" in section


def test_page_says_while_the_audits_run(client_in, linked_run):
    Audit.objects.filter(pk=linked_run.after_audit_id).update(status="running", report=None)
    page = client_in.get(reverse("audits:mitigation_detail", args=[linked_run.pk])).content.decode()
    assert 'id="verification-pending"' in page and 'http-equiv="refresh"' in page
    assert 'id="verification-table"' not in page and 'id="verification-compare"' not in page


def test_another_organisations_user_gets_404(client, other_user, linked_run):
    client.force_login(other_user)
    assert client.get(reverse("audits:mitigation_detail", args=[linked_run.pk])).status_code == 404
