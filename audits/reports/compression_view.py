"""report.json's `compression` section as rows for people: one overview row per model
(the parent first), and per variant its verdict, the groups it cost, its metrics beside
the parent's, and the worst disagreeing rows. Text from the document stays text; the
template escapes it."""
from __future__ import annotations

from .formatting import DASH, check_title, fmt, fmt_interval, metric_label, status_info


def _signed(value) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return DASH
    text = fmt(value)
    return text if text.startswith("-") or text == "0.000" else "+" + text


def _rate(entry) -> tuple[str, str]:
    entry = entry if isinstance(entry, dict) else {}
    return fmt(entry.get("value")), fmt_interval(entry.get("ci_low"), entry.get("ci_high"))


def _mb(size) -> str:
    return f"{size / 1e6:.1f} MB" if isinstance(size, int | float) else DASH


def _overview(model: dict, recipe: str, parent_accuracy) -> dict:
    accuracy, accuracy_ci = _rate(model.get("accuracy"))
    agreement, agreement_ci = _rate(model.get("agreement_with_parent"))
    verdict = model.get("verdict") or {}
    change = None
    if isinstance(parent_accuracy, int | float) and isinstance((model.get("accuracy") or {}).get("value"), float):
        change = model["accuracy"]["value"] - parent_accuracy
    speed = model.get("texts_per_second")
    parameters = fmt(model.get("parameters"), "count")
    nonzero = model.get("nonzero_parameters")
    if isinstance(nonzero, int) and nonzero != model.get("parameters"):
        parameters += f" ({fmt(nonzero, 'count')} non-zero)"
    return {"recipe": recipe, "size": _mb(model.get("size_bytes")), "parameters": parameters,
            "speed": f"{speed:.1f}" if isinstance(speed, int | float) else DASH, "accuracy": accuracy, "accuracy_ci": accuracy_ci,
            "accuracy_change": _signed(change) if recipe != "parent" else DASH,
            "agreement": agreement if recipe != "parent" else DASH, "agreement_ci": agreement_ci if recipe != "parent"
            else DASH, "status": status_info(verdict.get("status") or model.get("status")),
            "error": model.get("error") or ""}


def _groups(by_group: dict) -> list[dict]:
    rows = []
    for attribute, groups in (by_group or {}).items():
        for group, g in (groups or {}).items():
            rows.append({
                "attribute": str(attribute), "group": str(group), "rows": fmt(g.get("rows"), "count"),
                "parent": fmt(g.get("accuracy_parent")), "variant": fmt(g.get("accuracy_variant")),
                "change": _signed(g.get("accuracy_change")),
                "change_ci": fmt_interval(g.get("accuracy_change_ci_low"), g.get("accuracy_change_ci_high")),
                "disagreement": fmt(g.get("disagreement")),
                "disagreement_ci": fmt_interval(g.get("disagreement_ci_low"), g.get("disagreement_ci_high")),
                "costs": bool(g.get("costs")), "insufficient": bool(g.get("insufficient")),
            })
    return rows


def _metrics(checks: list[dict]) -> list[dict]:
    rows = []
    for check in checks or []:
        for name, m in (check.get("metrics") or {}).items():
            if not isinstance(m, dict) or isinstance(m.get("value"), list | dict):
                continue
            rows.append({"check": check_title(str(check.get("id"))), "attribute": check.get("attribute") or DASH,
                         "label": metric_label(name), "parent": fmt(m.get("parent_value"), name),
                         "variant": fmt(m.get("value"), name), "ci": fmt_interval(m.get("ci_low"), m.get("ci_high")),
                         "change": _signed(m.get("change")), "status": status_info(m.get("status"))})
    return rows


def compression_view(section: dict | None) -> dict | None:
    """The template's view of the section, or None when the audit compressed nothing."""
    if not section:
        return None
    parent = section.get("parent") or {}
    parent_accuracy = (parent.get("accuracy") or {}).get("value")
    variants = section.get("variants") or []
    details = []
    for i, v in enumerate(variants, start=1):
        verdict = v.get("verdict") or {}
        details.append({
            "anchor": f"compression-{i}", "recipe": str(v.get("recipe")), "name": v.get("name") or "",
            "model_id": v.get("model_id"), "error": v.get("error") or "", "verdict": verdict.get("text") or "",
            "status": status_info(verdict.get("status") or v.get("status")),
            "groups": _groups(v.get("disagreement_by_group")), "metrics": _metrics(v.get("checks")),
            "examples": [{"row": e.get("row"), "text": str(e.get("text", "")), "parent": fmt(e.get("parent_probability")),
                          "variant": fmt(e.get("variant_probability")),
                          "groups": ", ".join(f"{k}={g}" for k, g in (e.get("groups") or {}).items())}
                         for e in v.get("worst_examples") or []],
        })
    fast = section.get("fast_path") or {}
    return {"overview": [_overview(parent, "parent", parent_accuracy)]
            + [_overview(v, str(v.get("recipe")), parent_accuracy) for v in variants],
            "variants": details, "fast_path": fast.get("reason") or "", "parent_name": parent.get("name") or ""}
