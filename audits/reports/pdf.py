"""The report as PDF, with WeasyPrint fetching nothing but our own static files.

WeasyPrint would otherwise follow any URL in the page: http(s), file:// and data:.
The report carries user text, and although it is all escaped, the renderer must not be
able to reach the network or the disk in any case, so the fetcher answers only
STATIC_URL paths, resolved by the staticfiles finders, and raises for everything else.

The PDF is PDF/A-3b with report.json embedded as an associated file (pdf_write).
"""
from __future__ import annotations

import mimetypes
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from .document import report_json
from .render import render_html

# A reserved, never-resolvable host (RFC 2606): relative URLs in the page resolve
# against it, and the fetcher recognises it as "our own site".
BASE_URL = "https://auditplatform.invalid/"
PDF_VARIANT = "pdf/a-3b"
REPORT_ATTACHMENT = "report.json"


class AssetRefused(ValueError):
    """The PDF renderer asked for something other than one of our static files."""


def _static_prefix() -> str:
    path = urlsplit(settings.STATIC_URL).path
    return "/" + path.strip("/") + "/"


def _static_name(url: str) -> str:
    """The staticfiles name (e.g. "audits/report.css") behind an allowed URL, or raise."""
    parts = urlsplit(url)
    base = urlsplit(BASE_URL)
    static = urlsplit(settings.STATIC_URL)
    ours = (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
    # A plain path (as the template writes it), our base host, or an absolute
    # STATIC_URL if the deployment serves static files from another host.
    same_host_static = bool(static.netloc) and (parts.scheme, parts.netloc) == (static.scheme, static.netloc)
    if not (ours or same_host_static or (not parts.scheme and not parts.netloc and url.startswith("/"))):
        raise AssetRefused(f"Refused to fetch {url!r}: only our static files are served to the PDF renderer.")
    prefix = _static_prefix()
    if not parts.path.startswith(prefix):
        raise AssetRefused(f"Refused to fetch {url!r}: not under {prefix}.")
    name = unquote(parts.path[len(prefix):])
    segments = name.split("/")
    # Checked after unquoting so %2e%2e and %2f cannot sneak a traversal through.
    if not name or "\\" in name or "\x00" in name or any(s in {"", ".", ".."} for s in segments):
        raise AssetRefused(f"Refused to fetch {url!r}: not a plain static file path.")
    return name


class StaticOnlyFetcher(URLFetcher):
    """Serves files found by django.contrib.staticfiles under STATIC_URL; refuses the rest."""

    def __init__(self):
        # No protocol is allowed to reach urllib: `fetch` below never calls it.
        super().__init__(allowed_protocols=(), allow_redirects=False)

    def fetch(self, url, headers=None):
        name = _static_name(url)
        path = finders.find(name)
        if not path:
            raise AssetRefused(f"Refused to fetch {url!r}: no such static file.")
        with open(path, "rb") as handle:
            body = handle.read()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=body, headers={"Content-Type": content_type})

    def open(self, url, data=None, timeout=None):
        # urllib-style entry point; route it through the same checks.
        return self.fetch(url if isinstance(url, str) else url.full_url)


def render_layout(document: dict):
    """The report laid out in pages (a weasyprint Document): what render_pdf writes,
    open to inspection, e.g. that nothing runs off an A4 page."""
    html = HTML(string=render_html(document, pdf=True), base_url=BASE_URL, url_fetcher=StaticOnlyFetcher())
    return html.render()


def pdf_write(document: dict, attachments: tuple = ()) -> bytes:
    """The report as PDF/A-3b, an archival PDF, with report.json embedded as its associated
    file (what the figures are, machine-readable, inside the file a regulator keeps), and
    any further `attachments` (weasyprint.Attachment). Text stays selectable and extracts
    as the page reads (no ligatures, report.css)."""
    source = Attachment(string=report_json(document).decode("utf-8"), name=REPORT_ATTACHMENT,
                        url_fetcher=StaticOnlyFetcher(), relationship="Data",
                        description="The report's data (report.json), the source of every figure in this PDF")
    return render_layout(document).write_pdf(pdf_variant=PDF_VARIANT, attachments=[source, *attachments])


def render_pdf(document: dict) -> bytes:
    """The report as a PDF (pdf_write without further attachments)."""
    return pdf_write(document)
