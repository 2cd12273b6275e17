"""A causal LM as a prompted classifier, in the browser: upload it with a template and
verbalizers, audit it with every check and explanations on the worker, open the report."""
from __future__ import annotations

import pytest

from audits.models import Audit, Organisation
from tests.browser.steps import log_in, start_audit, upload_and_map_comments, upload_model
from tests.factories import editors_csv, make_user, zip_folder

pytestmark = pytest.mark.browser
TEMPLATE = "Comment: {text}\nIs this comment toxic? Answer:"


def test_upload_prompted_model_audit_and_report(page, celery_worker_thread, tiny_causal_lm_dir, tmp_path, settings):
    settings.EXPLAIN_LIME_SAMPLES = 100
    settings.EXPLAIN_SHAP_EVALS = 60
    settings.EXPLAIN_IG_STEPS = 8
    org = Organisation.objects.create(name="Prompt Org")
    user = make_user("petra", org)
    model_zip = tmp_path / "tiny-llm.zip"
    model_zip.write_bytes(zip_folder(tiny_causal_lm_dir))
    csv = editors_csv(tmp_path / "comments.csv", seed=4, rows=80)

    log_in(page, user)

    # Refused first: the template has no {text} slot; one message, nothing stored.
    upload_model(page, model_zip, "Tiny LLM", shows="no {text} slot", fields={
        "textarea[name=prompt_template]": "Is this comment toxic? Answer:",
        "textarea[name=verbalizers]": "False=no,clean\nTrue=yes",
    })
    assert not org.models.exists()

    page.set_input_files("input[name=files]", str(model_zip))
    page.fill("textarea[name=prompt_template]", TEMPLATE)
    page.fill("textarea[name=verbalizers]", "False=no,clean\nTrue=yes")
    page.check("input[name=calibrate]")
    page.click("button:has-text('Upload and validate')")
    page.wait_for_selector("text=LlamaForCausalLM")
    assert "Is this comment toxic? Answer:" in page.locator("#prompt-template").inner_text()

    upload_and_map_comments(page, csv)
    start_audit(page, "Tiny LLM", "Comments", explain=2)
    audit = Audit.objects.get(organisation=org)
    assert audit.status == "done", audit.error
    assert audit.report["manifest"]["model_prompt"]["template"] == TEMPLATE

    page.click("#report-link")
    page.wait_for_selector("text=Disparate impact")
    assert "Is this comment toxic? Answer:" in page.locator(".ar-prompt").inner_text()
    check_ids = {c["id"] for c in audit.report["checks"]}
    assert {"group_fairness", "counterfactual", "automation_bias"} <= check_ids
    for check_id in sorted(check_ids):
        assert page.locator(f"#check-{check_id} .ar-check-head").count() >= 1
    page.click("a[href='#explanations']")
    section = page.locator("#explanations")
    assert section.locator(".xai-highlight").count() == 2 * 4
    assert "Comprehensiveness" in section.inner_text()
