"""mitigation_compute end to end on a model with a planted dependence on the group."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import runtime
from audits.checks.group_fairness import aif360_metrics
from audits.mitigation import MitigationCancelled, mitigation_compute

FAST = {"epochs": 20, "sweep": [0.0, 1.0]}


def run(model_dir, people, tmp_path, method="adversarial", options=None, seed=0, **kwargs):
    texts, labels, group, privileged = people
    return mitigation_compute(
        model_dir=model_dir, texts=texts, labels=labels, group=group, privileged=privileged,
        favourable_id=1, method=method, options={**FAST, **(options or {})}, seed=seed,
        out_dir=tmp_path, resamples=200, attribute="orientation", **kwargs)


@pytest.fixture(scope="module")
def adversarial(biased_model_dir, people, tmp_path_factory):
    stages = []
    outcome = run(biased_model_dir, people, tmp_path_factory.mktemp("adv"),
                  progress=lambda stage, done, total: stages.append(stage))
    return outcome, stages


def test_adversary_falls_to_chance_and_the_gap_shrinks_by_half(adversarial):
    section = adversarial[0].section
    gap, adversary = section["fairness_gap"], section["adversary_accuracy"]
    assert gap["before"] > 0.3, gap  # the planted dependence is there to remove
    assert gap["after"] <= 0.5 * gap["before"], gap
    assert adversary["before"] > adversary["chance"] + 0.15, adversary
    assert adversary["after"] < adversary["chance"] + 0.05, adversary
    # The adversary did it: the same head retrained without one keeps the dependence.
    assert section["no_mitigation_retrained"]["fairness_gap"] > 0.8 * gap["before"]
    spd = section["after"]["statistical_parity_difference"]
    assert abs(spd["value"]) <= 0.5 * abs(section["before"]["statistical_parity_difference"]["value"])


def test_section_has_the_contract_fields_with_intervals(adversarial):
    section = adversarial[0].section
    assert section["method"] == "adversarial" and section["attribute"] == "orientation"
    assert abs(section["held_out_rows"] - 180) <= 2 and section["held_out_rows"] + section["train_rows"] == 600
    for part in ("before", "after"):
        for name in ("accuracy", "roc_auc", "statistical_parity_difference", "disparate_impact",
                     "equal_opportunity_difference", "average_odds_difference"):
            entry = section[part][name]
            assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], (part, name, entry)
    assert [row["adversary_weight"] for row in section["sweep"]] == [0.0, 1.0]
    assert {"accuracy", "fairness_gap", "statistical_parity_difference"} <= set(section["sweep"][0])
    assert section["recommendation"]["method"] in {"adversarial", "reweighing", "none"}
    assert section["recommendation"]["reason"]
    assert "model_sha256" not in section
    json.dumps(section)  # goes into report.json as it is


def test_recommendation_follows_the_budget(biased_model_dir, people, tmp_path):
    # Accuracy is measured against biased labels, so fairness costs accuracy here: with the
    # default budget nothing qualifies, with a generous one the largest gap cut wins.
    strict = run(biased_model_dir, people, tmp_path / "a", options={"accuracy_budget": 0.0}).section
    assert strict["recommendation"]["method"] == "none"
    loose = run(biased_model_dir, people, tmp_path / "b", options={"accuracy_budget": 0.5}).section
    best = min((c for c in loose["comparison"] if c["makes_model"]), key=lambda c: c["fairness_gap"])
    assert loose["recommendation"]["method"] == best["method"]


def test_saved_folder_reproduces_the_reported_after_figures(adversarial, people):
    outcome = adversarial[0]
    folder = outcome.model_folder
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not [p for p in folder.iterdir() if p.suffix in {".bin", ".pt", ".pkl"}]
    texts, labels, group, privileged = people
    rows = outcome.held_out_rows
    loaded = runtime.load_model(folder)
    try:
        probs = runtime.predict_proba(loaded, [texts[i] for i in rows])
    finally:
        runtime.evict(folder)
    assert np.array_equal(probs.argmax(1), outcome.after_predictions)
    after = outcome.section["after"]
    assert after["accuracy"]["value"] == pytest.approx(np.mean(probs.argmax(1) == labels[rows]))
    assert after["roc_auc"]["value"] == pytest.approx(roc_auc_score(labels[rows] == 1, probs[:, 1]))
    theirs = aif360_metrics(labels[rows] == 1, probs.argmax(1) == 1, privileged[rows])
    assert after["statistical_parity_difference"]["value"] == pytest.approx(theirs["statistical_parity_difference"])
    assert after["disparate_impact"]["value"] == pytest.approx(theirs["disparate_impact"])


def test_same_seed_same_result_other_seed_other_split(adversarial, biased_model_dir, people, tmp_path):
    again = run(biased_model_dir, people, tmp_path / "again")
    first = adversarial[0]
    assert json.dumps(again.section, sort_keys=True) == json.dumps(first.section, sort_keys=True)
    assert np.array_equal(again.after_predictions, first.after_predictions)
    other = run(biased_model_dir, people, tmp_path / "other", seed=1, options={"sweep": [1.0]})
    assert not np.array_equal(other.held_out_rows, first.held_out_rows)


def test_progress_stages_and_cooperative_cancel(adversarial, biased_model_dir, people, tmp_path):
    stages = adversarial[1]
    assert stages[0] == "features" and stages[-1] == "done"
    assert {"sweep 1 of 2", "reweighing", "saving", "evaluating"} <= set(stages)
    calls = []

    def stop_after_some():
        calls.append(1)
        return len(calls) > 30

    with pytest.raises(MitigationCancelled):
        run(biased_model_dir, people, tmp_path, should_stop=stop_after_some)
    assert not (tmp_path / "model").exists()


def test_threshold_keeps_the_weights_and_says_so(biased_model_dir, people, tmp_path):
    outcome = run(biased_model_dir, people, tmp_path, method="threshold")
    section = outcome.section
    assert outcome.model_folder is None and not (tmp_path / "model").exists()
    assert section["model"]["weights_changed"] is False
    assert "group at prediction time" in section["model"]["note"]
    assert set(section["thresholds"]) == {"gay", "straight"}
    assert section["fairness_gap"]["after"] <= 0.5 * section["fairness_gap"]["before"]
    assert section["after"]["roc_auc"]["value"] is None


def test_threshold_falls_back_to_privileged_against_the_rest_for_a_one_outcome_group(
        biased_model_dir, people, tmp_path):
    texts, labels, group, privileged = people
    group = group.copy()
    # Real identity-term groups are often this small: two rows, both the same label.
    lonely = np.flatnonzero(labels == 1)[:2]
    group[lonely] = "queer"
    outcome = run(biased_model_dir, (texts, labels, group, privileged), tmp_path, method="threshold")
    section = outcome.section
    assert set(section["thresholds"]) == {"privileged", "non-privileged"}
    assert section["threshold_groups"].startswith("privileged against non-privileged") and "queer" in \
        section["threshold_groups"]
    assert section["fairness_gap"]["after"] < section["fairness_gap"]["before"]


def test_equalised_odds_goal_uses_its_own_gap_and_chance(biased_model_dir, people, tmp_path):
    # Known limit, reported not hidden: on these biased labels the equalised-odds run at
    # weight 1 reaches a small gap by denying nearly everyone (see the accuracy cost).
    section = run(biased_model_dir, people, tmp_path, options={"goal": "equalised_odds", "sweep": [1.0]}).section
    assert section["settings"]["goal"] == "equalised_odds"
    assert section["fairness_gap"]["definition"].startswith("max(")
    row = section["sweep"][0]
    assert row["fairness_gap"] == pytest.approx(max(abs(row["equal_opportunity_difference"]),
                                                    abs(2 * row["average_odds_difference"]
                                                        - row["equal_opportunity_difference"])))
    texts, labels, group, privileged = people
    # Chance for equalised odds is what the label alone tells about the group: more than
    # the majority share here, because the biased labels favour the privileged group.
    majority = max(privileged.mean(), 1 - privileged.mean())
    assert section["adversary_accuracy"]["chance"] > majority + 0.1


def test_bad_inputs_are_refused_plainly(biased_model_dir, people, tmp_path):
    texts, labels, group, privileged = people
    with pytest.raises(ValueError, match="favourable_id"):
        mitigation_compute(model_dir=biased_model_dir, texts=texts, labels=labels, group=group,
                           privileged=privileged, favourable_id=5, method="reweighing", options={},
                           seed=0, out_dir=tmp_path)
    with pytest.raises(ValueError, match="unfreeze_layers"):
        run(biased_model_dir, people, tmp_path, options={"unfreeze_layers": 9})


def test_unfrozen_top_layer_trains_only_what_it_says(biased_model_dir, people, tmp_path):
    from safetensors.torch import load_file

    texts, labels, group, privileged = people
    small = (texts[:200], labels[:200], group[:200], privileged[:200])
    outcome = run(biased_model_dir, small, tmp_path, options={"unfreeze_layers": 1, "epochs": 1, "sweep": [1.0]})
    assert outcome.section["saved_model_agreement"] == 1.0
    # The lower layer's outputs are cached, so every fit is cheap and every method is compared.
    assert "cached" in outcome.section["trained"]
    assert {c["method"] for c in outcome.section["comparison"]} == {"adversarial", "reweighing", "balancing",
                                                                    "threshold"}
    parent = load_file(biased_model_dir / "model.safetensors")
    child = load_file(outcome.model_folder / "model.safetensors")
    changed = {k for k in parent if not parent[k].equal(child[k])}
    assert any(k.startswith("bert.encoder.layer.1.") for k in changed)
    assert not any(k.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for k in changed)
