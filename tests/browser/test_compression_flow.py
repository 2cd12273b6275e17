"""Start a compression audit from a model page, watch it finish, open the comparison."""
from __future__ import annotations

import re

import pytest

from audits.models import Audit, ModelArtifact, Organisation
from audits.services.model_uploads import model_register_folder
from tests.browser.steps import log_in
from tests.factories import make_user, people_dataset

pytestmark = pytest.mark.browser


def test_compression_audit_from_the_model_page(page, celery_worker_thread, tiny_model_dir):
    org = Organisation.objects.create(name="Browser Org")
    user = make_user("cora", org)
    model = model_register_folder(organisation=org, user=user, name="Tiny BERT", folder=tiny_model_dir)
    people_dataset(org, user, rows=120)
    log_in(page, user)

    page.goto(f"/models/{model.pk}/")
    page.click("#compress-link")
    page.wait_for_selector("text=Start an audit")
    # The link fills in the recipes; distil needs a training dataset, so this run keeps two.
    assert page.input_value("input[name=compress]") == "int8,prune:0.5,distil:3"
    page.fill("input[name=compress]", "int8,prune:0.5")
    page.select_option("select[name=dataset]", label="people")
    page.click("button:has-text('Start audit')")
    page.wait_for_url(re.compile(r".*/audits/\d+/$"))
    page.wait_for_selector("#done", state="visible", timeout=400_000)
    audit = Audit.objects.get(organisation=org)
    assert audit.status == "done", audit.error

    page.click("#compression-link")
    page.wait_for_selector("#compression-summary")
    assert page.locator("#compression-summary tbody tr").count() == 3  # parent, int8, pruned
    assert page.locator(".compression-variant").count() == 2
    variant = ModelArtifact.objects.get(parent=model, provenance__compression="prune:0.5")
    page.click(f"a[href='/models/{variant.pk}/']")
    page.wait_for_selector("#parent-model")
    assert page.locator("#parent-model").inner_text() == "Tiny BERT"
