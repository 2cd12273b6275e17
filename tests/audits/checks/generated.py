"""Generated audits for the checks: planted bias, and inputs that break careless statistics.

Each generator returns a CheckContext that every registered check can run on: labels,
probabilities, two dataset attributes, texts that mention identity terms, two
annotators, and a deterministic model function for the counterfactual swaps.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from audits.checks import CheckContext
from audits.checks.policy import DEFAULT_POLICY

LEXICON = [("muslim", "religion"), ("christian", "religion"), ("jewish", "religion")]
WORDS = np.array("the a report said prices rose fell today market city team won lost new old".split())


def predict(texts: list[str]) -> np.ndarray:
    """A model that dislikes one identity term: its favourable probability falls with it."""
    return np.array([0.35 if "muslim" in t else 0.65 for t in texts])


def _texts(rng, religion: np.ndarray) -> list[str]:
    return [" ".join(rng.choice(WORDS, 6)) + ("" if r == "none" else f" {r} people") for r in religion]


def context(y_true, prob, gender, race, seed: int = 0, resamples: int = 200) -> CheckContext:
    rng = np.random.default_rng(seed)
    n = len(y_true)
    religion = rng.choice(["none", "muslim", "christian", "jewish"], size=n, p=[0.55, 0.15, 0.15, 0.15])
    annotators = pd.DataFrame({
        "a": np.asarray(y_true, bool),
        "b": np.where(rng.random(n) < 0.15, ~np.asarray(y_true, bool), np.asarray(y_true, bool)),
    })
    groups = pd.DataFrame({"gender": gender, "race": race, "religion": religion})
    groups.attrs["identity_attributes"] = ["religion"]
    prob = np.asarray(prob, dtype=float)
    return CheckContext(
        y_true=np.asarray(y_true, bool), y_pred=prob >= 0.5, prob=prob, groups=groups,
        privileged={"gender": ["m"], "race": ["a"], "religion": ["none"]}, policy=DEFAULT_POLICY,
        seed=seed, resamples=resamples, min_group_rows=10, texts=_texts(rng, religion), annotators=annotators,
        predict=predict, lexicon=LEXICON,
    )


def planted(seed: int = 0, n: int = 800) -> CheckContext:
    """Group "f" gets the favourable outcome less often; race "c" gets worse scores."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["m", "f"], size=n)
    race = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    y = rng.random(n) < 0.55
    logit = np.where(y, 1.0, -1.0) + rng.normal(0, 1, n) - 0.8 * (gender == "f") - 0.5 * (race == "c")
    return context(y, 1 / (1 + np.exp(-logit)), gender, race, seed)


def tiny_groups(seed: int = 1) -> CheckContext:
    """Groups of 3, 10, 12 and 25 rows beside a privileged group of 60."""
    rng = np.random.default_rng(seed)
    race = np.repeat(["a", "b", "c", "d", "e"], [60, 3, 10, 12, 25])
    n = race.size
    gender = rng.choice(["m", "f"], size=n)
    y = rng.random(n) < 0.5
    prob = np.clip(0.5 + 0.3 * np.where(y, 1, -1) + rng.normal(0, 0.2, n), 0.01, 0.99)
    return context(y, prob, gender, race, seed)


def all_favourable(seed: int = 2) -> CheckContext:
    """One group is labelled and predicted favourable on every row; the privileged one nearly."""
    rng = np.random.default_rng(seed)
    n = 400
    race = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.25, 0.25])
    gender = rng.choice(["m", "f"], size=n)
    y = (race == "b") | (rng.random(n) < 0.9)
    prob = np.where(race == "b", 0.97, np.where(y, 0.8, 0.3))
    return context(y, prob, gender, race, seed)


def no_favourable_for_a_group(seed: int = 3) -> CheckContext:
    """Group "c" (58 rows) is never predicted favourable: a disparate impact of exactly 0."""
    rng = np.random.default_rng(seed)
    race = np.repeat(["a", "b", "c"], [300, 150, 58])
    gender = rng.choice(["m", "f"], size=race.size)
    y = rng.random(race.size) < 0.5
    prob = np.where(race == "c", 0.2, np.where(y, 0.75, 0.35))
    return context(y, prob, gender, race, seed)


def one_predicted_class(seed: int = 4) -> CheckContext:
    """The model never predicts the favourable label: one class of predictions is empty."""
    rng = np.random.default_rng(seed)
    n = 300
    race = rng.choice(["a", "b"], size=n)
    gender = rng.choice(["m", "f"], size=n)
    y = rng.random(n) < 0.4
    return context(y, rng.uniform(0.05, 0.45, n), gender, race, seed)


GENERATORS = {"planted": planted, "tiny groups": tiny_groups, "all favourable": all_favourable,
              "no favourable for a group": no_favourable_for_a_group, "one predicted class": one_predicted_class}
