"""The Explanations section of the report, prepared from report.json's "explanations".

Cells are plain strings, autoescaped by the template. The only safe HTML here comes
from explain.html (highlight_html, attention_svg, legend_html), which escapes every
token itself; nothing from the dataset is marked safe in this module.
"""
from __future__ import annotations

from collections.abc import Mapping

from explain.aggregate import METHOD_NAMES
from explain.html import attention_svg, highlight_html, legend_html, score_scale

from .formatting import fmt

REASONS = {
    "counterfactual": "an identity-term swap changed its output most",
    "misclassified": "misclassified",
    "near_threshold": "near the decision threshold",
    "random": "random sample",
}
TOP_WORDS = 10
TOP_SCORES = 5  # per method and row, written out beside the colours


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


def _units(example: Mapping, method: str) -> tuple[list[str], list[float]] | None:
    """The words and scores one method gives a row: per word when its words line up with
    the row's, else in the method's own units (tokens)."""
    found = (example.get("methods") or {}).get(method)
    if not isinstance(found, Mapping):
        return None
    words = [str(w) for w in example.get("words") or []]
    scores = found.get("word_scores")
    if scores is not None and len(scores) == len(words):
        return words, [float(s or 0.0) for s in scores]
    return [str(t) for t in found.get("tokens") or []], [float(s or 0.0) for s in found.get("scores") or []]


def method_scales(examples: list[Mapping], methods: list[str]) -> dict[str, float]:
    """One colour scale per method over every explained row: a row whose scores are all
    small stays pale instead of being stretched to full colour."""
    scales = dict.fromkeys(methods, 0.0)
    for example in examples:
        for method in methods:
            if (units := _units(example, method)) is not None:
                scales[method] = max(scales[method], score_scale(units[1]))
    return scales


def _top_scores(words: list[str], scores: list[float]) -> str:
    ranked = sorted(zip(words, scores, strict=True), key=lambda pair: -abs(pair[1]))[:TOP_SCORES]
    return ", ".join(f"{word} {score:+.3f}" for word, score in ranked) or "—"


def _score_table(units: dict[str, tuple[list[str], list[float]]], methods: list[str]) -> dict | None:
    """Every word's score by method, for a reader without a mouse (the tooltips' values).
    Methods that score the row's words share rows; one that scores its own tokens has
    its own table."""
    shared = [m for m in methods if m in units and units[m][0] == next(iter(units.values()))[0]]
    if not shared:
        return None
    words = units[shared[0]][0]
    return {"methods": [method_name(m) for m in shared],
            "rows": [{"word": w, "scores": [f"{units[m][1][i]:+.4f}" for m in shared]} for i, w in enumerate(words)]}


def _example(example: Mapping, methods: list[str], scales: dict[str, float]) -> dict:
    highlights = []
    heatmap = heatmap_print = None
    units = {}
    for method in methods:
        found = _units(example, method)
        if found is None:
            continue
        units[method] = found
        faithful = (example.get("faithfulness") or {}).get(method) or {}
        highlights.append({
            "method": method_name(method),
            "html": highlight_html(found[0], found[1], scale=scales.get(method), label=method_name(method)),
            "top": _top_scores(*found),
            "comprehensiveness": fmt(faithful.get("comprehensiveness")),
            "sufficiency": fmt(faithful.get("sufficiency")),
        })
        extra = ((example.get("methods") or {}).get(method) or {}).get("extra") or {}
        rollout = extra.get("heatmap") if isinstance(extra, Mapping) else None
        if method == "attention" and isinstance(rollout, Mapping) and rollout.get("tokens"):
            tokens, matrix = [str(t) for t in rollout["tokens"]], rollout.get("matrix") or []
            heatmap = attention_svg(tokens, matrix, title="Attention rollout")
            heatmap_print = attention_svg(tokens, matrix, title="Attention rollout", tooltips=False)
    groups = example.get("groups") or {}
    return {
        "row": row_label(example.get("row")),
        "reason": _reason(example.get("reason")),
        "predicted": fmt(example.get("predicted")),
        "predicted_label": fmt(example.get("predicted_label")),
        "label": fmt(example.get("label")),
        "groups": ", ".join(f"{a}: {fmt(v)}" for a, v in groups.items()) if isinstance(groups, Mapping) else "",
        "highlights": highlights,
        "scores": _score_table(units, methods),
        "heatmap": heatmap,
        "heatmap_print": heatmap_print,  # the PDF's: no tooltips, fewer shades (explain.html)
    }


def row_label(row) -> str:
    """A row number as the file has it: 22, never 22.000 (the document may hold a float)."""
    if isinstance(row, float) and row.is_integer():
        row = int(row)
    return str(row) if isinstance(row, int) and not isinstance(row, bool) else fmt(row)


def _perturbation(plan) -> str:
    """Which model ran SHAP's and LIME's perturbed inputs and why, where the audit's rows
    were weighed for a faster copy (audits.services.explain_engine: measured, or too few to
    pass); "" when the audited model ran them unasked (the copies switched off, a GPU)."""
    if not isinstance(plan, Mapping) or "rows" not in plan:
        return ""
    return str(plan.get("reason") or "")


def explanations_view(explanations) -> dict | None:
    """None when no explanations ran ([] in the document); {"error"} when they failed."""
    if not explanations or not isinstance(explanations, Mapping):
        return None
    if explanations.get("error"):
        return {"error": str(explanations["error"])}
    methods = [str(m) for m in explanations.get("methods") or []]
    examples = [e for e in explanations.get("examples") or [] if isinstance(e, Mapping)]
    scales = method_scales(examples, methods)
    overview = explanations.get("global") or {}
    faithfulness = explanations.get("faithfulness") or {}
    share = (overview.get("identity_share") or {})
    share_groups = share.get("groups") or {}
    return {
        "error": None,
        "count": len(explanations.get("examples") or []),
        "favourable_label": fmt(explanations.get("favourable_label")),
        "legend": legend_html(),
        # The score each method's full colour stands for, the same in every row.
        "scales": [{"method": method_name(m), "scale": f"{scales[m]:.3g}"} for m in methods if scales[m] > 0],
        "identity_terms": [str(s) for s in explanations.get("identity_terms") or []],
        "perturbation": _perturbation(explanations.get("perturbation")),
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
        "examples": [{**_example(e, methods, scales), "number": i} for i, e in enumerate(examples, start=1)],
    }
