"""The audit report: one document (report.json) rendered to HTML, PDF and charts.

Build the document once with `report_build`; everything else renders from it, so the
web page, the downloaded files and the API always agree.
"""
from .charts import report_charts
from .context import report_context
from .document import canonical_json, manifest_sha256, report_build, report_json, summarize
from .files import predictions_csv, report_files
from .pdf import AssetRefused, StaticOnlyFetcher, render_pdf
from .render import render_html

__all__ = [
    "AssetRefused",
    "StaticOnlyFetcher",
    "canonical_json",
    "manifest_sha256",
    "predictions_csv",
    "render_html",
    "render_pdf",
    "report_build",
    "report_charts",
    "report_context",
    "report_files",
    "report_json",
    "summarize",
]
