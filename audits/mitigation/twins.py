"""The counterfactual flip rate on identity-swapped twins, before and after a mitigation.

Each measured row whose group is an identity term found in its text gets one twin per
other term of the attribute present among those rows, the term swapped (balancing's
whole-word swap). The flip rate is the share of twins whose predicted label differs from
their original's; its interval comes from the checks' row bootstrap over the originals
(a ratio of weighted sums, so a text's twins move together).
"""
from __future__ import annotations

import numpy as np

from audits.checks.bootstrap import percentile_interval
from audits.checks.intervals import bootstrap, clean

from .balancing import swap_term


def twin_texts(texts, group, privileged, rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(twin texts, the position in `rows` of each twin's original)."""
    group, privileged = np.asarray(group).astype(str), np.asarray(privileged, bool)
    candidates = [i for i in rows if not privileged[i] and swap_term(texts[i], group[i], "\0") != texts[i]]
    terms = sorted({group[i] for i in candidates})
    position = {int(r): k for k, r in enumerate(rows)}
    out, owner = [], []
    for i in candidates:
        for other in terms:
            if other != group[i]:
                out.append(swap_term(texts[i], group[i], other))
                owner.append(position[int(i)])
    return out, np.asarray(owner, dtype=np.int64)


def flip_rate(owner: np.ndarray, n_rows: int, original: np.ndarray, twins: np.ndarray, resamples: int,
              rng: np.random.Generator) -> dict:
    """{"value","ci_low","ci_high","twins"}: the share of twins predicted unlike their original."""
    flips = np.bincount(owner, weights=(np.asarray(twins) != np.asarray(original)[owner]).astype(float),
                        minlength=n_rows)
    count = np.bincount(owner, minlength=n_rows).astype(float)

    def statistic(w: np.ndarray) -> dict:
        total = w @ count
        return {"rate": np.divide(w @ flips, total, out=np.full(len(w), np.nan), where=total > 0)}

    samples = bootstrap(statistic, np.zeros(n_rows, dtype=np.int64), rng, resamples=resamples)
    low, high = percentile_interval(np.asarray(samples["rate"], dtype=np.float64))
    return {"value": clean(float(flips.sum() / count.sum())), "ci_low": low, "ci_high": high,
            "twins": int(count.sum())}
