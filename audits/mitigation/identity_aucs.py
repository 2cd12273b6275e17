"""Borkan et al.'s (2019) identity-term AUCs before and after a mitigation, with intervals.

Identity-term bias is where text classifiers fail: a model may separate the labels well
overall and still rank a group's favourable texts below other texts' unfavourable ones.
For each non-privileged group of MIN_GROUP_ROWS rows or more: the subgroup AUC, the BPSN
AUC (background positive, subgroup negative) and the BNSP AUC, on the rows the figures
are measured on, for the parent's and the new model's scores. The rows and the paper's
orientation (positive = the unfavourable label) are the subgroup_auc check's (auc_rows);
the intervals come from one stratified row bootstrap (the checks' `bootstrap`), with the
same resampled rows for both models so that their difference is read on one footing.
"""
from __future__ import annotations

import numpy as np

from audits.checks import MIN_GROUP_ROWS
from audits.checks.bootstrap import percentile_interval
from audits.checks.intervals import AUC, bootstrap, clean, strata_codes
from audits.checks.subgroup_auc import auc_rows


def identity_aucs(labels, favourable_id: int, group, privileged, scores: dict[str, np.ndarray | None],
                  resamples: int, rng: np.random.Generator, min_rows: int = MIN_GROUP_ROWS) -> dict:
    """{GROUP: {KIND: {MODEL: {"value","ci_low","ci_high"}}}} for KIND subgroup_auc, bpsn_auc,
    bnsp_auc and each MODEL of `scores` (favourable probabilities; None: no score, left out)."""
    labels, group, privileged = np.asarray(labels), np.asarray(group).astype(str), np.asarray(privileged, bool)
    positive = labels != favourable_id
    models = {name: -np.asarray(s, dtype=np.float64) for name, s in scores.items() if s is not None}
    if not models or positive.all() or not positive.any():
        return {}
    aucs = {}
    for name_group in sorted(set(group[~privileged])):
        in_group = group == name_group
        if in_group.sum() < min_rows:
            continue
        for kind, rows in auc_rows(in_group, positive).items():
            if positive[rows].all() or not positive[rows].any():
                continue  # one class only: undefined
            for model, score in models.items():
                aucs[(name_group, kind, model)] = AUC(score, positive, rows)
    if not aucs:
        return {}
    samples = bootstrap(lambda w: {key: auc(w) for key, auc in aucs.items()}, strata_codes(group, positive), rng,
                        resamples=resamples)
    out: dict = {}
    for (name_group, kind, model), auc in aucs.items():
        low, high = percentile_interval(np.asarray(samples[(name_group, kind, model)], dtype=np.float64))
        value = clean(float(auc(np.ones((1, len(labels))))[0]))
        out.setdefault(name_group, {}).setdefault(kind, {})[model] = {"value": value, "ci_low": low, "ci_high": high}
    return out
