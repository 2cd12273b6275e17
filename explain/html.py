"""Token highlights (HTML) and attention heatmaps (SVG) for the report, in HTML and PDF.

Every token is untrusted text from the uploaded dataset, so each one goes through
format_html (escaped) and nothing else is interpolated but numbers we formatted. Only
inline styles with rgba backgrounds and inline SVG are used: WeasyPrint renders both,
so the same fragment works on the page and in the PDF.
"""
from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# SHAP's convention: red pushes towards the favourable label, blue away from it.
POSITIVE = (220, 38, 38)
NEGATIVE = (37, 99, 235)
# At most 60 % colour under dark text (INK): 5.4:1 on red, 5.8:1 on blue, above WCAG
# AA's 4.5:1 (0.85 gave about 3.6:1).
MAX_ALPHA = 0.6
INK = "#1f2933"
# A word this long may break across lines (a URL would otherwise run off the page);
# shorter ones never do, in the browser or the PDF.
NOWRAP_CHARS = 24


def _alpha(score: float, scale: float) -> float:
    return round(min(1.0, abs(score) / scale) * MAX_ALPHA, 3) if scale > 0 else 0.0


def _join_piece(token: str) -> tuple[str, bool]:
    """A WordPiece continuation ("##ing") is shown glued to the token before it."""
    if token.startswith("##") and len(token) > 2:
        return token[2:], True
    return token, False


def score_scale(scores: Sequence[float]) -> float:
    """The score that gets full colour for these scores: the largest magnitude."""
    return max((abs(float(s)) for s in scores), default=0.0)


def _words(tokens: Sequence[str], scores: Sequence[float], scale: float) -> list[SafeString]:
    """Each word (a token and the pieces glued to it) as one span, its tokens shaded."""
    words: list[list] = []
    for token, score in zip(tokens, scores, strict=True):
        text, glued = _join_piece(str(token))
        rgb = POSITIVE if score >= 0 else NEGATIVE
        span = format_html(
            '<span class="xai-token" style="background-color: rgba({}, {}, {}, {}); color: {}; '
            'border-radius: 2px; padding: 0 1px;" title="{}">{}</span>',
            rgb[0], rgb[1], rgb[2], _alpha(float(score), scale), INK, f"{float(score):+.4f}", text,
        )
        if glued and words:
            words[-1][0].append(span)
            words[-1][1] += len(text)
        else:
            words.append([[span], len(text)])
    return [format_html('<span class="xai-word"{}>{}</span>',
                        mark_safe(' style="white-space: nowrap;"') if length <= NOWRAP_CHARS else "",
                        mark_safe("".join(spans)))
            for spans, length in words]


def highlight_html(
    tokens: Sequence[str],
    scores: Sequence[float],
    *,
    scale: float | None = None,
    label: str = "",
) -> SafeString:
    """Tokens as <span>s shaded by sign and size of their score, grouped in words that
    do not break across lines.

    `scale` is the score that gets full colour (default: the largest magnitude here);
    pass one value for several texts to make their shades comparable.
    """
    scale = score_scale(scores) if scale is None else float(scale)
    return format_html(
        '<span class="xai-highlight" aria-label="{}" style="line-height: 1.9;">{}</span>',
        label, mark_safe(" ".join(_words(tokens, scores, scale))),
    )


def legend_html() -> SafeString:
    """Two colour swatches beside plain text (text on a strong colour is hard to read)."""
    swatch = ('<span class="xai-swatch" aria-hidden="true" style="display: inline-block; width: 0.9em; '
              'height: 0.9em; vertical-align: -0.1em; margin-right: 0.25em; border-radius: 2px; '
              'background-color: rgba({}, {}, {}, {});"></span>')
    return format_html(
        '<span class="xai-legend">' + swatch + "raises / " + swatch + "lowers "
        "the probability of the favourable label</span>",
        *POSITIVE, MAX_ALPHA, *NEGATIVE, MAX_ALPHA,
    )


def attention_svg(
    tokens: Sequence[str],
    matrix: Sequence[Sequence[float]],
    *,
    cell: int = 14,
    title: str = "Attention",
    tooltips: bool = True,
) -> SafeString:
    """A square heatmap (row: from, column: to), darker for more attention, labels escaped.

    `tooltips=False` is the print version: no per-cell tooltip, shades in steps of 1/20
    and cells under half a step left blank. WeasyPrint draws each cell as a path with its
    own opacity state; 50 explained rows of 40 tokens are 80,000 cells, and with a tooltip
    and a shade of their own each, the PDF took 35 s and 1.2 GB more to lay out."""
    n = len(tokens)
    if n == 0:
        return SafeString("")
    peak = max((float(v) for row in matrix for v in row), default=0.0) or 1.0
    margin = 8 + 7 * min(16, max(len(str(t)) for t in tokens))
    size = margin + n * cell
    if tooltips:
        cells = format_html_join(
            "", '<rect x="{}" y="{}" width="{}" height="{}" fill="rgb(91, 33, 182)" fill-opacity="{}">'
            "<title>{} \u2192 {}: {}</title></rect>",
            (
                (margin + j * cell, margin + i * cell, cell, cell, round(float(matrix[i][j]) / peak, 3),
                 _short(tokens[i]), _short(tokens[j]), f"{float(matrix[i][j]):.3f}")
                for i in range(n) for j in range(n)
            ),
        )
    else:
        shades = ((i, j, round(20 * float(matrix[i][j]) / peak) / 20) for i in range(n) for j in range(n))
        cells = format_html_join(
            "", '<rect x="{}" y="{}" width="{}" height="{}" fill="rgb(91, 33, 182)" fill-opacity="{}"/>',
            ((margin + j * cell, margin + i * cell, cell, cell, shade) for i, j, shade in shades if shade > 0),
        )
    rows = format_html_join(
        "", '<text x="{}" y="{}" text-anchor="end" font-size="{}">{}</text>',
        ((margin - 3, margin + i * cell + cell * 0.75, cell * 0.7, _short(t)) for i, t in enumerate(tokens)),
    )
    columns = format_html_join(
        "", '<text transform="translate({}, {}) rotate(-90)" font-size="{}">{}</text>',
        ((margin + j * cell + cell * 0.75, margin - 3, cell * 0.7, _short(t)) for j, t in enumerate(tokens)),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="xai-heatmap" role="img" width="{}" height="{}" '
        'viewBox="0 0 {} {}" font-family="sans-serif"><title>{}</title>{}{}{}</svg>',
        size, size, size, size, title, cells, rows, columns,
    )


def _short(token) -> str:
    token = str(token)
    return token if len(token) <= 16 else token[:15] + "\u2026"
