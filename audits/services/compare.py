"""Two audits side by side (a model before and after debiasing, say): every metric of
every check, per attribute and per group, with both values, both intervals and the
change (second minus first). Rows are matched by check id, attribute and metric name;
what only one audit has is shown against a dash. Figures that are lists (a reliability
diagram's bins) are charts, not rows, and are left out.

`compare_summary` says first which results changed status, better or worse; the page
opens only the sections that changed or fail, so it reads like the report's summary.
"""
from __future__ import annotations

import math

from audits.models import Audit
from audits.reports.formatting import DASH, check_title, fmt, fmt_interval, metric_label, status_info

CI_SUFFIXES = ("_ci_low", "_ci_high")


def audit_compare(*, first: Audit, second: Audit) -> list[dict]:
    """One section per (check, attribute) found in either report, in the first report's order."""
    return checks_compare(first=(first.report or {}).get("checks") or [],
                          second=(second.report or {}).get("checks") or [])


def checks_compare(*, first: list[dict], second: list[dict]) -> list[dict]:
    """audit_compare over two lists of check results (a parent's and its compressed variant's)."""
    left, right = _by_key(first), _by_key(second)
    keys = list(left) + [k for k in right if k not in left]
    sections = []
    for index, key in enumerate(keys, start=1):
        a, b = left.get(key, {}), right.get(key, {})
        status_a, status_b = a.get("status"), b.get("status")
        sections.append({
            "check": key[0], "title": check_title(key[0]), "attribute": key[1], "anchor": f"compare-{index}",
            "status_a": status_info(status_a) if a else None,
            "status_b": status_info(status_b) if b else None,
            "change": _status_change(status_a, status_b),
            # Open on the page: what changed, and what fails on either side.
            "open": status_a != status_b or bool({status_a, status_b} & {"fail", "error"}),
            "metrics": _metric_rows(a.get("metrics") or {}, b.get("metrics") or {}),
            "groups": _group_rows(a.get("groups") or {}, b.get("groups") or {}),
        })
    return sections


# How bad a result's status is, to say whether the second audit is better or worse.
STATUS_RANK = {"pass": 0, "inconclusive": 1, "insufficient": 1, "skipped": 1, "warn": 2, "fail": 3, "error": 3}


def _status_change(first, second) -> str:
    if first is None or second is None or first == second:
        return ""
    a, b = STATUS_RANK.get(first), STATUS_RANK.get(second)
    if a is None or b is None or a == b:
        return "changed"
    return "better" if b < a else "worse"


def compare_summary(sections: list[dict]) -> dict:
    """What changed between the two audits: the sections whose status moved, worse first."""
    moved = [s for s in sections if s["change"]]
    order = {"worse": 0, "changed": 1, "better": 2}
    return {"changed": sorted(moved, key=lambda s: order[s["change"]]),
            "unchanged": len(sections) - len(moved),
            "failing": sum(1 for s in sections if s["status_b"] and s["status_b"]["code"] in ("fail", "error"))}


def _by_key(checks: list[dict]) -> dict[tuple[str, str], dict]:
    return {(str(c.get("id")), "" if c.get("attribute") is None else str(c.get("attribute"))): c
            for c in checks if isinstance(c, dict)}


def _union(first: dict, second: dict) -> list:
    return list(first) + [k for k in second if k not in first]


def _metric_rows(a: dict, b: dict) -> list[dict]:
    rows = []
    for name in _union(a, b):
        ma, mb = a.get(name) or {}, b.get(name) or {}
        if not isinstance(ma, dict) or not isinstance(mb, dict):
            continue
        rows.append(_row(name, ma.get("value"), mb.get("value"),
                         (ma.get("ci_low"), ma.get("ci_high")), (mb.get("ci_low"), mb.get("ci_high"))))
    return rows


def _group_rows(a: dict, b: dict) -> list[dict]:
    """Each group's figures; `<name>_ci_low/high` keys are the interval of `<name>`."""
    groups = []
    for group in _union(a, b):
        ga, gb = a.get(group) or {}, b.get(group) or {}
        if not isinstance(ga, dict) or not isinstance(gb, dict):
            continue
        names = [n for n in _union(ga, gb) if not n.endswith(CI_SUFFIXES)
                 and not isinstance(ga.get(n), list | dict) and not isinstance(gb.get(n), list | dict)]
        rows = [_row(n, ga.get(n), gb.get(n), (ga.get(f"{n}_ci_low"), ga.get(f"{n}_ci_high")),
                     (gb.get(f"{n}_ci_low"), gb.get(f"{n}_ci_high"))) for n in names]
        groups.append({"group": str(group), "rows": rows})
    return groups


def _row(name: str, va, vb, ci_a: tuple, ci_b: tuple) -> dict:
    return {
        "name": name, "label": metric_label(name),
        "a": fmt(va, name), "a_ci": fmt_interval(*ci_a), "b": fmt(vb, name), "b_ci": fmt_interval(*ci_b),
        "change": change(va, vb, name),
    }


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def change(va, vb, name: str = "") -> str:
    """Second minus first with its sign; a dash when either side is not a number."""
    xa, xb = _number(va), _number(vb)
    if xa is None or xb is None:
        return DASH
    text = fmt(xb - xa, name)
    return text if text.startswith("-") or text in {"0.000", "0"} else "+" + text
