"""Issue 14's walk, at a desktop (1366 px) and a phone (390 px) width: a data scientist
uploads a model and a semicolon-separated Windows-1252 CSV and audits; a compliance
officer requests changes; the data scientist, told by a notice, re-runs with changes;
the officer approves the re-run, which is signed in the background while the page stays
usable and then updates itself; the regulator downloads the signed PDF (with the
approver's comment) and verifies it.

Every page on the way is checked for horizontal overflow where it is visited, and the
signing state (a page that later changes) for overflow and contrast too, with the
helpers of tests/browser/layout.py; the conftest checks each visited page's overflow and
axe-core contrast again at both widths when each context closes.
"""
from __future__ import annotations

import io
import time

import pandas as pd
import pytest
from pypdf import PdfReader

from audits.models import Audit, Dataset, Membership, Organisation
from audits.services import signoffs
from tests.browser.layout import layout_problems, overflow
from tests.browser.steps import log_in, upload_and_map_comments
from tests.factories import editors_csv, make_user, zip_folder

pytestmark = pytest.mark.browser
HEIGHT = 900
SIGNING_DELAY = 8  # seconds
COMMENT = "Fine now: four-fifths rule met on the re-run; <accepted> for release."


def _open(browser, live_server, user, width: int):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True,
                                  viewport={"width": width, "height": HEIGHT})
    page = context.new_page()
    page.set_default_timeout(60_000)
    log_in(page, user)
    return context, page


def _fits(page) -> None:
    """Nothing on the page as it is now is wider than the window."""
    assert overflow(page) is None, f"{page.url}: {overflow(page)}"


def _semicolon_cp1252(tmp_path):
    frame = pd.read_csv(editors_csv(tmp_path / "comments.csv", seed=5, rows=120))
    frame["text"] = frame["text"].str.replace("editor", "éditeur", regex=False)
    path = tmp_path / "commentaires.csv"
    frame.to_csv(path, sep=";", index=False, encoding="cp1252")
    return path


def _start_audit(page, button: str, seed: str | None = None) -> None:
    for box in page.locator("input[name=checks]").all():
        if box.get_attribute("value") != "group_fairness":
            box.uncheck()
    if seed is not None:
        page.fill("input[name=seed]", seed)
    # One explained row keeps the explanations (legend, token values) on the checked
    # report page at a fraction of the default's time.
    page.fill("input[name=explain]", "1")
    _fits(page)
    page.click(f"button:has-text('{button}')")
    page.wait_for_selector("#done", state="visible", timeout=400_000)
    _fits(page)


@pytest.mark.parametrize("width", [1366, 390])
def test_three_roles_through_review_rerun_approval_and_verification(
        browser, live_server, celery_worker_thread, tiny_model_dir, tmp_path, width, monkeypatch):
    org = Organisation.objects.create(name="Walk Org")
    scientist = make_user("dana", org)
    officer = make_user("colin", org, Membership.Role.COMPLIANCE)
    regulator = make_user("regina", Organisation.objects.create(name="Data Authority"), Membership.Role.REGULATOR)
    model_zip = tmp_path / "tiny-model.zip"
    model_zip.write_bytes(zip_folder(tiny_model_dir))

    # The data scientist: upload (with a progress bar), a semicolon CSV read right, an audit.
    ds_context, ds = _open(browser, live_server, scientist, width)
    _fits(ds)
    ds.goto("/models/upload/")
    ds.fill("input[name=name]", "Tiny BERT")
    ds.set_input_files("input[name=files]", str(model_zip))
    _fits(ds)
    ds.click("button:has-text('Upload and validate')")
    ds.wait_for_selector("text=BertForSequenceClassification")
    assert "/models/" in ds.url and "/upload/" not in ds.url  # the address followed the upload's redirect
    _fits(ds)
    ds.goto("/")
    upload_and_map_comments(ds, _semicolon_cp1252(tmp_path))
    assert Dataset.objects.get(organisation=org).reading == {"encoding": "cp1252", "delimiter": ";"}
    ds.select_option("select[name=model]", label="Tiny BERT")
    ds.select_option("select[name=dataset]", label="Comments")
    _start_audit(ds, "Start audit")
    first = Audit.objects.get(organisation=org)
    assert first.status == "done", first.error

    # The compliance officer requests changes.
    co_context, co = _open(browser, live_server, officer, width)
    co.goto("/reviews/")
    _fits(co)
    co.click(f"#review-queue >> text=Audit {first.pk}")
    co.check("#review-form input[value=changes_requested]")
    co.fill("#review-comment", "Use seed 4 and say why the male group is privileged.")
    co.click("#review-submit")
    co.wait_for_selector("#review-decision")
    assert co.locator("#review-status").text_content().strip() == "Changes requested"
    _fits(co)

    # The data scientist sees the notice and the state, and re-runs with changes.
    ds.goto("/")
    assert ds.locator("#notice-count").count() == 1
    assert "Changes requested" in ds.locator("#audit-list").inner_text()
    _fits(ds)
    ds.goto("/notices/")
    assert "seed 4" in ds.locator("#notices").inner_text()
    ds.click(f"#notices >> text=Open audit {first.pk}")
    ds.click("#rerun-link")
    assert ds.locator("select[name=model] option[selected]").text_content() == "Tiny BERT"
    _start_audit(ds, "Start the re-run", seed="4")
    rerun = Audit.objects.exclude(pk=first.pk).get(organisation=org)
    assert rerun.previous_id == first.pk and rerun.status == "done", rerun.error
    assert ds.locator("#previous-audit").is_visible()

    # The officer finds the re-run back in the queue and approves it: the page answers at
    # once with the signing state, then updates itself when the worker has signed.
    co.goto("/reviews/")
    assert f"re-run of {first.pk}" in co.locator("#review-queue").inner_text()
    co.click(f"#review-queue >> text=Audit {rerun.pk}")
    co.check("#review-form input[value=approve]")
    co.fill("#review-comment", COMMENT)
    # Signing takes at least SIGNING_DELAY on the worker thread, so the page's answer is
    # seen before it ends: the request must not wait for it.
    real_freeze = signoffs.report_freeze
    monkeypatch.setattr(signoffs, "report_freeze",
                        lambda **kw: (time.sleep(SIGNING_DELAY), real_freeze(**kw))[1])
    started = time.monotonic()
    co.click("#review-submit")
    co.wait_for_selector("#signoff-state", timeout=SIGNING_DELAY * 1000)
    assert time.monotonic() - started < SIGNING_DELAY
    assert co.locator("#review-submit").is_disabled()
    problems = layout_problems(co, widths=(width,))
    assert not problems, "\n".join(problems)
    co.wait_for_selector("#share-form", timeout=300_000)  # no reload by the test: the page polls
    assert co.locator("#review-status").text_content().strip() == "Approved"
    _fits(co)
    co.fill("#share-regulator", regulator.username)
    co.click("#share-form button[type=submit]")
    co.wait_for_selector(f"text=shared with {regulator.username}")
    co_context.close()
    ds_context.close()

    # The regulator: `/` is their shared reports; the signed PDF carries the comment and verifies.
    reg_context, reg = _open(browser, live_server, regulator, width)
    reg.goto("/")
    assert reg.url.endswith("/regulator/")
    _fits(reg)
    reg.click(f"#shared-reports >> text=Audit {rerun.pk}")
    _fits(reg)
    with reg.expect_download() as info:
        reg.click("#download-pdf")
    pdf = tmp_path / "signed.pdf"
    info.value.save_as(pdf)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages).replace("\n", " ")
    assert "<accepted> for release" in text and "Reviewed and accepted with these findings" in text
    reg.goto("/verify/")
    reg.set_input_files("input[name=file]", str(pdf))
    reg.click("button:has-text('Verify')")
    assert reg.locator("#verify-result h2").text_content().strip() == "Valid"
    _fits(reg)
    reg.goto("/no-such-page/")
    assert reg.locator("#not-found a", has_text="Reports shared with you").is_visible()
    reg_context.close()
