"""Debiasing pages: the form on the audit page, the run page, progress, cancel, access."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from audits.mitigation import OPTION_DEFAULTS
from audits.models import MitigationRun, ModelArtifact
from audits.services.audits import audit_run
from tests.factories import make_user, people_audit, people_dataset

FORM = {"method": "adversarial", "attribute": "gender", "goal": "demographic_parity", "adversary_weight": "1",
        "epochs": "2", "unfreeze_layers": "0", "seed": "5"}
# A section as mitigation_compute writes it, with user text where a page could go wrong.
SECTION = {
    "method": "adversarial", "attribute": "<script>alert(1)</script>", "model_sha256": "ab" * 32,
    "settings": {"goal": "demographic_parity", "adversary_weight": 1.0, "epochs": 2, "seed": 5},
    "before": {"accuracy": {"value": 0.8, "ci_low": 0.7, "ci_high": 0.9},
               "statistical_parity_difference": {"value": -0.3, "ci_low": -0.45, "ci_high": -0.15, "group": "<b>f</b>"}},
    "after": {"accuracy": {"value": 0.77, "ci_low": 0.66, "ci_high": 0.86},
              "statistical_parity_difference": {"value": -0.02, "ci_low": -0.12, "ci_high": 0.08, "group": "<b>f</b>"}},
    "held_out_rows": 48, "train_rows": 112,
    "sweep": [{"adversary_weight": 0.0, "accuracy": 0.8, "fairness_gap": 0.3},
              {"adversary_weight": 1.0, "accuracy": 0.77, "fairness_gap": 0.02}],
    "recommendation": {"method": "adversarial", "adversary_weight": 1.0, "reason": "It cut the gap <i>most</i>."},
    "adversary_accuracy": {"before": 0.74, "after": 0.52, "chance": 0.5},
}


@pytest.fixture
def audit(org, user, model):
    dataset = people_dataset(org, user, rows=120)
    return audit_run(audit_id=people_audit(org, user, model, dataset).pk)


@pytest.fixture
def run(audit, user):
    return MitigationRun.objects.create(organisation=audit.organisation, audit=audit, method="adversarial",
                                        attribute="gender", options={"epochs": 2, "seed": 5}, created_by=user)


def _endpoints(audit, run) -> list[tuple[str, str]]:
    return [("post", reverse("audits:mitigation_start", args=[audit.pk])),
            ("get", reverse("audits:mitigation_detail", args=[run.pk])),
            ("get", reverse("audits:mitigation_progress", args=[run.pk])),
            ("post", reverse("audits:mitigation_cancel", args=[run.pk]))]


def test_audit_page_offers_the_form_with_the_defaults(client_in, audit):
    page = client_in.get(reverse("audits:audit_detail", args=[audit.pk])).content.decode()
    assert 'id="mitigation-form"' in page and '<option value="gender">' in page
    assert f'name="epochs" value="{OPTION_DEFAULTS["epochs"]}"' in page
    assert f'name="unfreeze_layers" value="{OPTION_DEFAULTS["unfreeze_layers"]}"' in page


def test_the_panel_reads_the_dataset_once_per_audit_and_lexicon(client_in, org, audit, monkeypatch):
    """The attributes behind the form are a selector cached per audit: a second view of the
    page reads no dataset; a new lexicon (other identity groups) is read afresh."""
    cache.clear()
    reads = []
    read_parquet = pd.read_parquet
    monkeypatch.setattr(pd, "read_parquet", lambda *a, **k: reads.append(1) or read_parquet(*a, **k))
    url = reverse("audits:audit_detail", args=[audit.pk])
    for _ in range(2):
        assert '<option value="gender">' in client_in.get(url).content.decode()
    assert len(reads) == 1
    org.identity_terms = "gay,sexuality"
    org.save(update_fields=["identity_terms"])
    client_in.get(url)
    assert len(reads) == 2


def test_start_from_the_web_runs_and_links_the_new_model(client_in, audit, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # Celery runs eagerly in tests
        response = client_in.post(reverse("audits:mitigation_start", args=[audit.pk]), FORM)
    run = MitigationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("audits:mitigation_detail", args=[run.pk])
    assert run.status == "done", run.error
    assert run.options == {**run.options, "epochs": 2, "seed": 5, "adversary_weight": 1.0}
    page = client_in.get(response["Location"]).content.decode()
    child = run.result_model
    assert reverse("audits:model_detail", args=[child.pk]) in page
    assert f"{reverse('audits:audit_new')}?model={child.pk}&amp;dataset={audit.dataset_id}" in page
    assert 'id="mitigation-before-after"' in page and "<svg" in page
    assert f"{run.result['after']['accuracy']['value']:.3f}" in page
    # The model page names its parent and how it was made.
    model_page = client_in.get(reverse("audits:model_detail", args=[child.pk])).content.decode()
    assert reverse("audits:model_detail", args=[audit.model_id]) in model_page
    assert reverse("audits:mitigation_detail", args=[run.pk]) in model_page and "method=adversarial" in model_page
    # "Audit this model" preselects the new model and the dataset.
    form = client_in.get(f"{reverse('audits:audit_new')}?model={child.pk}&dataset={audit.dataset_id}").content.decode()
    assert f'<option value="{child.pk}" selected>' in form and f'<option value="{audit.dataset_id}" selected>' in form


def test_start_with_bad_settings_shows_the_error(client_in, audit):
    response = client_in.post(reverse("audits:mitigation_start", args=[audit.pk]), {**FORM, "attribute": "age"})
    assert response.status_code == 200 and "age" in response.content.decode()
    response = client_in.post(reverse("audits:mitigation_start", args=[audit.pk]), {**FORM, "epochs": "0"})
    assert response.status_code == 200 and 'id="mitigation-form"' in response.content.decode()
    assert not MitigationRun.objects.exists()


def test_done_page_escapes_user_text(client_in, run):
    MitigationRun.objects.filter(pk=run.pk).update(status="done", result=SECTION)
    page = client_in.get(reverse("audits:mitigation_detail", args=[run.pk])).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>f</b>" not in page and "<i>most</i>" not in page and "It cut the gap &lt;i&gt;most&lt;/i&gt;." in page
    assert "3.0 percentage points lost" in page and "-0.020" in page and "[-0.120, 0.080]" in page


def test_progress_and_cancel(client_in, run):
    progress = client_in.get(reverse("audits:mitigation_progress", args=[run.pk])).json()
    assert progress["status"] == "queued" and progress["cancel_requested"] is False
    assert client_in.get(reverse("audits:mitigation_cancel", args=[run.pk])).status_code == 405
    response = client_in.post(reverse("audits:mitigation_cancel", args=[run.pk]))
    assert response.status_code == 302
    assert client_in.get(reverse("audits:mitigation_progress", args=[run.pk])).json()["status"] == "cancelled"


def test_cancel_needs_the_csrf_token(user, run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(reverse("audits:mitigation_cancel", args=[run.pk])).status_code == 403
    assert MitigationRun.objects.get(pk=run.pk).status == "queued"


def test_not_your_organisations_data_is_404_everywhere(client, other_user, audit, run):
    client.force_login(other_user)
    for method, url in _endpoints(audit, run):
        assert getattr(client, method)(url, FORM).status_code == 404, url
    assert MitigationRun.objects.get(pk=run.pk).status == "queued" and MitigationRun.objects.count() == 1


def test_anonymous_is_sent_to_login(client, audit, run):
    for method, url in _endpoints(audit, run):
        response = getattr(client, method)(url, FORM)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_compliance_officer_reads_but_cannot_start_or_cancel(client, org, audit, run):
    client.force_login(make_user("olga", org, role="compliance"))
    start, detail, progress, cancel = _endpoints(audit, run)
    assert client.post(start[1], FORM).status_code == 404
    assert client.post(cancel[1]).status_code == 404
    assert client.get(detail[1]).status_code == 200 and client.get(progress[1]).status_code == 200
    assert 'id="cancel-form"' not in client.get(detail[1]).content.decode()
    assert 'id="mitigation-form"' not in client.get(reverse("audits:audit_detail", args=[audit.pk])).content.decode()
    assert MitigationRun.objects.count() == 1 and MitigationRun.objects.get().status == "queued"


def test_regulator_sees_no_run(client, org, audit, run):
    client.force_login(make_user("rita", org, role="regulator"))
    for method, url in _endpoints(audit, run):
        assert getattr(client, method)(url, FORM).status_code == 404, url


def test_unfinished_audit_cannot_be_debiased(client_in, org, user, model, audit):
    queued = people_audit(org, user, model, audit.dataset)
    response = client_in.post(reverse("audits:mitigation_start", args=[queued.pk]), FORM)
    assert response.status_code == 302 and not MitigationRun.objects.exists()
    assert ModelArtifact.objects.count() == 1


def test_the_section_fits_the_pdf_pages_and_its_text_is_literal():
    import io

    from pypdf import PdfReader

    from audits.checks.group_fairness import POLICY_METRICS
    from audits.reports.pdf import render_layout
    from tests.audits.reports.test_report_checks import report_document
    from tests.audits.reports.test_report_pdf import overflowing

    # The sweep as wide as compute writes it: accuracy, every policy metric, the gap.
    sweep = [{"adversary_weight": w, "accuracy": 0.8 - w / 50, **dict.fromkeys(POLICY_METRICS, -0.123456),
              "fairness_gap": 0.3 / (1 + w)} for w in (0.0, 0.1, 0.3, 1.0, 3.0)]
    document = {**report_document([]), "mitigation": {**SECTION, "sweep": sweep}}
    layout = render_layout(document)
    assert overflowing(layout) == []
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(layout.write_pdf())).pages)
    assert "<script>alert(1)</script>" in text and "Recommendation" in text and "0.770" in text


def test_the_form_offers_the_organisations_other_datasets_to_train_on(client_in, org, user, audit, other_org,
                                                                       other_user):
    mine = people_dataset(org, user, rows=90, seed=8)
    theirs = people_dataset(other_org, other_user, rows=90, seed=9)
    page = client_in.get(reverse("audits:audit_detail", args=[audit.pk])).content.decode()
    assert 'name="train_dataset"' in page and f'<option value="{mine.pk}">' in page
    assert f'<option value="{theirs.pk}">' not in page and f'<option value="{audit.dataset_id}">' not in page
    # Not your organisation's data: refused by the form, no run.
    response = client_in.post(reverse("audits:mitigation_start", args=[audit.pk]),
                              {**FORM, "train_dataset": str(theirs.pk)})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not MitigationRun.objects.exists()


def test_start_with_a_training_dataset_records_it(client_in, org, user, audit):
    mine = people_dataset(org, user, rows=90, seed=8)
    response = client_in.post(reverse("audits:mitigation_start", args=[audit.pk]),
                              {**FORM, "train_dataset": str(mine.pk)})
    run = MitigationRun.objects.get()
    assert response.status_code == 302 and run.options["train_dataset"] == mine.pk
