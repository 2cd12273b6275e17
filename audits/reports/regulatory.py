"""Regulatory mapping: which checks give evidence relevant to which provision, with figures.

Built from report.json's checks only (the `regulatory` key of the document), so the
mapping in a signed report is exactly what was signed, and any reader can recompute it.
The wording is deliberately factual: the section says what each check measured and
which provision that measurement is relevant to; it never says a model complies.

NYC Local Law 144's table is computed from group_fairness's per-group figures: a
category's selection rate is the share of its rows given the favourable prediction
(`selection_rate`, stored for every judged group, the privileged one included), and its
impact ratio is that rate over the highest category's rate, as 6 RCNY 5-301 defines it.
"""
from __future__ import annotations

from .formatting import check_title, fmt, fmt_interval, fmt_range, metric_label, status_info, worst

PRIVILEGED_PREFIX = "privileged: "
DISCLAIMER = (
    "This section lists, for each provision, the checks of this audit that give evidence relevant to it, with "
    "their figures. It is not legal advice and does not state that the model or its use complies with any law: "
    "whether a provision applies to a use of the model, and whether this evidence is sufficient, is for the "
    "organisation and its legal counsel to judge.")

# (id, framework, provision, title, relevance, {check id: key metrics}). Key metrics
# missing from a check are skipped; a check with none of them shows its judged metrics.
OBLIGATIONS = (
    ("eu_ai_act_art_10", "EU AI Act (Regulation (EU) 2024/1689)", "Article 10", "Data and data governance",
     "Article 10(2)(f) and (g) call for an examination of training, validation and testing data for possible "
     "biases likely to lead to discrimination, and for measures to detect and mitigate them; Article 10(3) for "
     "data that are relevant and sufficiently representative. These checks examine the audited dataset "
     "(representation, labels) and the model's outcomes on it for bias between groups.",
     {"sampling_bias": ("representation_ratio", "chi_square_p_value", "smallest_group_count"),
      "proxy_leakage": ("proxy_leakage_auc",),
      "labelling_bias": ("statistical_parity_difference", "disparate_impact", "annotator_disagreement_difference"),
      "group_fairness": ("statistical_parity_difference", "disparate_impact"),
      "counterfactual": ("counterfactual_flip_rate",)}),
    ("eu_ai_act_art_13", "EU AI Act (Regulation (EU) 2024/1689)", "Article 13",
     "Transparency and provision of information to deployers",
     "Article 13(3)(b) asks the instructions for use to state the level of accuracy and the performance as "
     "regards specific persons or groups of persons, and information that helps deployers interpret the output. "
     "These figures state the model's error rates, ranking quality and calibration for each group.",
     {"group_fairness": ("accuracy_difference", "equal_opportunity_difference", "average_odds_difference"),
      "subgroup_auc": ("overall_auc", "subgroup_auc_gap", "bpsn_auc_gap", "bnsp_auc_gap"),
      "automation_bias": ("overall_expected_calibration_error", "expected_calibration_error")}),
    ("eu_ai_act_art_15", "EU AI Act (Regulation (EU) 2024/1689)", "Article 15", "Accuracy, robustness and cybersecurity",
     "Article 15(1) and (3) call for an appropriate, declared level of accuracy, and Article 15(4) for resilience "
     "to errors and inconsistencies. These figures measure accuracy and ranking quality overall and per group, "
     "calibration, and whether decisions stay the same when only an identity term in the text changes.",
     {"subgroup_auc": ("overall_auc", "subgroup_auc_gap"),
      "automation_bias": ("overall_expected_calibration_error", "brier_score"),
      "counterfactual": ("counterfactual_flip_rate", "counterfactual_max_abs_change"),
      "group_fairness": ("accuracy_difference",)}),
    ("nyc_ll144", "New York City Local Law 144 of 2021 (6 RCNY 5-300)", "Bias audit of an automated employment "
     "decision tool", "Selection rates and impact ratios per category",
     "The law requires a bias audit stating, for each category, the selection rate and the impact ratio (the "
     "category's selection rate over the most selected category's). The tables compute both from the model's "
     "decisions on the audited dataset, a row counting as selected when the favourable label is predicted. They "
     "are relevant where the model serves as such a tool; the law's categories are sex, race/ethnicity and their "
     "intersections, so only the attributes of this dataset that record those apply.",
     {"group_fairness": ("disparate_impact",)}),
    ("gdpr_art_22", "GDPR (Regulation (EU) 2016/679)", "Article 22", "Automated individual decision-making",
     "Article 22 gives people the right not to be subject to a decision based solely on automated processing that "
     "produces legal or similarly significant effects; where such decisions are allowed, Article 22(3) requires "
     "safeguards, at least the right to obtain human intervention. These figures show where human review matters "
     "most: the confidence below which a person should review a decision to keep the automated ones at the "
     "target accuracy, the share of decisions that would go to review, and the share of confidently wrong "
     "predictions, the errors a reviewer is least likely to question.",
     {"automation_bias": ("review_threshold", "review_share", "confidently_wrong_rate",
                          "expected_calibration_error")}),
)
NO_EVIDENCE = {"code": "skipped", "label": "No evidence", "css": "ar-status-skipped"}


def _figures(check: dict, names: tuple[str, ...]) -> list[dict]:
    metrics = check.get("metrics") if isinstance(check.get("metrics"), dict) else {}
    chosen = [n for n in names if isinstance(metrics.get(n), dict)]
    if not chosen:
        chosen = [n for n, m in metrics.items() if isinstance(m, dict) and m.get("status") not in (None, "info")]
    keys = ("value", "ci_low", "ci_high", "threshold", "status", "group")
    return [{"name": n, **{k: metrics[n].get(k) for k in keys}} for n in chosen]


def selection_table(check: dict) -> list[dict]:
    """LL144 rows of one group_fairness result: category, rows, selection rate, impact
    ratio, most selected first. Groups too small to judge are not among the figures."""
    rows = []
    for name, figures in (check.get("groups") or {}).items():
        if not isinstance(figures, dict) or figures.get("selection_rate") is None:
            continue
        privileged = str(name).startswith(PRIVILEGED_PREFIX)
        rows.append({"category": str(name)[len(PRIVILEGED_PREFIX):] if privileged else str(name),
                     "privileged": privileged, "count": figures.get("count"),
                     "selection_rate": float(figures["selection_rate"])})
    top = max((r["selection_rate"] for r in rows), default=None)
    for row in rows:
        row["impact_ratio"] = row["selection_rate"] / top if top else None
        if isinstance(row["count"], float) and row["count"].is_integer():
            row["count"] = int(row["count"])
    return sorted(rows, key=lambda r: (-r["selection_rate"], r["category"]))




def regulatory_section(document: dict) -> dict:
    """The `regulatory` key of report.json."""
    checks = [c for c in document.get("checks") or [] if isinstance(c, dict)]
    obligations = []
    for ob_id, framework, provision, title, relevance, mapping in OBLIGATIONS:
        evidence = [{"check": c.get("id"), "attribute": c.get("attribute"), "status": c.get("status"),
                     "message": c.get("message"), "figures": _figures(c, mapping[c.get("id")])}
                    for c in checks if c.get("id") in mapping]
        ran = {e["check"] for e in evidence}
        entry = {"id": ob_id, "framework": framework, "provision": provision, "title": title,
                 "relevance": relevance, "status": worst((e["status"] for e in evidence), default="not_run"),
                 "evidence": evidence, "not_run": [c for c in mapping if c not in ran]}
        if ob_id == "nyc_ll144":
            # A check that errored has no attribute and no groups: its evidence row says why.
            entry["selection_rates"] = [{"attribute": c.get("attribute"), "rows": selection_table(c)}
                                        for c in checks if c.get("id") == "group_fairness"
                                        and c.get("status") != "error"]
        obligations.append(entry)
    return {"disclaimer": DISCLAIMER, "obligations": obligations}


def regulatory_view(document: dict) -> dict:
    """What report_regulatory.html shows: the signed section if present, else one built
    now (reports made before the section existed); every cell a plain string."""
    section = document.get("regulatory")
    if not isinstance(section, dict):
        section = regulatory_section(document)
    obligations = []
    for ob in section.get("obligations") or []:
        evidence = [{
            "title": check_title(str(e.get("check"))), "attribute": "" if e.get("attribute") is None
            else str(e["attribute"]), "status": status_info(e.get("status")), "message": str(e.get("message") or ""),
            "figures": [{"label": metric_label(str(f.get("name"))), "value": fmt(f.get("value"), str(f.get("name"))),
                         "interval": fmt_interval(f.get("ci_low"), f.get("ci_high")),
                         "range": fmt_range(f.get("threshold"), str(f.get("name"))),
                         "status": status_info(f.get("status")),
                         "group": "" if f.get("group") is None else str(f["group"])}
                        for f in e.get("figures") or []],
        } for e in ob.get("evidence") or []]
        tables = [{"attribute": "" if t.get("attribute") is None else str(t["attribute"]), "rows": [
            {"category": str(r.get("category")), "privileged": bool(r.get("privileged")),
             "count": fmt(r.get("count"), "count"), "selection_rate": fmt(r.get("selection_rate")),
             "impact_ratio": fmt(r.get("impact_ratio"))} for r in t.get("rows") or []]}
            for t in ob.get("selection_rates") or []]
        obligations.append({
            "anchor": "reg-" + "".join(ch if ch.isalnum() else "-" for ch in str(ob.get("id"))),
            "framework": str(ob.get("framework")), "provision": str(ob.get("provision")),
            "title": str(ob.get("title")), "relevance": str(ob.get("relevance")),
            "status": NO_EVIDENCE if ob.get("status") == "not_run" else status_info(ob.get("status")),
            "evidence": evidence, "tables": tables,
            "not_run": ", ".join(check_title(str(c)) for c in ob.get("not_run") or []),
        })
    return {"disclaimer": str(section.get("disclaimer") or DISCLAIMER), "obligations": obligations}
