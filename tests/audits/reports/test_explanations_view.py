"""The explanations as the report shows them: rows numbered as integers, one colour scale per
method across rows, and each row's scores written out for a reader without a mouse."""
from __future__ import annotations

import re

from audits.reports.explanations_view import explanations_view, row_label


def _explanations() -> dict:
    words = ["you", "are", "gay"]
    return {
        "methods": ["lime", "shap"], "favourable_label": "False",
        "examples": [
            {"row": 22.0, "reason": "misclassified", "words": words, "predicted": 0.2, "label": "True",
             "methods": {"lime": {"word_scores": [0.1, -0.05, 0.4]}, "shap": {"word_scores": [0.0, 0.02, 0.01]}}},
            {"row": 7, "reason": "random", "words": words, "predicted": 0.6, "label": "False",
             "methods": {"lime": {"word_scores": [0.0, 0.0, 0.0]}, "shap": {"word_scores": [0.01, 0.0, -0.02]}}},
        ],
    }


def _alphas(html: str) -> list[float]:
    return [float(a) for a in re.findall(r"rgba\(\d+, \d+, \d+, ([\d.]+)\)", str(html))]


def test_rows_are_labelled_as_integers():
    assert row_label(22.0) == "22" and row_label(22) == "22" and row_label(None) == "—"
    view = explanations_view(_explanations())
    assert [e["row"] for e in view["examples"]] == ["22", "7"]
    assert [e["number"] for e in view["examples"]] == [1, 2]


def test_one_colour_scale_per_method_across_rows():
    view = explanations_view(_explanations())
    assert view["scales"] == [{"method": "LIME", "scale": "0.4"}, {"method": "SHAP", "scale": "0.02"}]
    first, second = view["examples"]
    lime_first, lime_second = first["highlights"][0]["html"], second["highlights"][0]["html"]
    # The largest LIME score of all rows gets full colour; a row of zeros gets none (it
    # used to be stretched to full colour by its own, zero, maximum).
    assert max(_alphas(lime_first)) == 0.6 and _alphas(lime_second) == [0.0, 0.0, 0.0]
    # SHAP's scale is SHAP's own: its 0.02 is full colour in the second row.
    assert max(_alphas(second["highlights"][1]["html"])) == 0.6


def test_scores_are_written_out_and_tabled():
    first = explanations_view(_explanations())["examples"][0]
    assert first["highlights"][0]["top"] == "gay +0.400, you +0.100, are -0.050"
    table = first["scores"]
    assert table["methods"] == ["LIME", "SHAP"]
    assert table["rows"][2] == {"word": "gay", "scores": ["+0.4000", "+0.0100"]}


def test_the_pdf_leaves_explained_rows_to_its_appendix_and_the_page_shows_three():
    from audits.reports import render_html
    from tests.audits.reports.test_report_checks import report_document

    explanations = _explanations()
    explanations["examples"] = [{**explanations["examples"][0], "row": i} for i in range(5)]
    document = {**report_document([]), "explanations": explanations}
    pdf = render_html(document, pdf=True)
    appendix = pdf.index('id="appendix"')
    assert 'class="ar-explanation"' not in pdf[:appendix]
    assert pdf[appendix:].count('class="ar-explanation"') == 5
    page = render_html(document)
    hidden = page.index('id="explanations-more"')
    assert page[:hidden].count('class="ar-explanation"') == 3 and "Show the other 2 explained rows" in page
