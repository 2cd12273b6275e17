"""Debias from an audit page, watch the run, open the new model and audit it."""
from __future__ import annotations

import re

import pytest

from audits.models import Audit, MitigationRun, Organisation
from audits.services.audits import audit_run
from audits.services.model_uploads import model_register_folder
from tests.browser.steps import log_in
from tests.factories import make_user, people_audit, people_dataset

pytestmark = pytest.mark.browser


def test_debias_then_audit_the_new_model(page, celery_worker_thread, tiny_model_dir):
    org = Organisation.objects.create(name="Browser Org")
    user = make_user("dora", org)
    model = model_register_folder(organisation=org, user=user, name="Tiny BERT", folder=tiny_model_dir)
    dataset = people_dataset(org, user, rows=160)
    audit = audit_run(audit_id=people_audit(org, user, model, dataset).pk)
    assert audit.status == "done", audit.error

    log_in(page, user)

    page.goto(f"/audits/{audit.pk}/")
    form = page.locator("#mitigation-form")
    form.locator("select[name=method]").select_option("adversarial")
    form.locator("select[name=attribute]").select_option("gender")
    form.locator("input[name=epochs]").fill("3")
    form.locator("button:has-text('Start debiasing')").click()

    page.wait_for_url(re.compile(r".*/mitigations/\d+/$"))
    # The progress box and its bar are there from the first paint, then the result.
    assert page.locator("#progress progress#bar").count() == 1
    assert page.locator("#status").inner_text() in {"Queued", "Running", "Done", "queued", "running", "done"}
    page.wait_for_selector("#result", timeout=300_000)
    run = MitigationRun.objects.get(audit=audit)
    assert run.status == "done", run.error
    assert page.locator("#status").inner_text() == "Done"
    assert page.locator("#mitigation-before-after tbody tr").count() >= 3
    assert page.locator("#mitigation svg").count() == 1
    assert f"{run.result['after']['accuracy']['value']:.3f}" in page.content()

    # The run is checked by audits of its held-out rows, which the worker runs next.
    page.wait_for_selector("#verification-verdict", timeout=300_000)
    assert "agree" in page.locator("#verification-verdict").inner_text()
    assert page.locator("#verification-table tbody tr").count() >= 2
    page.click("#result-model")
    page.wait_for_selector("#parent-model")
    assert page.locator("#parent-model").inner_text() == "Tiny BERT"
    assert "method=adversarial" in page.locator("#provenance").inner_text()
    page.go_back()

    page.click("#audit-new-model")
    page.wait_for_selector("text=Start an audit")
    assert page.locator("select[name=model]").input_value() == str(run.result_model_id)
    assert page.locator("select[name=dataset]").input_value() == str(dataset.pk)
    for box in page.locator("input[name=checks]").all():
        if box.get_attribute("value") != "group_fairness":
            box.uncheck()
    page.click("button:has-text('Start audit')")
    page.wait_for_selector("#done", state="visible", timeout=300_000)
    child_audit = Audit.objects.get(model=run.result_model, dataset=dataset)  # not the check audit
    assert child_audit.status == "done", child_audit.error
    page.click("#report-link")
    page.wait_for_selector("text=Disparate impact")
    assert run.result_model.name in page.content()
