"""The report templates' context (report_context): what they show, prepared from the document in Python.

The findings are regrouped for reading: one section per check, in a fixed order (the
data, then the model's decisions, then its scores), each holding one block per
attribute, and a table of contents with each check's worst status. Cells are plain
strings (see tables.py); nothing here is marked safe except the charts and the
explanation highlights (explanations_view.py; escaped when built).
"""
from __future__ import annotations

import re

from .charts import chart_names, report_charts
from .compression_view import compression_view
from .document import STATUSES, check_verdict
from .explanations_view import explanations_view
from .formatting import (
    CHECK_ORDER,
    CHECK_QUESTIONS,
    check_title,
    fmt,
    fmt_datetime,
    fmt_range,
    metric_label,
    status_info,
)
from .mitigation_view import mitigation_view
from .regulatory import regulatory_view
from .summary import summary_view
from .tables import example_rows, group_tables, metric_rows, pair_rows

# Shown where they belong; the rest behind "show more" on the page and in the PDF's appendix.
EXAMPLES_SHOWN = 5
EXPLANATIONS_SHOWN = 3
# Details open on the page (and in the PDF's body rather than its appendix).
OPEN_STATUSES = ("fail", "error")
JUDGED_STATUSES = ("fail", "warn", "error")


def anchor(check_id: str) -> str:
    # ids come from the check registry, but the document is data: keep ids to a safe alphabet.
    return "check-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", check_id).strip("-") or "unnamed")


def _block(check: dict, charts: dict, index: int) -> dict:
    check_id, attribute = str(check.get("id")), check.get("attribute")
    prefix = f"{check_id}:{attribute}:"
    examples = example_rows(check)
    return {
        "anchor": _block_anchor(check_id, index),
        "attribute": "" if attribute is None else str(attribute),
        "status": status_info(check.get("status")),
        "message": str(check.get("message") or ""),
        "metrics": metric_rows(check),
        "tables": group_tables(check),
        "examples": examples[:EXAMPLES_SHOWN],
        "examples_more": examples[EXAMPLES_SHOWN:],
        "pairs": pair_rows(check),  # stereotype_pairs' worst pairs, side by side
        "open": check.get("status") in OPEN_STATUSES,
        # Outside the policy, or broken: stated in the PDF's body (the rest is linked).
        "judged": check.get("status") in JUDGED_STATUSES,
        # Looked up by exact key: an attribute name may itself contain ":".
        "charts": [charts[prefix + name] for name in chart_names(check_id) if prefix + name in charts],
    }


def _by_check(checks: list) -> list[tuple[str, list[dict]]]:
    """Results grouped per check id: known ids in CHECK_ORDER, others after in order of appearance."""
    by_id: dict[str, list[dict]] = {}
    for check in checks:
        if isinstance(check, dict):
            by_id.setdefault(str(check.get("id")), []).append(check)
    order = [c for c in CHECK_ORDER if c in by_id] + [c for c in by_id if c not in CHECK_ORDER]
    return [(check_id, by_id[check_id]) for check_id in order]


def _block_anchor(check_id: str, index: int) -> str:
    return f"{anchor(check_id)}-{index}"


def check_sections(checks: list, charts: dict) -> list[dict]:
    """One section per check id, in the report's order, one block per attribute."""
    sections = []
    for check_id, results in _by_check(checks):
        section_anchor = anchor(check_id)
        blocks = [_block(c, charts, i) for i, c in enumerate(results, start=1)]
        sections.append({
            "check_id": check_id, "anchor": section_anchor, "title": check_title(check_id),
            "question": CHECK_QUESTIONS.get(check_id, ""),
            # A check that errored on one attribute is broken, one that failed breaches the
            # policy; skipped attributes do not hide the others, and a check with nothing
            # judged on any attribute is inconclusive (document.check_verdict).
            "status": status_info(check_verdict(b["status"]["code"] for b in blocks)),
            "blocks": blocks,
            "judged": any(b["judged"] for b in blocks),
            "unjudged": not all(b["judged"] for b in blocks),
        })
    return sections


def summary_rows(checks: list) -> list[dict]:
    """The summary's rows (summary.py), each line linking to its block's details."""
    return summary_view([(check, _block_anchor(check_id, i))
                         for check_id, results in _by_check(checks)
                         for i, check in enumerate(results, start=1)])


def report_view(document: dict, charts: dict) -> dict:
    summary = document.get("summary") or {}
    counts = summary.get("counts") or {}
    audit = document.get("audit") or {}
    dataset = document.get("dataset") or {}
    protected = dataset.get("protected_attributes") or {}
    if isinstance(protected, list):
        protected = dict.fromkeys(protected)
    thresholds = (document.get("policy") or {}).get("thresholds") or {}
    sections = check_sections(document.get("checks") or [], charts)
    explanations = explanations_view(document.get("explanations"))
    if explanations and not explanations.get("error"):
        explanations["examples_more"] = explanations["examples"][EXPLANATIONS_SHOWN:]
        explanations["examples"] = explanations["examples"][:EXPLANATIONS_SHOWN]
    return {
        "verdict": status_info(summary.get("status")),
        "counts": [{"status": status_info(s), "count": counts.get(s, 0)}
                   for s in STATUSES],
        # The document keeps ISO 8601 (machines read it); people read this.
        "created_at": fmt_datetime(audit.get("created_at")),
        "finished_at": fmt_datetime(audit.get("finished_at")),
        "labels": [{"id": str(k), "name": fmt(v)} for k, v in ((document.get("model") or {}).get("labels") or {}).items()],
        "num_parameters": fmt((document.get("model") or {}).get("num_parameters"), "count"),
        "rows": fmt(dataset.get("rows"), "count"),
        "favorable_label": fmt(dataset.get("favorable_label")),
        "protected": [{"attribute": str(a), "privileged": fmt(p)} for a, p in protected.items()],
        "thresholds": [{"label": metric_label(n), "name": n, "range": fmt_range(t, n)} for n, t in thresholds.items()],
        "sections": sections,
        "summary": summary_rows(document.get("checks") or []),
        "explanations": explanations,
        "regulatory": regulatory_view(document),
        "mitigation": mitigation_view(document.get("mitigation")),
        "compression": compression_view(document.get("compression")),
    }


def report_context(document: dict) -> dict:
    """Template context for report_body.html: the document, its charts, and the view."""
    charts = report_charts(document)
    return {"report": document, "charts": charts, "view": report_view(document, charts)}
