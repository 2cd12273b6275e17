"""A small SVG writer: escaped text, linear scales, tidy axis ticks and one palette.

Charts are plain strings so the same markup works in the browser, in the standalone
HTML file and in WeasyPrint's PDF (which draws SVG text as real, extractable text).
Every piece of text and every attribute value goes through `esc`; nothing else in the
report layer builds markup by hand.
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"

# One palette for every chart and the stylesheet's badges: status colours first, then
# neutrals. Series that are not statuses (the "all rows" curve) use INK.
PASS, WARN, FAIL, NONE = "#2f855a", "#b7791f", "#c53030", "#7b8794"
INK, MUTED, GRID = "#243b53", "#52606d", "#e4e7eb"
STATUS_COLOURS = {"pass": PASS, "warn": WARN, "fail": FAIL, "none": NONE}
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


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


def colour(value: str) -> str:
    """A fill computed by a chart (heat map shades); anything but #rrggbb is refused."""
    if not _HEX.fullmatch(value):
        raise ValueError(f"not a #rrggbb colour: {value!r}")
    return value


def mix(start: str, end: str, t: float) -> str:
    """The colour a fraction t of the way from `start` to `end` (both #rrggbb)."""
    t = min(max(t, 0.0), 1.0)
    a = [int(start[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(end[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


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


def _text_style(size: float, fill: str = "#1f2933", weight: str = "") -> str:
    bold = ' font-weight="bold"' if weight else ""
    return f'font-family="{FONT}" font-size="{size:g}"{bold} fill="{fill}"'


# Presentation attributes rather than a <style> element: a <style> inside inline SVG
# applies to the whole HTML page, and attributes render the same in browsers, in the
# standalone file and in WeasyPrint.
STYLES = {
    "axis": 'stroke="#9aa5b1" stroke-width="1"',
    "grid": f'stroke="{GRID}" stroke-width="1"',
    "band": 'fill="#d9f2e3"',
    "ref": 'stroke="#52606d" stroke-width="1.2" stroke-dasharray="4 3"',
    "edge": 'stroke="#3f9162" stroke-width="1" stroke-dasharray="2 2"',
    "limit": f'stroke="{FAIL}" stroke-width="1.2" stroke-dasharray="6 3"',
    "whisker": f'stroke="{INK}" stroke-width="1.5"',
    "diagonal": 'stroke="#9aa5b1" stroke-width="1" stroke-dasharray="3 3"',
    "frame": 'fill="none" stroke="#cbd2d9" stroke-width="1"',
    "cell": 'stroke="#ffffff" stroke-width="1.5"',
    "cell-few": f'fill="none" stroke="{WARN}" stroke-width="2"',
    "marker": 'stroke="#102a43" stroke-width="2.5"',
    **{f"pt-{k}": f'fill="{v}"' for k, v in STATUS_COLOURS.items()},
    **{f"bar-{k}": f'fill="{v}" fill-opacity="0.75"' for k, v in STATUS_COLOURS.items()},
    **{f"sw-{k}": f'fill="{v}"' for k, v in STATUS_COLOURS.items()},
    **{f"series-{k}": f'fill="none" stroke="{v}" stroke-width="1.8"' for k, v in STATUS_COLOURS.items()},
    "series-ink": f'fill="none" stroke="{INK}" stroke-width="1.4" stroke-dasharray="5 3"',
    "pt-ink": f'fill="{INK}" fill-opacity="0.55"',
    "text": _text_style(11),
    "head": _text_style(11, weight="bold"),
    "title": _text_style(12, "#102a43", "bold"),
    "tick": _text_style(10, MUTED),
    "note": _text_style(10, MUTED),
    "value": _text_style(10),
    "cap": _text_style(10, FAIL),
    "cell-dark": _text_style(10, "#ffffff", "bold"),
    "cell-light": _text_style(10, "#102a43", "bold"),
}


def _title(tooltip: str) -> str:
    return f"<title>{esc(tooltip)}</title>" if tooltip else ""


class Canvas:
    """Collects SVG elements; `render` wraps them in a root with a title for readers."""

    def __init__(self, width: int, height: float, title: str, description: str = ""):
        self.width, self.height = width, height
        self.title, self.description = title, description
        self.parts: list[str] = []

    def rect(self, x, y, w, h, kind: str, tooltip: str = "", fill: str | None = None, rx: float = 0) -> None:
        # `fill` is a colour computed by the chart (never user text); colour() checks it,
        # and only a style without its own fill may take one (no duplicate attribute).
        if fill and "fill=" in STYLES[kind]:
            raise ValueError(f"style {kind!r} has its own fill")
        paint = f' fill="{colour(fill)}"' if fill else ""
        rounded = f' rx="{num(rx)}"' if rx else ""
        self.parts.append(
            f'<rect {STYLES[kind]}{paint}{rounded} x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}"'
            f' height="{num(max(h, 0))}">{_title(tooltip)}</rect>'
        )

    def line(self, x1, y1, x2, y2, kind: str) -> None:
        self.parts.append(
            f'<line {STYLES[kind]} x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}"/>'
        )

    def polyline(self, points: list[tuple[float, float]], kind: str) -> None:
        if len(points) < 2:
            return
        coords = " ".join(f"{num(x)},{num(y)}" for x, y in points)
        self.parts.append(f'<polyline {STYLES[kind]} points="{coords}"/>')

    def circle(self, cx, cy, r, kind: str, tooltip: str = "") -> None:
        self.parts.append(
            f'<circle {STYLES[kind]} cx="{num(cx)}" cy="{num(cy)}" r="{num(r)}">{_title(tooltip)}</circle>'
        )

    def text(self, x, y, content: str, kind: str = "text", anchor: str = "start", tooltip: str = "",
             rotate: float = 0) -> None:
        turn = f' transform="rotate({num(rotate)} {num(x)} {num(y)})"' if rotate else ""
        element = (
            f'<text {STYLES[kind]} x="{num(x)}" y="{num(y)}" text-anchor="{esc(anchor)}"{turn}>'
            f"{esc(content)}</text>"
        )
        # The tooltip sits on a wrapping group so the text element holds only its label.
        self.parts.append(f"<g>{_title(tooltip)}{element}</g>" if tooltip else element)

    def render(self) -> str:
        desc = f"<desc>{esc(self.description)}</desc>" if self.description else ""
        height = math.ceil(self.height)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart" role="img"'
            f' width="{self.width}" height="{height}" viewBox="0 0 {self.width} {height}"'
            f' aria-label="{esc(self.title)}"><title>{esc(self.title)}</title>{desc}'
            f"{''.join(self.parts)}</svg>"
        )
