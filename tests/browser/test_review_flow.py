"""Three people, three browsers: a data scientist audits a model, a compliance officer
approves it with a comment and shares it, a regulator downloads the signed PDF and
verifies it; a copy with one byte changed fails verification."""
from __future__ import annotations

import pytest

from audits.models import Audit, AuditEvent, Membership, Organisation
from tests.browser.steps import upload_and_map_comments, upload_model
from tests.factories import editors_csv, make_user, password_of, zip_folder

pytestmark = pytest.mark.browser


def _login(browser, live_server, user):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", password_of(user))
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def _verify(page, path) -> str:
    page.goto("/verify/")
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('Verify')")
    return page.locator("#verify-result h2").text_content().strip()


def test_audit_approve_share_download_verify(browser, live_server, celery_worker_thread, tiny_model_dir, tmp_path):
    org = Organisation.objects.create(name="Review Org")
    scientist = make_user("dana", org)
    officer = make_user("colin", org, Membership.Role.COMPLIANCE)
    regulator = make_user("regina", Organisation.objects.create(name="Data Authority"), Membership.Role.REGULATOR)
    model_zip = tmp_path / "tiny-model.zip"
    model_zip.write_bytes(zip_folder(tiny_model_dir))
    csv = editors_csv(tmp_path / "comments.csv", seed=5, rows=120)

    # The data scientist: upload, map, start an audit and watch it finish.
    ds_context, ds = _login(browser, live_server, scientist)
    assert ds.locator("nav >> text=Review queue").count() == 0
    upload_model(ds, model_zip, "Tiny BERT", shows="BertForSequenceClassification")
    upload_and_map_comments(ds, csv)
    ds.select_option("select[name=model]", label="Tiny BERT")
    ds.select_option("select[name=dataset]", label="Comments")
    for box in ds.locator("input[name=checks]").all():
        if box.get_attribute("value") != "group_fairness":
            box.uncheck()
    ds.click("button:has-text('Start audit')")
    ds.wait_for_selector("#done", state="visible", timeout=400_000)
    audit = Audit.objects.get(organisation=org)
    assert audit.status == "done", audit.error
    ds_context.close()

    # The compliance officer: the queue, approve with a comment, share.
    co_context, co = _login(browser, live_server, officer)
    assert co.locator("nav >> text=Upload model").count() == 0
    co.click("nav >> text=Review queue")
    co.click(f"#review-queue >> text=Audit {audit.pk}")
    co.check("#review-form input[value=approve]")
    co.fill("#review-comment", "Four-fifths rule met; <approved> for release.")
    co.click("#review-form button[type=submit]")
    co.wait_for_selector("#share-form")
    assert co.locator("#review-status").text_content().strip() == "Approved"
    assert "<approved> for release" in co.locator("#trail").inner_text()
    co.fill("#share-regulator", regulator.username)
    co.click("#share-form button[type=submit]")
    co.wait_for_selector(f"text=shared with {regulator.username}")
    co_context.close()

    # The regulator: the portal, the signed PDF, the verify page.
    reg_context, reg = _login(browser, live_server, regulator)
    assert reg.url.endswith("/regulator/")
    assert reg.locator("nav >> text=Upload model").count() == 0
    reg.click(f"#shared-reports >> text=Audit {audit.pk}")
    with reg.expect_download() as info:
        reg.click("#download-pdf")
    pdf = tmp_path / "signed.pdf"
    info.value.save_as(pdf)
    assert AuditEvent.objects.filter(verb="report.download", actor=regulator, audit=audit).exists()
    assert _verify(reg, pdf) == "Valid"

    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    assert _verify(reg, tampered) == "Invalid"
    reg_context.close()
