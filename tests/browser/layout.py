"""Layout checks for every page a browser test visits: nothing wider than the window,
and every text and badge at WCAG 2.1 AA contrast (axe-core's color-contrast rule).

axe-core is vendored (tests/browser/vendor/axe-core, MPL-2.0, unmodified) and evaluated
in the page on demand: no CDN, no network. `layout_problems` checks one page at a
desktop and a phone width; `PageRecorder` remembers the pages a context visited so the
conftest can check each of them before the context closes.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import urlsplit

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (1366, 390)
HEIGHT = 900
MAX_PAGES = 30  # per context: enough for the longest walk, bounded so a loop cannot run away

# The elements reaching past the window's right edge, outside any box that scrolls
# sideways on its own (a table in an overflow-x:auto wrapper is fine).
OVERFLOW_JS = """() => {
  const width = window.innerWidth;
  const scrollsInside = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX)) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 1 && !scrollsInside(el)) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '') +
                ' right=' + Math.round(box.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, inner: width, wide: wide.slice(0, 8)};
}"""

CONTRAST_JS = """async () => {
  const result = await axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']},
                                          resultTypes: ['violations']});
  return result.violations.flatMap(v => v.nodes.map(n => n.target.join(' ') + ': ' +
                                                    (n.any[0] ? n.any[0].message : v.help)));
}"""


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def overflow(page) -> str | None:
    """None when the page is no wider than the window, else what sticks out."""
    found = page.evaluate(OVERFLOW_JS)
    if found["scroll"] <= found["inner"]:
        return None
    return f"{found['scroll']} px wide in a {found['inner']} px window: " + "; ".join(found["wide"])


def contrast_violations(page) -> list[str]:
    """axe-core's color-contrast violations on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, so a page's own script policy does not apply.
        page.evaluate(axe_source())
    return page.evaluate(CONTRAST_JS)


def layout_problems(page, widths=WIDTHS) -> list[str]:
    """Overflow and contrast problems of the loaded page at each width (the viewport is
    restored afterwards)."""
    before = page.viewport_size
    problems = []
    try:
        for width in widths:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            where = f"{urlsplit(page.url).path} at {width} px"
            if (wide := overflow(page)) is not None:
                problems.append(f"{where}: horizontal overflow, {wide}")
            problems += [f"{where}: contrast {v}" for v in contrast_violations(page)]
    finally:
        if before:
            page.set_viewport_size(before)
    return problems


def assert_layout(page, widths=WIDTHS) -> None:
    problems = layout_problems(page, widths)
    assert not problems, "\n".join(problems)


def _page_key(url: str) -> str:
    # Two audits' pages share a layout: one of each kind is checked (ids folded away).
    parts = urlsplit(url)
    return re.sub(r"\d+", "N", parts.path) + ("?" + parts.query if parts.query else "")


class PageRecorder:
    """The distinct pages (by path, ids folded, query kept) a context's tabs loaded."""

    def __init__(self, context, origin: str):
        self.origin = origin.rstrip("/")
        self.urls: dict[str, str] = {}
        context.on("page", self.watch)

    def watch(self, page) -> None:
        page.on("framenavigated", lambda frame: self.record(page, frame))

    def record(self, page, frame) -> None:
        url = frame.url.split("#")[0]
        if frame != page.main_frame or not url.startswith(self.origin + "/"):
            return
        key = _page_key(url)
        if key not in self.urls and len(self.urls) < MAX_PAGES:
            self.urls[key] = url

    def check_all(self, context) -> list[str]:
        """Loads each recorded page again in a fresh tab of the same context (same user)
        and checks it; a page that no longer answers 200 with HTML (logged out since,
        or removed) is skipped, since its state is gone."""
        urls = list(self.urls.values())
        if not urls:
            return []
        tab = context.new_page()
        problems = []
        try:
            for url in urls:
                response = tab.goto(url)
                kind = (response.headers.get("content-type", "") if response else "")
                if response is None or response.status != 200 or not kind.startswith("text/html"):
                    continue
                problems += layout_problems(tab)
        finally:
            tab.close()
        return problems
