"""Defaults a new user meets: the mapping's guesses (the label is a column with few values,
never the text, and never offered as protected), the mapped dataset chosen on "Start an
audit", ten explained rows, checks by their names, and a finished audit's status said once."""
from __future__ import annotations

import re

import pandas as pd
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits.models import Dataset
from audits.services.audits import audit_run
from audits.services.columns import column_guesses
from audits.web.forms import EXPLAIN_DEFAULT
from tests.factories import people_audit, people_dataset


def _selected(page: str, name: str) -> str | None:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S)
    found = re.search(r'<option value="([^"]*)" selected>', select.group(1)) if select else None
    return found.group(1) if found else None


def test_guesses_take_the_longest_texts_and_a_column_of_few_values():
    frame = pd.DataFrame({
        "id": range(40),
        "comment": [f"a fairly long comment number {i} about something" for i in range(40)],
        "gender": ["f", "m"] * 20,
        "toxic": [True, False, False, False] * 10,
    })
    assert column_guesses(frame=frame) == {"text_column": "comment", "label_column": "toxic"}
    # A conventional name wins; without one, a true/false column, then the fewest values.
    named = frame.rename(columns={"toxic": "flagged"}).assign(label=["x", "y"] * 20)
    assert column_guesses(frame=named)["label_column"] == "label"
    plain = frame.rename(columns={"toxic": "flagged"})
    assert column_guesses(frame=plain)["label_column"] == "flagged"
    no_flags = plain.assign(flagged=plain["flagged"].map({True: "yes", False: "no"}), gender=["f", "m", "x"] * 13 + ["f"])
    assert column_guesses(frame=no_flags)["label_column"] == "flagged"


def test_the_label_is_never_the_text_column_even_when_the_text_has_few_values():
    frame = pd.DataFrame({"text": ["one long sentence here", "another long sentence"] * 10,
                          "stars": [1, 2, 3, 4, 5] * 4})
    guesses = column_guesses(frame=frame)
    assert guesses == {"text_column": "text", "label_column": "stars"}
    # Nothing with few values besides the text: no label guessed rather than a wrong one.
    ids = pd.DataFrame({"text": [f"text number {i}" for i in range(30)], "id": range(30)})
    assert column_guesses(frame=ids) == {"text_column": "text"}


def test_mapping_page_preselects_the_guesses_and_hides_the_label_from_protected(client_in):
    rows = "\n".join(f"a long comment about editors number {i},{i % 2 == 0},{'m' if i % 3 else 'f'}"
                     for i in range(60))
    response = client_in.post(reverse("audits:dataset_upload"), {
        "name": "d", "file": SimpleUploadedFile("d.csv", ("comment,toxic,sex\n" + rows).encode())})
    page = client_in.get(response["Location"]).content.decode()
    assert _selected(page, "text_column") == "comment" and _selected(page, "label_column") == "toxic"
    assert 'name="protected__sex"' in page and 'name="protected__toxic"' not in page

    # Saved, the mapping leads to "Start an audit" with this dataset chosen.
    dataset = Dataset.objects.get()
    saved = client_in.post(response["Location"], {"text_column": "comment", "label_column": "toxic",
                                                  "favorable_label": "False", "protected__sex": "on",
                                                  "privileged__sex": "m"})
    assert saved["Location"] == reverse("audits:audit_new") + f"?dataset={dataset.pk}"
    start = client_in.get(saved["Location"]).content.decode()
    assert _selected(start, "dataset") == str(dataset.pk)


def test_start_an_audit_explains_ten_rows_and_names_the_checks(client_in):
    page = client_in.get(reverse("audits:audit_new")).content.decode()
    assert EXPLAIN_DEFAULT == 10 and f'name="explain" value="{EXPLAIN_DEFAULT}"' in page
    assert "Subgroup AUC" in page and "Automation bias and calibration" in page
    assert ">subgroup_auc<" not in page and "subgroup_auc</label>" not in page


def test_a_finished_audit_says_done_once_and_names_its_checks(client_in, org, user, model):
    audit = audit_run(audit_id=people_audit(org, user, model, people_dataset(org, user)).pk)
    assert audit.status == "done" and audit.stage == "done"
    page = client_in.get(reverse("audits:audit_detail", args=[audit.pk])).content.decode()
    status = re.search(r'id="status">([^<]*)</span>\s*<span id="stage">([^<]*)</span>', page)
    assert status.groups() == ("Done", "")
    assert "<dd>Group fairness</dd>" in page
