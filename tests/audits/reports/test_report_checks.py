"""Every check's report section and charts, from results the real checks compute.

The results come from running audits/checks on a synthetic audit (3,000 rows, a
four-group and a ten-group attribute, texts with identity terms, annotators, skewed
calibration, and a plain function in place of the model for the counterfactual
swaps), so the report is tested against what the checks actually emit rather than
hand-written dicts.
"""
from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from django.utils.html import escape

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY
from audits.reports import render_html, report_charts, report_context
from audits.reports.formatting import worst

EVIL_GROUP = "<script>alert(1)</script>"
EVIL_TEXT = '"><img src=x onerror=alert(1)>'
AGES = [f"{a}-{a + 4}" for a in range(18, 68, 5)]  # ten groups
GENDERS = ["male", "female", "nonbinary", EVIL_GROUP]
WORDS = "the a service was slow fast great poor staff room food price value clean noisy".split()
RELIGIONS = ["muslim", "christian", "jewish", "hindu", "buddhist", "sikh", "atheist", "catholic", "protestant",
             "mormon"]
SEXUALITIES = ["gay", "straight", "lesbian", "bisexual"]
CHECK_ORDER = ["sampling_bias", "proxy_leakage", "labelling_bias", "group_fairness", "counterfactual", "subgroup_auc",
               "automation_bias"]
# How the synthetic model reacts to each identity term: what the counterfactual check measures.
TERM_EFFECT = {"muslim": -0.25, "jewish": -0.08, "sikh": -0.05, "christian": 0.04, "gay": -0.3, "lesbian": -0.12}


def synthetic_context(n: int = 3000, seed: int = 0, groups_per_attribute: int = 10) -> CheckContext:
    rng = np.random.default_rng(seed)
    gender = rng.choice(GENDERS, size=n, p=[0.45, 0.4, 0.08, 0.07])
    ages = AGES[:groups_per_attribute]
    weights = np.linspace(2, 1, len(ages))
    age = rng.choice(ages, size=n, p=weights / weights.sum())
    # Planted skews: fewer favourable labels for some groups, worse calibration for some.
    base_rate = 0.55 - 0.15 * (gender == "female") - 0.02 * np.searchsorted(ages, age)
    y_true = rng.random(n) < base_rate
    noise = np.where(gender == "nonbinary", 0.35, 0.18)
    score = np.clip(np.where(y_true, 0.7, 0.3) + rng.normal(0, noise), 0.01, 0.99)
    score = np.where(age == ages[-1], np.clip(score * 1.25, 0, 0.99), score)
    terms = rng.choice(RELIGIONS + SEXUALITIES + [""] * 6, size=n)
    texts = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, 8)) + (" she" if gender[i] == "female" else "")
        mention = f" my {terms[i]} neighbour" if terms[i] else ""
        # A few texts carry markup; the report must show it as text, never as HTML.
        extra = f" {EVIL_TEXT} my muslim friend" if i < 4 else ""
        texts.append(f"{words}{mention}{extra} r{i}")  # r{i}: which row's score a variant starts from

    def predict(batch: list[str]) -> np.ndarray:
        out = []
        for text in batch:
            words = text.lower().split()
            row = int(words[-1][1:])
            p = score[row] + sum(TERM_EFFECT.get(w, 0.0) for w in words)
            p -= 0.4 * ("onerror" in text and "muslim" in words)  # the largest change: shown first
            out.append(min(max(p, 0.01), 0.99))
        return np.array(out)

    prob = predict(texts)
    annotators = pd.DataFrame({
        f"annotator_{k}": np.where(rng.random(n) < np.where(gender == "nonbinary", 0.3, 0.1), ~y_true, y_true)
        for k in range(3)})
    return CheckContext(
        y_true=y_true, y_pred=prob >= 0.5, prob=prob, groups=pd.DataFrame({"gender": gender, "age band": age}),
        privileged={"gender": ["male"], "age band": [ages[0]]}, policy=DEFAULT_POLICY, seed=seed,
        resamples=150, min_group_rows=30, texts=texts, annotators=annotators, predict=predict,
        lexicon=[(t, "religion") for t in RELIGIONS] + [(t, "sexuality") for t in SEXUALITIES])


def announced_counterfactual() -> dict:
    """A counterfactual result with the example keys first announced for the check
    (prob_original / prob_variant), which the report reads as well as the final ones."""
    return {
        "id": "counterfactual", "attribute": "supplied pairs", "status": "warn",
        "message": "Replacing texts with their supplied counterfactuals changed 3.0% of decisions.",
        "metrics": {"counterfactual_flip_rate": {"value": 0.03, "ci_low": 0.01, "ci_high": 0.05,
                                                 "threshold": {"low": 0.0, "high": 0.02}, "status": "warn",
                                                 "group": "all pairs"}},
        "groups": {"all pairs": {"texts": 100, "swaps": 100, "flips": 3, "counterfactual_flip_rate": 0.03,
                                 "counterfactual_flip_rate_ci_low": 0.01, "counterfactual_flip_rate_ci_high": 0.05}},
        "examples": [{"original": f"A gay couple {EVIL_TEXT}", "variant": f"A straight couple {EVIL_TEXT}",
                      "term": "gay", "swap": "straight", "prob_original": 0.412, "prob_variant": 0.871}],
    }


@functools.lru_cache(maxsize=2)
def all_check_results(groups_per_attribute: int = 10) -> list[dict]:
    """Cached: the PDF tests reuse the same results (treat them as read-only)."""
    ctx = synthetic_context(groups_per_attribute=groups_per_attribute)
    results = []
    # Out of the report's order on purpose: the report sorts sections itself.
    for check_id in ("automation_bias", "group_fairness", "counterfactual", "subgroup_auc", "labelling_bias",
                     "sampling_bias", "proxy_leakage"):
        results += get_check(check_id)(ctx)
    return results


def report_document(checks: list[dict]) -> dict:
    from audits.reports.document import summarize, to_json_value

    clean = to_json_value(checks)
    return {
        "schema_version": 1,
        "audit": {"id": 7, "status": "done", "created_at": "2025-03-04T05:06:07.123456+00:00",
                  "finished_at": "2025-03-04T07:08:09+02:00", "platform_version": "0.1.0", "seed": 0},
        "model": {"name": "tiny-bert", "sha256": "a" * 64, "architecture": "BertForSequenceClassification",
                  "num_parameters": 4_400_000, "labels": {"0": "negative", "1": "positive"}},
        "dataset": {"name": "reviews.csv", "sha256": "b" * 64, "rows": 3000, "text_column": "text",
                    "label_column": "label", "protected_attributes": {"gender": ["male"], "age band": ["18-22"]},
                    "favorable_label": "positive"},
        "manifest_sha256": "c" * 64, "manifest": {},
        "policy": {"name": "default", "version": 1, "thresholds": DEFAULT_POLICY["thresholds"]},
        "summary": summarize(clean), "checks": clean, "explanations": [], "mitigation": None,
    }


@pytest.fixture(scope="module")
def document():
    return report_document(all_check_results())


@pytest.fixture(scope="module")
def html(document):
    return render_html(document)


class Cells(HTMLParser):
    """The text of every <td>/<th> in tables of a class, and the TOC's links."""

    def __init__(self, table_class: str):
        super().__init__()
        self.table_class, self.depth, self.cells, self.cell = table_class, 0, [], None
        self.toc = []  # (href, text) of TOC check links
        self.link = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and self.table_class in (attrs.get("class") or "").split():
            self.depth += 1
        elif tag in ("td", "th") and self.depth:
            self.cell = []
        elif tag == "a" and attrs.get("class") == "ar-toc-link":
            self.link = [attrs["href"], []]

    def handle_endtag(self, tag):
        if tag == "table" and self.depth:
            self.depth -= 1
        elif tag in ("td", "th") and self.cell is not None:
            self.cells.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "a" and self.link:
            self.toc.append((self.link[0], "".join(self.link[1]).strip()))
            self.link = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.link:
            self.link[1].append(data)


def parsed(html: str, table_class: str = "ar-groups") -> Cells:
    parser = Cells(table_class)
    parser.feed(html)
    return parser


EXPECTED_CHARTS = {
    "group_fairness": ["disparate_impact", "differences"],
    "subgroup_auc": ["auc"],
    "automation_bias": ["reliability", "ece"],
    "labelling_bias": ["base_rate"],
    "sampling_bias": ["shares"],
    "proxy_leakage": ["leakage"],
    "counterfactual": ["flip_rate", "probability_change"],
}


def test_sections_come_in_the_report_order_with_anchors(document, html):
    sections = report_context(document)["view"]["sections"]
    assert [s["check_id"] for s in sections] == CHECK_ORDER
    positions = [html.index(f'id="check-{check_id}"') for check_id in CHECK_ORDER]
    assert positions == sorted(positions)
    for section in sections:
        assert f'<h2>{section["title"]}</h2>' in html
        assert all(b["anchor"].startswith(f"check-{section['check_id']}-") for b in section["blocks"])


def test_contents_link_each_check_with_its_worst_status(document, html):
    toc = parsed(html).toc
    # Every check in its order, then the regulatory mapping that draws on them.
    assert [href for href, _ in toc] == [f"#check-{c}" for c in CHECK_ORDER] + ["#regulatory"]
    view = report_context(document)["view"]
    for section in view["sections"]:
        statuses = [c["status"] for c in document["checks"] if c["id"] == section["check_id"]]
        assert section["status"]["code"] == worst(statuses)
    nav = html[html.index('<nav class="ar-toc"'):html.index("</nav>")]
    assert nav.count("ar-badge ar-badge-sm") == len(CHECK_ORDER)
    # The summary, cards, provenance and policy are still there.
    for text in ("Provenance and policy", "Manifest SHA-256", "Model", "Dataset", "a" * 64, "default (version 1)"):
        assert text in html


def test_worst_status_over_attributes():
    assert worst(["pass", "warn", "skipped"]) == "warn"
    assert worst(["pass", "fail", "error"]) == "error"
    assert worst(["skipped", "skipped"]) == "skipped"
    assert worst(["skipped", "pass"]) == "pass"


@pytest.mark.parametrize("check_id", CHECK_ORDER)
def test_each_check_renders_blocks_tables_and_charts(document, html, check_id):
    results = [c for c in document["checks"] if c["id"] == check_id]
    assert results, f"the synthetic audit produced no {check_id} result"
    section = next(s for s in report_context(document)["view"]["sections"] if s["check_id"] == check_id)
    charts = report_charts(document)
    assert len(section["blocks"]) == len(results)
    for result, block in zip(results, section["blocks"], strict=True):
        assert block["attribute"] == result["attribute"]
        assert block["status"]["code"] == result["status"]
        assert [m["name"] for m in block["metrics"]] == list(result["metrics"])
        if result["status"] == "skipped":
            continue
        assert block["tables"], f"{check_id}:{result['attribute']} has no per-group table"
        names = EXPECTED_CHARTS[check_id]
        if check_id == "sampling_bias" and " & " in result["attribute"]:
            names = ["intersection_counts"]  # intersections: a heat map instead of bars
        for name in names:
            key = f"{check_id}:{result['attribute']}:{name}"
            assert key in charts, key
            assert str(charts[key]) in html  # inline, as it is: no <img>, no script
        for metric in block["metrics"]:
            for cell in (metric["label"], metric["value"], metric["interval"], metric["range"]):
                assert escape(cell) in html


def test_figures_per_group_are_scalar_only(document, html):
    automation = [c for c in document["checks"] if c["id"] == "automation_bias"]
    assert any(isinstance(v, list) for c in automation for f in c["groups"].values() for v in f.values())
    cells = parsed(html).cells
    # A list printed into a cell would read "0.512, 0.634, 0.701, ..."; an interval has one comma.
    assert cells and not [c for c in cells if re.search(r"(\d[\d.]*, ){2,}\d", c)]
    for section in report_context(document)["view"]["sections"]:
        for block in section["blocks"]:
            for table in block["tables"]:
                assert not [c["key"] for c in table["columns"] if c["key"].startswith("reliability_")]
    assert "reliability_" not in html.split("<svg")[0]


def test_every_group_keeps_its_status_in_the_first_table_and_intervals_name_their_method(document, html):
    statuses = {}
    for section in report_context(document)["view"]["sections"]:
        for block, result in zip(section["blocks"], [c for c in document["checks"] if c["id"] == section["check_id"]],
                                 strict=True):
            if not block["tables"] or not any("status" in f for f in result["groups"].values()):
                continue
            first = block["tables"][0]
            assert first["status"], (section["check_id"], block["attribute"])
            for row in first["rows"]:
                expected = result["groups"][row["group"]].get("status")
                assert (row["status"] or {}).get("code") == expected
                statuses[expected] = statuses.get(expected, 0) + 1
            assert "status" not in [c["key"] for c in first["columns"]]
    assert {"pass", "insufficient"} <= set(statuses)
    assert '<th scope="col">Status</th>' in html and ">Insufficient</span>" in html and ">Rows needed<" in html
    # Each metric's interval says how it was made.
    for method in ("Wilson score", "Newcombe hybrid score", "Katz log interval", "bias-corrected percentile bootstrap"):
        assert method in html


def test_every_chart_is_safe_and_fits_the_page(document):
    for key, svg in report_charts(document).items():
        root = ET.fromstring(str(svg))
        assert float(root.get("width")) <= 680, key  # A4 content width at 96 dpi is 673 px; scaled to fit
        assert float(root.get("height")) <= 960, key  # one chart never needs more than a page
        assert not [el for el in root.iter() if el.tag.split("}")[1] in ("script", "foreignObject", "image")]
        assert all(not name.startswith("on") for el in root.iter() for name in el.attrib), key
        sizes = {float(el.get("font-size")) for el in root.iter() if el.get("font-size")}
        assert sizes and min(sizes) >= 10 and max(sizes) <= 12, (key, sizes)


def test_user_text_is_escaped_in_the_html(html):
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_counterfactual_examples_side_by_side(document, html):
    results = [c for c in document["checks"] if c["id"] == "counterfactual" and c["examples"]]
    assert results
    rows = parsed(html, "ar-examples").cells
    for result in results:
        for example in result["examples"]:
            assert f"P(favourable) {example['original_probability']:.3f}" in html
            assert f"P(favourable) {example['variant_probability']:.3f}" in html
    assert any(EVIL_TEXT in cell for cell in rows)  # the text itself, unescaped once parsed
    # The keys first announced for the check read just as well.
    other = report_document([announced_counterfactual()])
    view = report_context(other)["view"]
    [example] = view["sections"][0]["blocks"][0]["examples"]
    assert (example["p_original"], example["p_variant"], example["change"]) == ("0.412", "0.871", "+0.459")
    assert example["flipped"] and example["swap"] == "gay → straight"


def test_dates_are_readable_on_the_page_and_iso_in_the_json(document, html):
    assert document["audit"]["created_at"] == "2025-03-04T05:06:07.123456+00:00"
    assert ">2025-03-04 05:06 UTC</time>" in html
    assert ">2025-03-04 05:08 UTC</time>" in html  # 07:08 at +02:00
    assert 'datetime="2025-03-04T05:06:07.123456+00:00"' in html


def test_skipped_error_and_unknown_results_render_without_charts():
    checks = [
        {"id": "zz_new_check", "attribute": "gender", "status": "pass", "message": "New.",
         "metrics": {"odd_metric": {"value": 1.5, "ci_low": None, "ci_high": None, "threshold": None,
                                    "status": "info"}}, "groups": {"a": {"figure": 2.0, "bins": [1, 2]}}},
        {"id": "group_fairness", "attribute": None, "status": "error", "message": "ValueError: broken",
         "metrics": {}, "groups": {}},
        {"id": "subgroup_auc", "attribute": "age", "status": "skipped", "message": "Too few rows.",
         "metrics": {}, "groups": {}},
    ]
    document = report_document(checks)
    view = report_context(document)["view"]
    assert [s["check_id"] for s in view["sections"]] == ["group_fairness", "subgroup_auc", "zz_new_check"]
    assert not report_charts(document)
    html = render_html(document)
    assert "ValueError: broken" in html and "Too few rows." in html and "Odd metric" in html
    assert "None" not in html.split("<body")[1]
    [table] = view["sections"][2]["blocks"][0]["tables"]
    assert [c["key"] for c in table["columns"]] == ["figure"]  # "bins" is a list: not a column
