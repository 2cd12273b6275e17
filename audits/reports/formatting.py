"""Names and number formats the report shows: one place, so tables, TOC and charts agree.

Everything here returns plain strings; the templates autoescape them. Metric and
column names not listed fall back to the key with underscores as spaces, so a figure
a check adds tomorrow still shows, just less prettily.
"""
from __future__ import annotations

import datetime as dt
import math

from .charts import METRIC_TITLES

DASH = "—"
STATUS_LABELS = {"pass": "Pass", "warn": "Warning", "fail": "Fail", "skipped": "Skipped", "error": "Error",
                 "info": "Info", "inconclusive": "Inconclusive", "insufficient": "Insufficient"}
# The report's reading order: the data first, then the model's decisions, then its scores.
CHECK_ORDER = ("sampling_bias", "proxy_leakage", "labelling_bias", "group_fairness", "counterfactual",
               "subgroup_auc", "automation_bias", "stereotype_pairs")
CHECK_TITLES = {
    "sampling_bias": "Sampling bias",
    "proxy_leakage": "Proxy leakage",
    "labelling_bias": "Labelling bias",
    "group_fairness": "Group fairness",
    "counterfactual": "Counterfactual fairness",
    "subgroup_auc": "Subgroup AUC",
    "automation_bias": "Automation bias and calibration",
    "stereotype_pairs": "Stereotype preference (sentence pairs)",
}
CHECK_QUESTIONS = {
    "sampling_bias": "Does the dataset represent each group?",
    "proxy_leakage": "Can a group be told from the text alone, so that a model could act on it without the attribute?",
    "labelling_bias": "Do the dataset's own labels, and its annotators, treat groups differently?",
    "group_fairness": "Does the model give each group the favourable outcome, and make errors, at similar rates?",
    "counterfactual": "Does swapping one identity term for another change the model's decision?",
    "subgroup_auc": "Does the model rank each group's texts as well as everyone else's (Borkan et al. 2019)?",
    "automation_bias": "Can a person take the model's confidence at face value, equally for every group?",
    "stereotype_pairs": "Does the language model find stereotyped sentences more likely than their counterparts "
                        "(CrowS-Pairs)?",
}
METRIC_LABELS = {
    **METRIC_TITLES,
    "false_positive_rate_difference": "False positive rate difference",
    "false_negative_rate_difference": "False negative rate difference",
    "accuracy_difference": "Accuracy difference",
    "theil_index": "Theil index",
    "between_group_theil_index": "Between-group Theil index",
    "expected_calibration_error": "Expected calibration error (ECE)",
    "expected_calibration_error_difference": "ECE difference",
    "overall_expected_calibration_error": "ECE over all rows",
    "brier_score": "Brier score",
    "confidently_wrong_rate": "Confidently wrong rate",
    "review_threshold": "Review below confidence",
    "review_share": "Share of rows to review",
    "overall_auc": "AUC over all rows",
    "subgroup_auc_gap": "Subgroup AUC gap",
    "bpsn_auc_gap": "BPSN AUC gap",
    "bnsp_auc_gap": "BNSP AUC gap",
    "representation_ratio": "Representation ratio",
    "chi_square_p_value": "Chi-square p-value",
    "smallest_group_count": "Smallest group (rows)",
    "proxy_leakage_auc": "Proxy leakage AUC",
    "annotator_disagreement_difference": "Annotator disagreement difference",
    "krippendorff_alpha": "Krippendorff's alpha",
    "counterfactual_flip_rate": "Decision flip rate",
    "counterfactual_mean_abs_change": "Mean absolute probability change",
    "counterfactual_max_abs_change": "Largest absolute probability change",
    "counterfactual_mean_change": "Mean probability change (signed)",
    "stereotype_score": "Stereotype score (share of pairs preferring the stereotype)",
    "stereotype_score_stereo": "Stereotype score, stereo pairs",
    "stereotype_score_antistereo": "Stereotype score, antistereo pairs",
    "stereotype_score_length_normalised": "Stereotype score, length-normalised log-probabilities",
}
# Short column heads keep the per-group tables inside an A4 page width; the long
# name is the column's title (a tooltip on screen).
COLUMN_LABELS = {
    "count": "Rows", "positives": "Pos.", "negatives": "Neg.",
    "selection_rate": "Selection rate", "base_rate": "Base rate", "accuracy": "Accuracy",
    "tpr": "TPR", "fpr": "FPR", "fnr": "FNR",
    "statistical_parity_difference": "SPD", "disparate_impact": "DI",
    "equal_opportunity_difference": "EOD", "average_odds_difference": "AOD",
    "false_positive_rate_difference": "FPR diff.", "false_negative_rate_difference": "FNR diff.",
    "accuracy_difference": "Acc. diff.", "theil_index": "Theil index",
    "between_group_theil_index": "Between-group Theil",
    "overall_auc": "Overall AUC", "subgroup_auc": "Subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC",
    "subgroup_auc_gap": "Subgroup gap", "bpsn_auc_gap": "BPSN gap", "bnsp_auc_gap": "BNSP gap",
    "expected_calibration_error": "ECE", "expected_calibration_error_difference": "ECE diff.",
    "brier_score": "Brier", "confidently_wrong_rate": "Conf. wrong", "review_share": "To review",
    "automated_accuracy": "Auto. acc.",
    "annotated_items": "Items", "krippendorff_alpha": "Alpha", "disagreement_rate": "Disagreement",
    "annotator_disagreement_difference": "Disagr. diff.",
    "share": "Share", "expected_share": "Expected share", "representation_ratio": "Repr. ratio",
    "verdict": "Sample size", "proxy_leakage_auc": "Proxy AUC", "rows_needed": "Rows needed",
    "confidence_minus_accuracy": "Conf. − acc.",
    "texts": "Texts", "swaps": "Swaps", "flips": "Flips", "counterfactual_flip_rate": "Flip rate",
    "counterfactual_mean_abs_change": "Mean |Δp|", "counterfactual_max_abs_change": "Max |Δp|",
    "counterfactual_mean_change": "Mean Δp",
    "stereotype_score": "Stereotype score",
}
# What the abbreviated column heads stand for, printed under each table (a PDF has no
# tooltips).
COLUMN_TITLES = {
    # Borkan et al.'s orientation (subgroup_auc): the positive class is the unfavourable label.
    "positives": "rows with the unfavourable label (the AUCs' positive class)",
    "negatives": "rows with the favourable label",
    "annotated_items": "items with two or more annotations",
    "rows_needed": "rows the small-group rule asks for (shown for groups below it)",
    "confidence_minus_accuracy": "mean confidence minus accuracy (above 0: overconfident)",
    "tpr": "true positive rate", "fpr": "false positive rate", "fnr": "false negative rate",
    "statistical_parity_difference": "statistical parity difference", "disparate_impact": "disparate impact",
    "equal_opportunity_difference": "equal opportunity difference", "average_odds_difference": "average odds difference",
    "false_positive_rate_difference": "false positive rate difference",
    "false_negative_rate_difference": "false negative rate difference", "accuracy_difference": "accuracy difference",
    "expected_calibration_error": "expected calibration error",
    "expected_calibration_error_difference": "ECE minus the privileged group's",
    "brier_score": "Brier score", "confidently_wrong_rate": "share wrong with confidence 0.9 or more",
    "review_share": "share below the review threshold", "automated_accuracy": "accuracy of the rows left to the model",
    "krippendorff_alpha": "Krippendorff's alpha", "annotator_disagreement_difference":
        "disagreement rate minus the privileged group's",
    "representation_ratio": "observed over expected share", "proxy_leakage_auc": "proxy leakage AUC",
    "subgroup_auc_gap": "subgroup AUC minus overall", "bpsn_auc_gap": "BPSN AUC minus overall",
    "bnsp_auc_gap": "BNSP AUC minus overall",
    "counterfactual_mean_abs_change": "mean absolute probability change",
    "counterfactual_max_abs_change": "largest absolute probability change",
    "counterfactual_mean_change": "mean signed probability change",
}
COUNT_KEYS = {"count", "rows", "n", "support", "positives", "negatives", "annotated_items", "texts", "swaps", "flips",
              "rows_needed"}


def is_count(key: str) -> bool:
    return key in COUNT_KEYS or key.endswith("_count")


def fmt(value, key: str = "") -> str:
    """3 decimals for figures, whole numbers for counts, a dash for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if is_count(key):
            return f"{value:,.0f}"
        if key.endswith("p_value") and 0 <= value < 0.001:
            return "< 0.001"  # three decimals would print a misleading 0.000
        text = f"{value:.3f}"
        return "0.000" if text == "-0.000" else text
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) or DASH
    return str(value)


def fmt_interval(low, high) -> str:
    if low is None or high is None:
        return DASH
    return f"[{fmt(low)}, {fmt(high)}]"


def fmt_range(threshold, key: str = "") -> str:
    """An acceptable range; one-sided ranges (a minimum row count) read as such."""
    if not isinstance(threshold, dict):
        return DASH
    low, high = threshold.get("low"), threshold.get("high")
    if low is None and high is None:
        return DASH
    if high is None:
        return f"at least {fmt(low, key)}"
    if low is None:
        return f"at most {fmt(high, key)}"
    return f"{fmt(low, key)} to {fmt(high, key)}"


def fmt_datetime(value) -> str:
    """ISO 8601 from the document as "YYYY-MM-DD HH:MM UTC"; unparseable text as it is."""
    if not value:
        return DASH
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    # Naive times are UTC: the platform runs with USE_TZ and TIME_ZONE = "UTC".
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# How bad a status is, to pick the worst of several (a section's or a provision's badge).
SEVERITY = {"error": 6, "fail": 5, "warn": 4, "pass": 3, "inconclusive": 2, "insufficient": 2, "info": 1, "skipped": 0}


def worst(statuses, default: str = "skipped") -> str:
    known = [s for s in statuses if s in SEVERITY]
    return max(known, key=SEVERITY.__getitem__) if known else default


def status_info(status) -> dict:
    # The CSS class comes from a fixed list, never from the document's text.
    known = status if status in STATUS_LABELS else "unknown"
    return {"code": known, "label": STATUS_LABELS.get(known, str(status)), "css": f"ar-status-{known}"}


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name.replace("_", " ").capitalize())


def column_label(key: str) -> str:
    return COLUMN_LABELS.get(key, key.replace("_", " "))


def check_title(check_id: str) -> str:
    return CHECK_TITLES.get(check_id, check_id.replace("_", " ").capitalize())
