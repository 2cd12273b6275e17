"""The layout check itself finds what it is there to find: text below WCAG AA contrast, a
page wider than the window, and not a table that scrolls inside its own box."""
from __future__ import annotations

import pytest

from tests.browser.layout import layout_problems

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html lang="en"><head><title>t</title></head><body style="margin:0">
<main><h1>Title</h1>
<p id="faint" style="color:#b0b0b0;background:#fff">Faint text</p>
<div style="overflow-x:auto"><table><tr><td style="white-space:nowrap">{cell}</td></tr></table></div>
{wide}</main></body></html>"""


@pytest.fixture
def blank(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def test_low_contrast_and_overflow_are_reported(blank):
    blank.set_content(PAGE.format(cell="x" * 300, wide='<div id="wide" style="width:800px">wide</div>'))
    problems = layout_problems(blank)
    assert any("contrast" in p and "#faint" in p for p in problems), problems
    # 800 px fits 1366 but not 390: overflow is reported at the phone width only, naming the box.
    overflow = [p for p in problems if "horizontal overflow" in p]
    assert len(overflow) == 1 and "390 px" in overflow[0] and "div#wide" in overflow[0]


def test_a_clean_page_with_a_scrolling_table_passes(blank):
    blank.set_content(PAGE.format(cell="x" * 300, wide="").replace("color:#b0b0b0", "color:#333333"))
    assert layout_problems(blank) == []


def test_every_status_badge_of_the_app_and_the_report_meets_aa(blank):
    from pathlib import Path

    static = Path(__file__).resolve().parents[2] / "static" / "audits"
    css = (static / "app.css").read_text() + (static / "report.css").read_text()
    app = ["queued", "running", "done", "failed", "cancelled", "pass", "warn", "fail", "error", "inconclusive",
           "review-approved", "review-rejected", "review-changes_requested", "review-none"]
    report = ["pass", "warn", "fail", "error", "inconclusive", "insufficient", "skipped", "info", "unknown"]
    badges = "".join(f'<span class="badge {c}">{c}</span> ' for c in app)
    report_badges = "".join(f'<span class="ar-badge ar-badge-sm ar-status-{c}">{c}</span> ' for c in report)
    blank.set_content(f"<!doctype html><html lang='en'><head><title>t</title><style>{css}</style></head><body>"
                      f"<main><p>{badges}</p><article class='audit-report'><p>{report_badges}</p>"
                      "<span class='ar-muted'>muted</span> <span class='ar-abbr'>abbr</span>"
                      "<header class='ar-section-head'><h3>EU AI Act, Article 10</h3></header>"
                      "</article></main></body></html>")
    assert layout_problems(blank) == []
