"""Which mitigation to use, decided by the held-out figures rather than by habit.

Rule: among the candidates that produce a model (adversarial at each swept weight,
reweighing), take the one that shrinks the fairness gap most while losing no more
accuracy than the budget. Threshold post-processing is reported beside it but not
recommended as the deliverable: it needs each row's group at prediction time and
leaves the model unchanged. When nothing both helps and fits the budget, no candidate
is recommended (the parent model remains the better choice), and the reason says why.
"""
from __future__ import annotations

GAP_DEFINITIONS = {
    "demographic_parity": "|statistical_parity_difference| (non-privileged rows against privileged)",
    "equalised_odds": "max(|true positive rate difference|, |false positive rate difference|)",
}


def _label(candidate: dict) -> str:
    if candidate["method"] == "adversarial":
        return f"adversarial debiasing with adversary weight {candidate['adversary_weight']:g}"
    return {"reweighing": "reweighing", "threshold": "threshold post-processing",
            "balancing": "data balancing"}[candidate["method"]]


def recommend(before: dict, candidates: list[dict], goal: str, budget: float, retrained: dict | None = None) -> dict:
    """`retrained`: figures of the same head retrained with neither adversary nor weights,
    so the reason can say when retraining alone, not the method, made the difference."""
    base_gap, base_acc = before["fairness_gap"], before["accuracy"]
    gap_name = "demographic-parity gap" if goal == "demographic_parity" else "equalised-odds gap"
    if base_gap is None:
        return {"method": "none", "reason": f"The {gap_name} is undefined on the held-out rows."}
    # A classifier that collapsed to one label has no gap and no use: never a success.
    usable = [c for c in candidates if c["fairness_gap"] is not None and not c.get("collapsed")]
    constant = [_label(c) for c in candidates if c.get("collapsed")]
    within = [c for c in usable if base_acc - c["accuracy"] <= budget and c["fairness_gap"] < base_gap]
    models = [c for c in within if c["makes_model"]]
    best_threshold = min((c for c in within if not c["makes_model"]), key=lambda c: c["fairness_gap"], default=None)
    collapse_note = (f" Collapsed to a constant classifier (one label for nearly every row), so not counted:"
                     f" {', '.join(constant)}.") if constant else ""
    if not models:
        reason = (f"No candidate that produces a model reduced the {gap_name} ({base_gap:.3f} before) within"
                  f" the accuracy budget of {budget:.3f}, so none is recommended over the parent model; a larger"
                  " budget would accept a larger accuracy cost." + collapse_note)
        if best_threshold is not None:
            reason += (f" Threshold post-processing reached {best_threshold['fairness_gap']:.3f}, but it needs"
                       " each row's group at prediction time.")
        return {"method": "none", "reason": reason}
    # Ties (e.g. two weights reaching a zero gap) go to the one that costs less accuracy.
    best = min(models, key=lambda c: (round(c["fairness_gap"], 6), -c["accuracy"]))
    cost = base_acc - best["accuracy"]
    reason = (f"{_label(best).capitalize()} cut the {gap_name} on held-out rows from {base_gap:.3f} to"
              f" {best['fairness_gap']:.3f} at an accuracy cost of {cost:+.3f} (budget {budget:.3f}), the largest"
              " reduction among the candidates within budget.")
    if retrained is not None and retrained.get("fairness_gap") is not None \
            and retrained["fairness_gap"] <= best["fairness_gap"] + 1e-12:
        reason += (f" Retraining the same part of the model on the same rows with neither adversary nor"
                   f" weights reaches {retrained['fairness_gap']:.3f} too: the reduction comes from retraining"
                   " on these rows, not from the method.")
    if best_threshold is not None and best_threshold["fairness_gap"] < best["fairness_gap"]:
        reason += (f" Threshold post-processing reached {best_threshold['fairness_gap']:.3f} but needs each"
                   " row's group at prediction time and changes no weights.")
    result = {"method": best["method"], "reason": reason + collapse_note}
    if best["method"] == "adversarial":
        result["adversary_weight"] = best["adversary_weight"]
    return result
