"""Log in, upload a model and a dataset, audit, watch it finish, read and download the report."""
from __future__ import annotations

import pytest
from pypdf import PdfReader

from audits.models import Audit, Organisation
from tests.browser.steps import log_in, start_audit, upload_and_map_comments, upload_model
from tests.factories import editors_csv, make_user, zip_folder

pytestmark = pytest.mark.browser


def test_upload_audit_report_pdf(page, celery_worker_thread, tiny_model_dir, tmp_path):
    org = Organisation.objects.create(name="Browser Org")
    user = make_user("bella", org)
    model_zip = tmp_path / "tiny-model.zip"
    model_zip.write_bytes(zip_folder(tiny_model_dir))
    csv = editors_csv(tmp_path / "comments.csv", seed=3, rows=160, tail="<b>text</b>")

    log_in(page, user)

    upload_model(page, model_zip, "Tiny BERT", shows="BertForSequenceClassification")
    upload_and_map_comments(page, csv)  # its preview shows the "<b>text</b>" tails escaped
    start_audit(page, "Tiny BERT", "Comments")
    audit = Audit.objects.get(organisation=org)
    assert audit.status == "done", audit.error

    page.click("#report-link")
    page.wait_for_selector("text=Disparate impact")
    [fairness] = [c for c in audit.report["checks"] if c["id"] == "group_fairness"]
    di = fairness["metrics"]["disparate_impact"]["value"]
    assert f"{di:.3f}" in page.content()
    # Every check ran and has its section, reached from the contents.
    check_ids = {c["id"] for c in audit.report["checks"]}
    assert check_ids == {"sampling_bias", "proxy_leakage", "labelling_bias", "group_fairness",
                         "counterfactual", "subgroup_auc", "automation_bias"}
    for check_id in sorted(check_ids):
        page.click(f"a.ar-toc-link[href='#check-{check_id}']")
        assert page.locator(f"#check-{check_id}").is_visible()
        assert page.locator(f"#check-{check_id} .ar-check-head").count() >= 1

    with page.expect_download() as info:
        page.click("#download-pdf")
    pdf = tmp_path / "report.pdf"
    info.value.save_as(pdf)
    text = "\n".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert f"{di:.3f}" in text
