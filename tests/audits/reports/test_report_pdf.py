"""The PDF of a report with every check and ten groups per attribute: time, A4 fit, text.

The results are the same real-check results as test_report_checks.py (cached there).
The PDF is laid out once per module; its boxes are inspected for anything running off
the page, and its text, read back with pypdf, must hold user text as literal text.
"""
from __future__ import annotations

import io
import re
import time

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY
from audits.reports.formatting import CHECK_QUESTIONS, CHECK_TITLES
from audits.reports.pdf import render_layout
from tests.audits.reports.test_report_checks import (
    CHECK_ORDER,
    EVIL_GROUP,
    EVIL_TEXT,
    all_check_results,
    report_document,
)

A4_PX = (793.7, 1122.5)  # 210 x 297 mm at 96 px per inch
SECONDS = 90  # generous for a loaded CI machine; a quiet one takes about 10


@pytest.fixture(scope="module")
def rendered():
    document = report_document(all_check_results())
    start = time.monotonic()
    layout = render_layout(document)
    pdf = layout.write_pdf()
    return document, layout, pdf, time.monotonic() - start


@pytest.fixture(scope="module")
def text(rendered):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(rendered[2])).pages)


def squeeze(value: str) -> str:
    # Text extraction breaks lines where the page did; compare without whitespace.
    return "".join(value.split())


def test_pdf_renders_in_reasonable_time(rendered):
    document, _, pdf, seconds = rendered
    assert pdf.startswith(b"%PDF")
    groups = {c["attribute"]: len(c["groups"]) for c in document["checks"] if c["id"] == "group_fairness"}
    assert groups["age band"] >= 10  # the size the brief asks the time for
    assert seconds < SECONDS, f"the PDF took {seconds:.0f} s"


def overflowing(layout) -> list[str]:
    """Every box that reaches past its page's right or bottom edge."""
    found = []
    for number, page in enumerate(layout.pages, start=1):
        box = page._page_box
        right, bottom = box.margin_width(), box.margin_height()
        for child in box.descendants():
            if not hasattr(child, "border_width") or child.element_tag in ("html", "body"):
                continue
            if (child.position_x + child.margin_width() > right + 1
                    or child.position_y + child.margin_height() > bottom + 1):
                css = child.element.get("class") if child.element is not None else None
                found.append(f"page {number}: <{child.element_tag} class={css}>")
    return found


def test_every_page_is_a4_and_nothing_runs_off_it(rendered):
    _, layout, _, _ = rendered
    for page in layout.pages:
        assert (page.width, page.height) == pytest.approx(A4_PX, abs=0.5)
    assert overflowing(layout) == []


def test_long_names_wide_tables_and_long_texts_wrap():
    rng = np.random.default_rng(1)
    n = 400
    long_group = "x" * 150  # no space to break at
    group = rng.choice(["a", "b", long_group, EVIL_GROUP], size=n)
    y = rng.random(n) < 0.5
    ctx = CheckContext(y_true=y, y_pred=rng.random(n) < 0.5, prob=rng.random(n), groups=pd.DataFrame({"g": group}),
                       privileged={"g": ["a"]}, policy=DEFAULT_POLICY, seed=0, resamples=50, min_group_rows=10)
    wide = {"id": "future_check", "attribute": "g" * 80, "status": "pass", "message": "w" * 400,
            "metrics": {}, "groups": {long_group: {f"figure_{i}": 0.123456 + i for i in range(15)}}}
    example = {"original": "o" * 2000, "variant": "v" * 2000, "term": "t" * 90, "swap": "s",
               "original_probability": 0.1, "variant_probability": 0.9}
    twins = {"id": "counterfactual", "attribute": "supplied pairs", "status": "pass", "message": "m",
             "metrics": {}, "groups": {}, "examples": [example]}
    layout = render_layout(report_document([*get_check("group_fairness")(ctx), wide, twins]))
    assert overflowing(layout) == []


def test_pdf_holds_every_section_and_chart(rendered, text):
    flat = squeeze(text)
    present = {check["id"] for check in rendered[0]["checks"]}
    for title in ("Sampling bias", "Labelling bias", "Group fairness", "Counterfactual fairness", "Subgroup AUC",
                  "Automation bias and calibration", "Contents", "Provenance and policy"):
        assert squeeze(title) in flat, title
    for chart in ("Observed and expected share by group", "Proxy leakage by group", "Rows per intersection",
                  "Favourable-label base rate by group", "Disparate impact by group", "Parity differences by group",
                  "Decision flip rate per swapped term", "Subgroup, BPSN and BNSP AUC by group",
                  "Reliability diagram by group", "Expected calibration error by group"):
        assert squeeze(chart) in flat, chart
    # Contents carry page numbers in the PDF, and the sections come in the report's order.
    # (Every check of a classifier's audit: the language-model probe has a report of its own.)
    assert present == set(CHECK_ORDER) - {"stereotype_pairs"}
    for title in (CHECK_TITLES[c] for c in present):
        assert re.search(re.escape(squeeze(title)) + r"·p\.\d+", flat), title
    starts = [flat.index(squeeze(CHECK_QUESTIONS[c])) for c in CHECK_ORDER if c in present]
    assert starts == sorted(starts)


def test_user_text_is_literal_text_in_the_pdf(text):
    flat = squeeze(text)
    assert squeeze(EVIL_GROUP) in flat
    assert squeeze(EVIL_TEXT) in flat
    # Escaping happened once: no entity leaked into what a reader sees.
    assert "&lt;" not in text and "&quot;" not in text and "&amp;" not in text


def test_dates_are_human_readable_in_the_pdf(text):
    assert "2025-03-04 05:06 UTC" in text


def test_pdf_leads_with_the_summary_and_keeps_tables_and_charts_for_the_appendix(rendered, text):
    document, _, pdf, _ = rendered
    pages = [squeeze(page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]
    # The summary's table is on the first page, under the verdict.
    assert "Outsidethepolicy" in pages[0] and "Whattodo" in pages[0]
    appendix = next(i for i, page in enumerate(pages) if page.startswith("Appendix"))
    body, rest = "".join(pages[:appendix]), "".join(pages[appendix:])
    # The body holds every result's message; the per-group tables and charts come after.
    assert "Representationpergroup" not in body and "Representationpergroup" in rest
    assert "Reliabilitydiagrambygroup" not in body and "Reliabilitydiagrambygroup" in rest
    assert appendix < len(pages) - appendix  # most of the pages are the appendix's
    assert squeeze("Regulatory mapping: figures") in rest
