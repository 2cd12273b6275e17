"""The compressed variant's verdict in words: which groups pay, named so a reader can tell them."""
from audits.compression.figures import verdict


def _group(change: float, low: float, high: float) -> dict:
    return {"rows": 200, "accuracy_change": change, "accuracy_change_ci_low": low, "accuracy_change_ci_high": high,
            "disagreement": 0.1, "insufficient": False, "costs": high < 0}


def test_rows_without_an_identity_term_are_named_in_words():
    by_group = {"religion": {"none": _group(-0.04, -0.06, -0.02), "jewish": _group(-0.05, -0.2, 0.1)},
                "sexuality": {"gay": _group(-0.2, -0.3, -0.1)}}
    result = verdict(checks=[{"id": "group_fairness", "attribute": "religion", "status": "pass",
                              "parent_status": "pass"}], parent_summary="pass", by_group=by_group)
    assert result["status"] == "warn"  # within policy, but groups pay beyond chance
    assert sorted(result["costs_groups"]) == ["religion=none", "sexuality=gay"]
    assert "the comments naming no religion term" in result["text"]
    assert "sexuality=gay" in result["text"]
    assert "religion=none" not in result["text"]
    assert "jewish" not in result["text"]  # its interval spans zero
