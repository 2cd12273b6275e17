"""The Explanations section of the report, prepared from report.json's "explanations".

Cells are plain strings, autoescaped by the template. The only safe HTML here comes
from explain.html (highlight_html, attention_svg, legend_html), which escapes every
token itself; nothing from the dataset is marked safe in this module.
"""
from __future__ import annotations

from collections.abc import Mapping

from explain.aggregate import METHOD_NAMES
from explain.html import attention_svg, highlight_html, legend_html

from .formatting import fmt

REASONS = {
    "counterfactual": "an identity-term swap changed its output most",
    "misclassified": "misclassified",
    "near_threshold": "near the decision threshold",
    "random": "random sample",
}
TOP_WORDS = 10


def method_name(method: str) -> str:
    name = METHOD_NAMES.get(method, method)
    return name[0].upper() + name[1:] if name else str(method)


def _reason(reason) -> str:
    if reason is None:
        return "—"
    reason = str(reason)
    if reason in REASONS:
        return REASONS[reason]
    if reason.startswith("group"):  # e.g. "group:gender=female" from the stratified draw
        return "represents its group" + (f" ({reason.partition(':')[2]})" if ":" in reason else "")
    return reason


def _pair_label(key: str) -> str:
    a, _, b = str(key).partition("~")
    return f"{method_name(a)} vs {method_name(b)}" if b else method_name(a)


def _top_words(rows) -> str:
    words = []
    for row in (rows or [])[:TOP_WORDS]:
        if isinstance(row, Mapping):
            mark = " *" if row.get("identity") else ""
            words.append(f"{row.get('word')}{mark} ({fmt(row.get('mean'))})")
    return ", ".join(words) or "—"


def _example(example: Mapping, methods: list[str]) -> dict:
    words = [str(w) for w in example.get("words") or []]
    highlights = []
    heatmap = None
    for method in methods:
        found = (example.get("methods") or {}).get(method)
        if not isinstance(found, Mapping):
            continue
        scores = found.get("word_scores")
        if scores is not None and len(scores) == len(words):
            html = highlight_html(words, [float(s or 0.0) for s in scores], label=method_name(method))
        else:  # the method's own units, when its words do not line up with the tokenizer's
            html = highlight_html([str(t) for t in found.get("tokens") or []],
                                  [float(s or 0.0) for s in found.get("scores") or []], label=method_name(method))
        faithful = (example.get("faithfulness") or {}).get(method) or {}
        highlights.append({
            "method": method_name(method), "html": html,
            "comprehensiveness": fmt(faithful.get("comprehensiveness")),
            "sufficiency": fmt(faithful.get("sufficiency")),
        })
        extra = found.get("extra") or {}
        rollout = extra.get("heatmap") if isinstance(extra, Mapping) else None
        if method == "attention" and isinstance(rollout, Mapping) and rollout.get("tokens"):
            heatmap = attention_svg([str(t) for t in rollout["tokens"]], rollout.get("matrix") or [],
                                    title="Attention rollout")
    groups = example.get("groups") or {}
    return {
        "row": fmt(example.get("row"), "row"),
        "reason": _reason(example.get("reason")),
        "predicted": fmt(example.get("predicted")),
        "predicted_label": fmt(example.get("predicted_label")),
        "label": fmt(example.get("label")),
        "groups": ", ".join(f"{a}: {fmt(v)}" for a, v in groups.items()) if isinstance(groups, Mapping) else "",
        "highlights": highlights,
        "heatmap": heatmap,
    }


def explanations_view(explanations) -> dict | None:
    """None when no explanations ran ([] in the document); {"error"} when they failed."""
    if not explanations or not isinstance(explanations, Mapping):
        return None
    if explanations.get("error"):
        return {"error": str(explanations["error"])}
    methods = [str(m) for m in explanations.get("methods") or []]
    overview = explanations.get("global") or {}
    faithfulness = explanations.get("faithfulness") or {}
    share = (overview.get("identity_share") or {})
    share_groups = share.get("groups") or {}
    return {
        "error": None,
        "count": len(explanations.get("examples") or []),
        "favourable_label": fmt(explanations.get("favourable_label")),
        "legend": legend_html(),
        "identity_terms": [str(s) for s in explanations.get("identity_terms") or []],
        "faithfulness": [
            {"method": method_name(m), "comprehensiveness": fmt((faithfulness.get(m) or {}).get("comprehensiveness")),
             "sufficiency": fmt((faithfulness.get(m) or {}).get("sufficiency")),
             "examples": fmt((faithfulness.get(m) or {}).get("examples"), "count")}
            for m in methods
        ],
        "agreement": [
            {"pair": _pair_label(key), "spearman": fmt((value or {}).get("spearman")),
             "examples": fmt((value or {}).get("examples"), "count")}
            for key, value in (explanations.get("agreement") or {}).items()
        ],
        "top_words": [{"method": method_name(m), "words": _top_words((overview.get("overall") or {}).get(m))}
                      for m in methods],
        "methods": [method_name(m) for m in methods],
        "identity_share": [
            {"attribute": "All explained rows", "group": "", "shares": [fmt((share.get("overall") or {}).get(m)) for m in methods]},
            *({"attribute": str(attribute), "group": str(group),
               "shares": [fmt((values or {}).get(m)) for m in methods]}
              for attribute, groups in share_groups.items() for group, values in (groups or {}).items()),
        ],
        "examples": [_example(e, methods) for e in explanations.get("examples") or [] if isinstance(e, Mapping)],
    }
