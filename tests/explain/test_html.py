"""Highlights and heatmaps escape every token: dataset text is untrusted."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import runtime
from explain.html import (
    INK,
    MAX_ALPHA,
    NEGATIVE,
    POSITIVE,
    attention_svg,
    highlight_html,
    legend_html,
    score_scale,
)
from explain.methods import attention_explain, lime_explain

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
HOSTILE = f"nice {SCRIPT} words {ATTRIBUTE} end"


def _tags(fragment: str) -> set[str]:
    # Escaped output is well-formed XML too; any injected element would show up here.
    root = ET.fromstring(f"<div>{fragment}</div>")
    return {element.tag.split("}")[-1] for element in root.iter()}


def _safe(fragment: str) -> None:
    assert "<script" not in fragment and "<img" not in fragment
    root = ET.fromstring(f"<div>{fragment}</div>")
    # No event-handler attribute escaped its quotes onto any element.
    assert not [name for element in root.iter() for name in element.attrib if name.lower().startswith("on")]


def test_raw_hostile_tokens_are_escaped_in_highlights_and_heatmaps():
    tokens = ["ok", SCRIPT, ATTRIBUTE, "##s"]
    html = str(highlight_html(tokens, [0.5, -0.25, 0.0, 0.1], label=ATTRIBUTE))
    _safe(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert _tags(html) == {"div", "span"}
    assert "rgba(220, 38, 38, 0.6)" in html and "rgba(37, 99, 235, 0.3)" in html
    # A continuation piece ("##s") is shown as "s", glued to the token before it, in one
    # word; words never break across lines unless longer than a line could hold (the
    # two hostile ones here are 25 and 31 characters).
    assert html.count('</span><span class="xai-token"') == 1 and ">s</span>" in html
    assert html.count('class="xai-word"') == 3 and html.count("white-space: nowrap") == 1

    svg = str(attention_svg(tokens, [[0.25] * 4] * 4, title=SCRIPT))
    _safe(svg)
    assert _tags(svg) == {"div", "svg", "title", "rect", "text"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    # The print version: the same escaped labels, no per-cell tooltips, shades in 1/20
    # steps and cells under half a step left out.
    matrix = [[1.0, 0.02, 0.5, 0.333]] * 4
    printed = str(attention_svg(tokens, matrix, title=SCRIPT, tooltips=False))
    _safe(printed)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in printed and printed.count("<title>") == 1
    assert printed.count("<rect") == 12 and 'fill-opacity="0.35"' in printed and 'fill-opacity="0.02"' not in printed
    assert _tags(str(legend_html())) == {"div", "span"}


def test_highlights_and_legend_keep_text_at_wcag_aa_contrast():
    from tests.contrast import contrast_ratio, over_white

    for rgb in (POSITIVE, NEGATIVE):
        assert contrast_ratio(INK, over_white(rgb, MAX_ALPHA)) >= 4.5
    legend = str(legend_html())
    # The words of the legend sit on the page, beside their swatches, not on the colour.
    assert 'aria-hidden="true"' in legend and "></span>raises" in legend


def test_a_shared_scale_shades_the_same_score_alike():
    strong = str(highlight_html(["a", "b"], [0.1, 0.2], scale=0.2))
    weak = str(highlight_html(["a", "b"], [0.1, 0.2], scale=2.0))
    assert "rgba(220, 38, 38, 0.6)" in strong and "rgba(220, 38, 38, 0.06)" in weak
    # All zeros stay uncoloured whatever the scale (no division by a zero maximum).
    assert "0.0)" in str(highlight_html(["a"], [0.0])) and score_scale([0.0, -0.0]) == 0.0


def test_real_explanations_of_a_hostile_text_render_escaped(loaded, fn):
    ids = runtime.tokenize(loaded, [HOSTILE])
    [attention] = attention_explain(loaded, ids, fn=fn)
    [lime] = lime_explain(fn, [HOSTILE], num_samples=100)
    for attribution in (attention, lime):
        html = str(highlight_html(attribution.tokens, attribution.scores))
        _safe(html)
        assert _tags(html) == {"div", "span"}
    heatmap = attention.extra["heatmap"]
    svg = str(attention_svg(heatmap["tokens"], heatmap["matrix"]))
    _safe(svg)
    assert "&lt;" in svg and _tags(svg) == {"div", "svg", "title", "rect", "text"}


def test_the_same_fragments_lay_out_in_weasyprint():
    from weasyprint import HTML

    from audits.reports.pdf import BASE_URL, StaticOnlyFetcher

    html = highlight_html(["ok", SCRIPT, ATTRIBUTE], [0.5, -0.2, 0.1])
    svg = attention_svg(["a", SCRIPT, "c"], [[0.2, 0.3, 0.5]] * 3)
    document = HTML(string=f"<html><body><p>{html}</p>{svg}</body></html>", base_url=BASE_URL,
                    url_fetcher=StaticOnlyFetcher()).render()
    boxes = [box for page in document.pages for box in page._page_box.descendants()]
    # The hostile tokens are laid out as text, and the heatmap as an inline image.
    assert [b.text for b in boxes if hasattr(b, "text") and b.text.strip()] == ["ok", SCRIPT, ATTRIBUTE]
    assert any(type(b).__name__ == "InlineReplacedBox" for b in boxes)
    assert document.write_pdf().startswith(b"%PDF-")


def test_words_never_break_across_lines_in_the_pdf():
    from weasyprint import HTML

    from audits.reports.pdf import BASE_URL, StaticOnlyFetcher

    words = ["understanding", "##ly", "internationalisation", "a"] * 6
    html = highlight_html(words, [0.3, -0.1, 0.2, 0.0] * 6)
    # As narrow and as willing to break as a report cell in the PDF's fixed tables.
    page = f'<div style="width: 110px; overflow-wrap: anywhere; font-size: 10pt">{html}</div>'
    document = HTML(string=page, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher()).render()
    pieces = [b.text.strip() for p in document.pages for b in p._page_box.descendants()
              if hasattr(b, "text") and b.text.strip()]
    assert set(pieces) == {"understanding", "ly", "internationalisation", "a"}, pieces
