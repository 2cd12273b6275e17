"""A small SVG writer: escaped text, linear scales and tidy axis ticks.

Charts are plain strings so the same markup works in the browser, in the standalone
HTML file and in WeasyPrint's PDF (which draws SVG text as real, extractable text).
Every piece of text and every attribute value goes through `esc`; nothing else in the
report layer builds markup by hand.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"


def esc(value: object) -> str:
    """Text safe both as element content and inside a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def clip_label(text: str, limit: int = 26) -> str:
    """Long group names would run into the plot; the full name stays in a <title>."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def num(value: float) -> str:
    """Coordinates with two decimals keep the markup short and diffs readable."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def label_num(value: float) -> str:
    return f"{value:.3f}"


@dataclass(frozen=True)
class Scale:
    """Maps data values in [lo, hi] onto pixels in [start, end], clamping outside."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        value = min(max(value, self.lo), self.hi)
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def outside(self, value: float) -> bool:
        return value < self.lo or value > self.hi


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick positions (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, value = [], first
    while value <= hi + 1e-9:
        # Rounding kills float noise such as 0.30000000000000004 in the labels.
        ticks.append(round(value, 10) + 0.0)
        value += step
    return ticks


# Presentation attributes rather than a <style> element: a <style> inside inline SVG
# applies to the whole HTML page, and attributes render the same in browsers, in the
# standalone file and in WeasyPrint.
STYLES = {
    "axis": 'stroke="#9aa5b1" stroke-width="1"',
    "grid": 'stroke="#e4e7eb" stroke-width="1"',
    "band": 'fill="#d9f2e3"',
    "ref": 'stroke="#52606d" stroke-width="1.2" stroke-dasharray="4 3"',
    "edge": 'stroke="#3f9162" stroke-width="1" stroke-dasharray="2 2"',
    "whisker": 'stroke="#243b53" stroke-width="1.5"',
    "pt-pass": 'fill="#2f855a"', "pt-warn": 'fill="#b7791f"', "pt-fail": 'fill="#c53030"',
    "pt-none": 'fill="#7b8794"',
    "text": f'font-family="{FONT}" font-size="11" fill="#1f2933"',
    "head": f'font-family="{FONT}" font-size="11" font-weight="bold" fill="#1f2933"',
    "tick": f'font-family="{FONT}" font-size="9.5" fill="#52606d"',
    "value": f'font-family="{FONT}" font-size="10" fill="#1f2933"',
    "cap": f'font-family="{FONT}" font-size="10" fill="#c53030"',
}


def _title(tooltip: str) -> str:
    return f"<title>{esc(tooltip)}</title>" if tooltip else ""


class Canvas:
    """Collects SVG elements; `render` wraps them in a root with a title for readers."""

    def __init__(self, width: int, height: int, title: str, description: str = ""):
        self.width, self.height = width, height
        self.title, self.description = title, description
        self.parts: list[str] = []

    def rect(self, x, y, w, h, kind: str, tooltip: str = "") -> None:
        self.parts.append(
            f'<rect {STYLES[kind]} x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}"'
            f' height="{num(max(h, 0))}">{_title(tooltip)}</rect>'
        )

    def line(self, x1, y1, x2, y2, kind: str) -> None:
        self.parts.append(
            f'<line {STYLES[kind]} x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}"/>'
        )

    def circle(self, cx, cy, r, kind: str, tooltip: str = "") -> None:
        self.parts.append(
            f'<circle {STYLES[kind]} cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}">{_title(tooltip)}</circle>'
        )

    def text(self, x, y, content: str, kind: str = "text", anchor: str = "start", tooltip: str = "") -> None:
        element = (
            f'<text {STYLES[kind]} x="{num(x)}" y="{num(y)}" text-anchor="{esc(anchor)}">{esc(content)}</text>'
        )
        # The tooltip sits on a wrapping group so the text element holds only its label.
        self.parts.append(f"<g>{_title(tooltip)}{element}</g>" if tooltip else element)

    def render(self) -> str:
        desc = f"<desc>{esc(self.description)}</desc>" if self.description else ""
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart" role="img"'
            f' width="{self.width}" height="{self.height}" viewBox="0 0 {self.width} {self.height}"'
            f' aria-label="{esc(self.title)}"><title>{esc(self.title)}</title>{desc}'
            f"{''.join(self.parts)}</svg>"
        )
