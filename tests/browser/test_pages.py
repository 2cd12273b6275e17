"""The pages the other browser tests do not walk: the explanations of a report, the
comparison of two audits, the identity-term lexicon, the API token and the signing key."""
from __future__ import annotations

import pytest

from audits.models import Organisation
from audits.services.audits import audit_run
from audits.services.model_uploads import model_register_folder
from tests.browser.steps import log_in
from tests.factories import make_user, people_audit, people_dataset

pytestmark = pytest.mark.browser
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def cheap_explanations(settings):
    settings.EXPLAIN_LIME_SAMPLES = 100
    settings.EXPLAIN_SHAP_EVALS = 60
    settings.EXPLAIN_IG_STEPS = 8


def test_explanations_compare_lexicon_token_and_key_pages(page, transactional_db, tiny_model_dir,
                                                          cheap_explanations):
    org = Organisation.objects.create(name="Pages Org")
    user = make_user("pia", org)
    model = model_register_folder(organisation=org, user=user, name="Tiny BERT", folder=tiny_model_dir)
    dataset = people_dataset(org, user, rows=60, suffix=" " + SCRIPT)
    first = audit_run(audit_id=people_audit(org, user, model, dataset, explain=2).pk, inline=True)
    second = audit_run(audit_id=people_audit(org, user, model, dataset, seed=1).pk, inline=True)
    assert first.status == second.status == "done", (first.error, second.error)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    log_in(page, user)

    # Explanations: four methods side by side per example, attention heatmap, faithfulness.
    page.goto(f"/audits/{first.pk}/report/")
    page.click("a[href='#explanations']")
    section = page.locator("#explanations")
    assert section.locator(".xai-highlight").count() == 2 * 4
    assert section.locator("svg.xai-heatmap").count() >= 2
    assert "Comprehensiveness" in section.inner_text()
    # Shown as text, token by token (so compare without the spaces between tokens), never run.
    assert SCRIPT in "".join(section.inner_text().split())
    assert page.locator("#explanations script").count() == 0

    # Comparison: pick the two audits, every metric with both intervals and the change.
    page.click("nav >> text=Compare")
    page.select_option("#cmp-a", str(first.pk))
    page.select_option("#cmp-b", str(second.pk))
    page.click("button:has-text('Compare')")
    page.wait_for_selector("#compare-summary")
    assert page.locator(".compare-section tbody tr").count() > 0
    # What changed comes first; a section that neither changed nor fails opens on a click.
    assert "What changed" in page.locator("#compare-summary").inner_text()
    page.locator(".compare-section > summary").first.click()
    assert f"Audit {second.pk}" in page.locator(".compare-section thead").first.inner_text()

    # Identity terms: the organisation's lexicon is edited and saved.
    page.click("nav >> text=Identity terms")
    box = page.locator("textarea[name=identity_terms]")
    box.fill(box.input_value() + "\nzorblax,test")
    page.click("button[type=submit]:has-text('Save')")
    page.wait_for_selector("text=Identity terms saved.")
    assert "zorblax,test" in page.locator("textarea[name=identity_terms]").input_value()
    org.refresh_from_db()
    assert "zorblax,test" in org.identity_terms

    # API token: created once, shown once.
    page.click("nav >> text=API token")
    page.click("button:has-text('Create token')")
    key = page.locator("#api-token").inner_text()
    from rest_framework.authtoken.models import Token

    assert Token.objects.get(user=user).key == key
    page.goto("/account/token/")
    assert page.locator("#api-token").count() == 0

    # The public signing key, as published for verifiers.
    page.goto("/signing-key/")
    assert len(page.locator("#key-id").inner_text()) == 64
    assert "BEGIN PUBLIC KEY" in page.locator("#public-key").inner_text()
    assert dialogs == []
