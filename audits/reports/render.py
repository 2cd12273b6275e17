"""The report as one HTML page: for the PDF (stylesheet linked) or as a file (inlined).

One template serves both (templates/audits/report_pdf.html, which includes
report_body.html, the same body the web page includes).
"""
from __future__ import annotations

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from .context import report_context

STYLESHEET = "audits/report.css"
# Screen-only rules (scrolling tables, phones): inlined for report.html, never given to
# the PDF renderer.
SCREEN_STYLESHEET = "audits/report-screen.css"


def _stylesheet_text(name: str = STYLESHEET) -> str:
    path = finders.find(name)
    if path is None:
        raise FileNotFoundError(f"Static file {name} not found by the staticfiles finders.")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def render_html(document: dict, *, pdf: bool = False) -> str:
    """The report as a standalone HTML page.

    With `pdf`, the stylesheet is linked (WeasyPrint fetches it through the static-only
    fetcher); without, it is inlined so report.html opens on its own, anywhere.
    """
    context = report_context(document)
    # Our own stylesheet, not user text: safe to embed as it is.
    context["inline_css"] = None if pdf else mark_safe(_stylesheet_text())
    context["inline_screen_css"] = None if pdf else mark_safe(_stylesheet_text(SCREEN_STYLESHEET))
    context["for_pdf"] = pdf
    return render_to_string("audits/report_pdf.html", context)
