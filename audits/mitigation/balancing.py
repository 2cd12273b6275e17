"""Data balancing (Dixon et al., AIES 2018): training rows added so that no identity term
carries a label balance of its own.

1. Counterfactual copies: every training text that mentions one term of the attribute's
   category is copied once for each other term of the category found in the data, the
   term swapped (whole word, any case), the label kept. Every term then has the same
   texts, so the same label balance.
2. Favourable (or unfavourable) copies: while the identity rows' share of the favourable
   label differs from the other rows' (the privileged, "none"), copies of the identity
   rows with the missing label, cycled over the terms, are added (Dixon et al. add
   templated non-toxic sentences; here the templates are the data's own sentences with
   that label), until the shares match to one row.

The model then trains on the original and the added rows with no other change.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


@dataclass
class Balanced:
    texts: list[str]
    labels: np.ndarray
    group: np.ndarray
    counterfactual: int  # rows added by swapping terms
    label_balancing: int  # rows added to match the label balance


def swap_term(text: str, term: str, other: str) -> str:
    """`text` with the whole word(s) `term` (any case) replaced by `other`."""
    return re.sub(rf"(?<!\w){re.escape(term)}(?!\w)", other, text, flags=re.IGNORECASE)


def balance_rows(texts, labels, group, privileged, favourable_id: int, terms: list[str],
                 limit: int = 200_000) -> Balanced:
    """The rows to add to training rows (texts, labels, group, privileged) for `terms`
    (the category's terms present in the data: the attribute's non-privileged groups)."""
    labels, group, privileged = np.asarray(labels), np.asarray(group).astype(str), np.asarray(privileged, bool)
    # Only groups that are words of their own texts can be swapped (a protected column's
    # values, such as a name's group, are not).
    terms = sorted({t for t in terms if t and any(swap_term(x, t, "\0") != x for x, g in zip(texts, group, strict=True)
                                                   if g == t)})
    if not terms:
        raise ValueError("Data balancing swaps identity terms in the texts, and none of the attribute's groups "
                         "is a word of its texts (choose an identity-term attribute).")
    out_texts: list[str] = []
    out_labels: list[int] = []
    out_group: list[str] = []
    for text, label, term in zip(texts, labels, group, strict=True):
        if term not in terms:
            continue
        for other in terms:
            if other != term:
                out_texts.append(swap_term(text, term, other))
                out_labels.append(int(label))
                out_group.append(other)
    counterfactual = len(out_texts)
    identity = np.isin(group, terms)
    rest_share = float(np.mean(labels[privileged] == favourable_id)) if privileged.any() else None
    added = 0
    if rest_share is not None and identity.any():
        all_labels = np.concatenate([labels[identity], np.asarray(out_labels, dtype=labels.dtype)])
        fav, total = int(np.sum(all_labels == favourable_id)), len(all_labels)
        wanted = favourable_id if fav / total < rest_share else None
        pool = [i for i in np.flatnonzero(identity) if (labels[i] == favourable_id) == (wanted is not None)]
        # Rows of label L added until fav / total crosses rest_share (to within one row).
        need = (_need_favourable(fav, total, rest_share) if wanted is not None
                else _need_other(fav, total, rest_share))
        need = min(need, limit - len(out_texts)) if pool else 0
        for k in range(need):
            i = pool[k % len(pool)]
            other = terms[k % len(terms)]
            out_texts.append(swap_term(texts[i], group[i], other))
            out_labels.append(int(labels[i]))
            out_group.append(other)
        added = need
    return Balanced(texts=out_texts, labels=np.asarray(out_labels, dtype=np.int64), group=np.asarray(out_group),
                    counterfactual=counterfactual, label_balancing=added)


def _need_favourable(fav: int, total: int, share: float) -> int:
    """k favourable rows so that (fav + k) / (total + k) reaches share (k < total when share < 1)."""
    if share >= 1:
        return total  # cannot reach 1 by adding; bounded
    return max(0, int(np.ceil((share * total - fav) / (1 - share))))


def _need_other(fav: int, total: int, share: float) -> int:
    """k other rows so that fav / (total + k) falls to share."""
    if share <= 0:
        return total
    return max(0, int(np.ceil(fav / share - total)))
