"""A masked language model probed for stereotypes in the browser: upload it and a pairs
file, map the pairs, run stereotype_pairs on the worker, open the report's section."""
from __future__ import annotations

import pytest

from audits.models import Audit, Organisation
from tests.browser.steps import log_in, start_audit, upload_dataset, upload_model
from tests.factories import make_user, zip_folder
from tests.lm_factories import PAIRS_CSV, make_masked_lm

pytestmark = pytest.mark.browser


def test_upload_masked_lm_and_pairs_run_the_probe_and_open_the_section(page, celery_worker_thread, tmp_path):
    org = Organisation.objects.create(name="Probe Org")
    user = make_user("sofia", org)
    model_zip = tmp_path / "tiny-mlm.zip"
    model_zip.write_bytes(zip_folder(make_masked_lm(tmp_path / "mlm")))

    log_in(page, user)
    upload_model(page, model_zip, "Tiny MLM", shows="BertForMaskedLM")
    upload_dataset(page, PAIRS_CSV, "Pairs")
    # The CrowS-Pairs column names are recognised: the pairs section is open with them chosen.
    assert page.locator("#pairs-mapping").get_attribute("open") is not None
    page.select_option("select[name=pairs-bias_type_column]", "bias_type")
    page.select_option("select[name=pairs-direction_column]", "direction")
    page.click("#save-pairs")
    page.wait_for_selector("text=Start an audit")
    assert page.locator("input[name=checks][value=stereotype_pairs]").is_checked()
    assert not page.locator("input[name=checks][value=group_fairness]").is_checked()
    start_audit(page, "Tiny MLM", "Pairs", explain=0, timeout=300_000)
    audit = Audit.objects.get(organisation=org)
    assert audit.status == "done", audit.error

    page.click("#report-link")
    section = page.locator("#check-stereotype_pairs")
    section.wait_for()
    assert "Stereotype preference (sentence pairs)" in section.inner_text()
    block = section.locator("details.ar-check").first
    if block.get_attribute("open") is None:
        block.locator("summary").click()
    assert "Stereotype score" in block.inner_text()
    assert block.locator("figure.ar-chart svg").count() == 1
    marks = block.locator("table.ar-pairs mark.ar-diff")
    assert marks.count() >= 2 and marks.first.is_visible()
    assert section.locator("details.ar-check").count() == 5  # all pairs, then the four bias types
