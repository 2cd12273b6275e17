"""Pages at a desktop (1366 px) and a phone (390 px) width: nothing wider than the window,
every text and badge at WCAG AA contrast (axe-core), tables scrolling inside their box,
the report's summary above the fold, and explanation scores readable without a mouse.

The pages: home, an audit, its report (every check, explanations), the review queue,
the comparison of two audits, a model, a dataset's mapping and the forms. Each is also
checked again when the context closes (conftest.CheckedContext); here they are checked
where they are visited, so a failure names the page at once.
"""
from __future__ import annotations

import pytest

from audits.models import Membership, Organisation
from audits.services.audits import audit_run
from audits.services.model_uploads import model_register_folder
from tests.browser.layout import assert_layout
from tests.browser.steps import log_in
from tests.factories import make_user, people_audit, people_dataset

pytestmark = pytest.mark.browser
ALL_CHECKS = ["sampling_bias", "labelling_bias", "group_fairness", "counterfactual", "subgroup_auc",
              "automation_bias"]
LONG = "a-model-name-long-enough-to-widen-a-drop-down-on-any-phone-" * 2


@pytest.fixture
def cheap_explanations(settings):
    settings.EXPLAIN_LIME_SAMPLES = 100
    settings.EXPLAIN_SHAP_EVALS = 60
    settings.EXPLAIN_IG_STEPS = 8


@pytest.fixture
def audited(transactional_db, tiny_model_dir, cheap_explanations):
    org = Organisation.objects.create(name="Layout Org")
    scientist = make_user("lena", org)
    officer = make_user("omar", org, Membership.Role.COMPLIANCE)
    model = model_register_folder(organisation=org, user=scientist, name=LONG, folder=tiny_model_dir)
    dataset = people_dataset(org, scientist, rows=160)
    first = audit_run(audit_id=people_audit(org, scientist, model, dataset, checks=ALL_CHECKS, identity_terms=True,
                                            explain=3).pk, inline=True)
    second = audit_run(audit_id=people_audit(org, scientist, model, dataset, seed=1).pk, inline=True)
    assert first.status == second.status == "done", (first.error, second.error)
    return {"scientist": scientist, "officer": officer, "model": model, "dataset": dataset, "first": first,
            "second": second}


def _at_phone_width(page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})


def test_pages_fit_a_phone_and_a_desktop_with_readable_contrast(page, audited):
    first, second = audited["first"], audited["second"]
    log_in(page, audited["scientist"])
    for path in ("/", f"/audits/{first.pk}/", f"/models/{audited['model'].pk}/",
                 f"/datasets/{audited['dataset'].pk}/map/", "/audits/new/", "/models/upload/", "/datasets/upload/",
                 f"/audits/compare/?a={first.pk}&b={second.pk}", "/audits/compare/"):
        page.goto(path)
        assert_layout(page)

    page.goto(f"/audits/{first.pk}/report/")
    assert_layout(page)
    # Failing details are open, and every open one is read at 390 px with its tables
    # scrolling inside their own box rather than widening the page.
    _at_phone_width(page)
    boxes = page.locator(".ar-scroll")
    assert boxes.count() > 5
    assert page.locator(".ar-table").count() == page.locator(".ar-scroll .ar-table").count()
    # Headings in the contents keep whole words on a line (not one letter per line).
    for link in page.locator(".ar-toc-link").all():
        assert link.bounding_box()["width"] > 80, link.inner_text()


def test_review_queue_and_report_summary_for_the_officer(page, audited):
    first = audited["first"]
    log_in(page, audited["officer"])
    page.goto("/reviews/")
    assert_layout(page)
    page.goto(f"/audits/{first.pk}/report/")
    summary = page.locator("#summary")
    # The summary is the first thing under the title: it starts within the first screen.
    page.set_viewport_size({"width": 1366, "height": 900})
    assert summary.bounding_box()["y"] < 900


def test_explanation_scores_are_readable_without_a_mouse(page, audited):
    log_in(page, audited["scientist"])
    page.goto(f"/audits/{audited['first'].pk}/report/")
    first = page.locator(".ar-explanation").first
    # Each method's largest word scores are written out, and every word's score is in a
    # table a keyboard or a screen reader reaches.
    assert first.locator(".xai-top-scores").count() >= 1
    first.locator("summary:has-text('Every word')").first.click()
    table = first.locator("table.xai-scores").first
    assert table.is_visible()
    assert table.locator("tbody tr").count() >= 2
    assert any(ch.isdigit() for ch in table.locator("tbody td").first.inner_text())
