"""Data balancing (Dixon et al. 2018): counts per group after the counterfactual copies and
the label balancing, and the method end to end beside the others."""
from __future__ import annotations

import numpy as np
import pytest

from audits.mitigation import mitigation_compute
from audits.mitigation.balancing import balance_rows


def _rows():
    texts = ["the gay man was kind", "my Gay friend is rude", "a lesbian wrote well", "the lesbian was rude",
             "a lesbian was rude", "a bisexual was rude", "the man was kind", "the woman was kind",
             "someone was rude", "people were kind"]
    labels = np.array([1, 0, 1, 0, 0, 0, 1, 1, 0, 1])
    group = np.array(["gay", "gay", "lesbian", "lesbian", "lesbian", "bisexual", "none", "none", "none", "none"])
    return texts, labels, group, group == "none"


def test_counterfactual_copies_give_every_term_the_same_texts_and_labels():
    texts, labels, group, privileged = _rows()
    out = balance_rows(texts, labels, group, privileged, 1, ["gay", "lesbian", "bisexual"])
    # Each of the 6 identity rows is copied once per other term (2): 12 rows, labels kept.
    assert out.counterfactual == 12
    all_group = np.concatenate([group, out.group])
    all_labels = np.concatenate([labels, out.labels])
    counts = {t: (int(((all_group == t) & (all_labels == 1)).sum()), int(((all_group == t) & (all_labels == 0)).sum()))
              for t in ("gay", "lesbian", "bisexual")}
    # Before label balancing: 2 favourable, 4 not, for every term (6 of 18). The added rows
    # then lift the identity rows' favourable share to the rest's (3 of 4): (6 + 30) / (18 + 30).
    copies = out.counterfactual
    cf_group, cf_labels = all_group[:len(texts) + copies], all_labels[:len(texts) + copies]
    for term in ("gay", "lesbian", "bisexual"):
        assert ((cf_group == term) & (cf_labels == 1)).sum() == 2 and ((cf_group == term) & (cf_labels == 0)).sum() == 4
    identity = all_group != "none"
    assert out.label_balancing == 30 and np.mean(all_labels[identity] == 1) == pytest.approx(0.75)
    # The balancing rows are favourable and spread over the terms alike.
    assert all(fav == counts["gay"][0] for fav, _ in counts.values())
    assert "my lesbian friend is rude" in out.texts and "the bisexual man was kind" in out.texts
    assert all(label == 1 for label in out.labels[copies:])


def test_groups_that_are_not_words_of_the_texts_are_refused():
    texts, labels, _, _ = _rows()
    group = np.array(["f", "m"] * 5)
    with pytest.raises(ValueError, match="identity terms"):
        balance_rows(texts, labels, group, group == "m", 1, ["f"])


def test_balancing_is_a_method_of_its_own_in_the_comparison(biased_model_dir, people, tmp_path):
    texts, labels, group, privileged = people
    section = mitigation_compute(model_dir=biased_model_dir, texts=texts, labels=labels, group=group,
                                 privileged=privileged, favourable_id=1, method="balancing",
                                 options={"epochs": 10, "sweep": [0.0]}, seed=0, out_dir=tmp_path, resamples=100,
                                 attribute="orientation").section
    counts = section["balancing"]
    # One term ("gay"): no swaps, and favourable copies until its favourable share is the rest's.
    assert counts["counterfactual_rows"] == 0 and counts["label_balancing_rows"] > 0 and counts["terms"] == ["gay"]
    methods = [row["method"] for row in section["comparison"]]
    assert methods.count("balancing") == 1 and {"adversarial", "reweighing", "threshold"} <= set(methods)
    assert section["method"] == "balancing" and section["model"]["weights_changed"]
    # Balanced labels remove the planted dependence the biased labels taught.
    # One term: no twins to swap it with, and the section says why.
    assert "no identity-swapped twins" in section["counterfactual_flip_rate"]["note"]
    assert set(section["identity_aucs"]["gay"]) == {"subgroup_auc", "bpsn_auc", "bnsp_auc"}
    mine = next(row for row in section["comparison"] if row["method"] == "balancing")
    assert mine["fairness_gap"] < 0.5 * section["fairness_gap"]["before"]


def test_twins_swap_each_term_for_the_others_and_the_flip_rate_counts_changed_labels():
    from audits.mitigation.twins import flip_rate, twin_texts

    texts = ["the gay man was kind", "a Lesbian wrote", "someone wrote", "the gay cook"]
    group = np.array(["gay", "lesbian", "none", "gay"])
    twins, owner = twin_texts(texts, group, group == "none", np.array([0, 1, 2, 3]))
    assert twins == ["the lesbian man was kind", "a gay wrote", "the lesbian cook"]
    assert owner.tolist() == [0, 1, 3]
    rate = flip_rate(owner, 4, np.array([1, 0, 1, 1]), np.array([0, 0, 1]), 200, np.random.default_rng(0))
    assert rate["value"] == pytest.approx(1 / 3) and rate["twins"] == 3
    assert rate["ci_low"] <= rate["value"] <= rate["ci_high"]
