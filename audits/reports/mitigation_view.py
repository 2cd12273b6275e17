"""The Mitigation section, prepared from report.json's "mitigation" for the templates.

Used by the audit report (HTML and PDF, through report_body.html) and by the
mitigation run's own page, so both show the same figures. Cells are plain strings,
autoescaped by templates/audits/report_mitigation.html; only the sweep chart is marked
safe (drawn through svg.Canvas, which escapes every text).
"""
from __future__ import annotations

from django.utils.safestring import mark_safe

from .charts_mitigation import sweep_chart
from .formatting import fmt, fmt_interval, metric_label

METHOD_LABELS = {"adversarial": "Adversarial debiasing (Zhang, Lemoine & Mitchell 2018)",
                 "reweighing": "Reweighing (Kamiran & Calders)", "threshold": "Threshold post-processing",
                 "balancing": "Data balancing (Dixon et al. 2018)"}
GOAL_LABELS = {"demographic_parity": "demographic parity", "equalised_odds": "equalised odds"}
SETTING_LABELS = {"goal": "Goal", "adversary_weight": "Adversary weight", "epochs": "Epochs",
                  "unfreeze_layers": "Unfrozen encoder layers", "learning_rate": "Learning rate",
                  "sweep": "Sweep of adversary weights", "held_out": "Held-out share", "batch_size": "Batch size",
                  "accuracy_budget": "Accuracy budget", "seed": "Seed", "adversary_input": "Adversary reads",
                  "adversary_steps": "Adversary steps per batch", "momentum": "Momentum (Adam's beta1)",
                  "lr_decay": "Learning-rate decay", "lora_rank": "LoRA rank (decoders)",
                  "adversary_l2": "Adversary L2 penalty"}
# Accuracy and AUC lead the table: the cost is read before the gain.
LEADING = ("accuracy", "roc_auc")


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(rows) -> str:
    if isinstance(rows, list):
        return fmt(len(rows), "count")
    return fmt(rows, "count")


def _setting(name: str, value) -> dict:
    if name == "goal":
        value = GOAL_LABELS.get(str(value), value)
    elif isinstance(value, list):
        value = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:g}"
    return {"label": SETTING_LABELS.get(name, name.replace("_", " ").capitalize()), "value": fmt(value)}


def _rows(before: dict, after: dict) -> list[dict]:
    # "groups" holds per-group point values for the check by audit, not a figure row.
    names = [n for n in list(before) + [n for n in after if n not in before] if n != "groups"]
    names = [n for n in LEADING if n in names] + [n for n in names if n not in LEADING]
    rows = []
    for name in names:
        b, a = before.get(name) or {}, after.get(name) or {}
        if not isinstance(b, dict) or not isinstance(a, dict):
            continue
        bv, av = _number(b.get("value")), _number(a.get("value"))
        rows.append({
            "label": metric_label(name), "name": name,
            "before": fmt(b.get("value")), "before_ci": fmt_interval(b.get("ci_low"), b.get("ci_high")),
            "after": fmt(a.get("value")), "after_ci": fmt_interval(a.get("ci_low"), a.get("ci_high")),
            "change": fmt(av - bv) if bv is not None and av is not None else fmt(None),
            "group": fmt(a.get("group") or b.get("group")) if (a.get("group") or b.get("group")) else "",
        })
    return rows


def _accuracy_cost(section: dict, before: dict, after: dict) -> str:
    b = _number((before.get("accuracy") or {}).get("value"))
    a = _number((after.get("accuracy") or {}).get("value"))
    cost = _number(section.get("accuracy_cost"))
    if cost is None and b is not None and a is not None:
        cost = b - a
    if cost is None:
        return fmt(None)
    if abs(cost) < 5e-4:
        return "none (within 0.1 percentage points)"
    # The sign is in the word: "10.0 percentage points gained", never "-10.0 ... gained".
    return f"{abs(cost) * 100:.1f} percentage points {'lost' if cost > 0 else 'gained'}"


def _sweep_rows(sweep) -> tuple[list[str], list[dict]]:
    points = [p for p in (sweep or []) if isinstance(p, dict)]
    columns = [k for k in dict.fromkeys(k for p in points for k in p) if k != "adversary_weight"]
    rows = [{"weight": fmt(p.get("adversary_weight")) if not isinstance(p.get("adversary_weight"), float)
             else f"{p['adversary_weight']:g}", "cells": [fmt(p.get(c)) for c in columns]} for p in points]
    return [metric_label(c) for c in columns], rows


def _recommendation(recommendation: dict, registered: bool) -> dict | None:
    """The recommendation in words. When none of the candidates is recommended but the run
    still registered its model (so that it can be audited and compared), the page says
    both, rather than "keep the parent model" beside a new model's link."""
    if not recommendation:
        return None
    method = str(recommendation.get("method"))
    if method == "none":
        label = "none of the candidates; the parent model remains the better choice"
    else:
        label = METHOD_LABELS.get(method, fmt(method))
    if _number(recommendation.get("adversary_weight")) is not None:
        label += f" at adversary weight {recommendation['adversary_weight']:g}"
    note = ("The debiased model is registered, so that it can be audited and compared, but it is not recommended."
            if method == "none" and registered else "")
    return {"method": label, "reason": fmt(recommendation.get("reason")), "note": note}


def _comparison(rows) -> list[dict]:
    out = []
    for c in rows if isinstance(rows, list) else []:
        if not isinstance(c, dict):
            continue
        name = METHOD_LABELS.get(str(c.get("method")), fmt(c.get("method")))
        if _number(c.get("adversary_weight")) is not None:
            name += f", weight {c['adversary_weight']:g}"
        out.append({"candidate": name, "accuracy": fmt(c.get("accuracy")), "gap": fmt(c.get("fairness_gap")),
                    "makes_model": "yes" if c.get("makes_model") else "no (needs the group at prediction time)"})
    return out


def _thresholds(rules) -> list[dict]:
    if not isinstance(rules, dict):
        return []
    return [{"group": str(g), "rule": ", ".join(f"{k} {fmt(v)}" for k, v in r.items()) if isinstance(r, dict)
             else fmt(r)} for g, r in rules.items()]


def mitigation_view(section) -> dict | None:
    """Template data for one "mitigation" section, or None when there is none."""
    if not isinstance(section, dict):
        return None
    before = section.get("before") if isinstance(section.get("before"), dict) else {}
    after = section.get("after") if isinstance(section.get("after"), dict) else {}
    settings = section.get("settings") if isinstance(section.get("settings"), dict) else {}
    recommendation = section.get("recommendation") if isinstance(section.get("recommendation"), dict) else {}
    adversary = section.get("adversary_accuracy")
    sweep_columns, sweep_rows = _sweep_rows(section.get("sweep"))
    gap = section.get("fairness_gap") if isinstance(section.get("fairness_gap"), dict) else {}
    model = section.get("model") if isinstance(section.get("model"), dict) else {}
    chart = sweep_chart(section.get("sweep"), settings.get("adversary_weight"))
    method = str(section.get("method") or "")
    return {
        "method": METHOD_LABELS.get(method, fmt(section.get("method"))),
        "attribute": fmt(section.get("attribute")),
        "model_sha256": fmt(section.get("model_sha256")),
        "settings": [_setting(k, v) for k, v in settings.items()],
        "held_out_rows": _count(section.get("held_out_rows")),
        "train_rows": _count(section.get("train_rows")),
        "rows": _rows(before, after),
        "accuracy_cost": _accuracy_cost(section, before, after),
        "gap": {"definition": fmt(gap.get("definition")), "before": fmt(gap.get("before")),
                "after": fmt(gap.get("after"))} if gap else None,
        "model_note": str(model.get("note") or ""),
        "recommendation": _recommendation(recommendation, isinstance(section.get("model_sha256"), str)),
        "comparison": _comparison(section.get("comparison")),
        "thresholds": _thresholds(section.get("thresholds")),
        "adversary": ([{"label": str(k).replace("_", " ").capitalize(), "value": fmt(v)} for k, v in adversary.items()]
                      if isinstance(adversary, dict) else
                      ([{"label": "Adversary accuracy", "value": fmt(adversary)}] if adversary is not None else [])),
        "sweep_columns": sweep_columns,
        "sweep_rows": sweep_rows,
        # Safe: drawn through svg.Canvas, which escapes every text and attribute.
        "sweep_chart": mark_safe(chart) if chart else None,
    }


SIDE_LABELS = {"before": "Parent model", "after": "New model"}


def _precise(value) -> str:
    # Six decimals: agreement to rounding should be visible, not hidden by three.
    return f"{value:.6f}" if isinstance(value, int | float) else fmt(None)


def _difference(value) -> str:
    if value is None:
        return fmt(None)
    return "0" if value == 0 else f"{value:.1e}"


def _verdict(rows: list[dict]) -> str:
    if not rows:
        return ("The audit states none of the run's figures: it compares the group-fairness check's groups,"
                " and accuracy and ROC AUC where the automation-bias and subgroup-AUC checks ran.")
    wrong = [r for r in rows if not r["agrees"]]
    if not wrong:
        return f"All {len(rows)} figures agree."
    named = ", ".join(f"{SIDE_LABELS[r['side']].lower()} {metric_label(r['figure'])}"
                      + (f" ({r['group']})" if r["group"] else "") for r in wrong)
    return f"{len(wrong)} of {len(rows)} figures do not agree: {named}."


def verification_view(*, rows: list[dict], dataset, before, after) -> dict:
    """Template data for "Checked by audit": the held-out dataset, the two audits (model
    instances the view fetched through the user's organisation, or None), and the rows of
    audits.services.mitigation_verify.verification_rows as text."""
    audits = [{"id": f"{side}-audit", "label": SIDE_LABELS[side], "audit": a}
              for side, a in (("before", before), ("after", after))]
    done = [a is not None and a.status == a.Status.DONE for a in (before, after)]
    return {
        "dataset": dataset,
        "audits": audits,
        "pending": any(a is not None and not a.is_finished for a in (before, after)),
        "after_done": done[1],
        "compare": all(done),
        "before": before, "after": after,
        "rows": [{"model": SIDE_LABELS.get(r["side"], r["side"]), "figure": metric_label(r["figure"]),
                  "group": r["group"] or "all rows", "run": _precise(r["run"]), "audit": _precise(r["audit"]),
                  "difference": _difference(r["difference"]), "agrees": "yes" if r["agrees"] else "no"}
                 for r in rows],
        "verdict": _verdict(rows),
        "all_agree": bool(rows) and all(r["agrees"] for r in rows),
    }
