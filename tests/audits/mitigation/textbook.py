"""The textbook case of issue 16: a classifier whose decision is made by the group that a
name in the text signals, audited on texts whose labels ignore the names.

Texts read "<name> was <adjective> at the <place>". The parent is a 2-layer BERT (MiniLM
tokenizer) fine-tuned, all layers, on texts whose label is the name's group (favourable
for the "m" names): on any data it decides by name, so |SPD| on the evaluation rows is
about 1 and its accuracy there about one half.

- evaluation rows: label = the adjective's sentiment, names independent of it;
- training rows for debiasing: the same sentences, labelled by sentiment except that a
  share `flip` of the "f" group's favourable labels are denied (biased labels, as
  real training data has them). Retraining on them without an adversary learns the
  sentiment and part of the name; the adversary must remove the rest.
"""
from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from tests.audits.mitigation.synthetic import train_steps
from tests.factories import MINILM_DIR

# Single word pieces of the MiniLM vocabulary, so the name alone carries the group.
NAMES = {"m": ("john", "paul", "mark", "peter", "david", "james"),
         "f": ("mary", "anna", "sarah", "lisa", "emma", "julia")}
POSITIVE = ("wonderful", "great", "kind", "helpful", "friendly", "honest")
NEGATIVE = ("awful", "rude", "terrible", "lazy", "cruel", "dishonest")
PLACES = ("office", "school", "shop", "hospital", "station")


def sentences(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """texts, sentiment (bool), group ("m" privileged / "f"), names and sentiment independent."""
    rng = np.random.default_rng(seed)
    male = rng.random(n) < 0.5
    positive = rng.random(n) < 0.5
    texts = [f"{rng.choice(NAMES['m' if m else 'f'])} was {rng.choice(POSITIVE if p else NEGATIVE)} "
             f"at the {rng.choice(PLACES)}" for m, p in zip(male, positive, strict=True)]
    return texts, positive, np.where(male, "m", "f")


def evaluation_rows(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """texts, labels (1 favourable = positive sentiment), group: labels ignore the names."""
    texts, positive, group = sentences(n, seed)
    return texts, positive.astype(np.int64), group


def training_rows(n: int, seed: int, flip: float = 0.5) -> tuple[list[str], np.ndarray, np.ndarray]:
    """texts, labels, group: sentiment labels with a share `flip` of the "f" group's
    favourable labels denied."""
    texts, positive, group = sentences(n, seed)
    rng = np.random.default_rng(seed + 1)
    denied = (group == "f") & positive & (rng.random(n) < flip)
    return texts, (positive & ~denied).astype(np.int64), group


def _fit(model, batch, target, epochs: int, seed: int) -> None:
    model.train()
    train_steps(model, batch, target, epochs, 3e-3, seed)
    model.eval()


def make_name_model(folder: Path, seed: int = 0, rows: int = 400, epochs: int = 4, pretrain_epochs: int = 8,
                    max_rounds: int = 5) -> Path:
    """A tiny BERT "pre-trained" to tell both the name's group and the sentiment (four
    classes; a real pre-trained encoder knows both), then fine-tuned, all layers, on
    texts whose label is the name's group; saved as a folder."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    config = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64)
    texts, positive, group = sentences(rows, seed + 1000)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    male = torch.from_numpy(group == "m").long()
    four = BertForSequenceClassification(BertConfig(num_labels=4, **config))
    _fit(four, batch, male * 2 + torch.from_numpy(positive).long(), pretrain_epochs, seed)
    model = BertForSequenceClassification(BertConfig(
        num_labels=2, id2label={0: "denied", 1: "granted"}, label2id={"denied": 0, "granted": 1}, **config))
    model.load_state_dict({k: v for k, v in four.state_dict().items() if not k.startswith("classifier.")},
                          strict=False)
    # Fine-tuned until the name decides: every training text labelled by its name's group.
    for round_ in range(max_rounds):
        _fit(model, batch, male, epochs, seed + round_)
        with torch.no_grad():
            decided = model(**batch).logits.argmax(1)
        if bool((decided == male).all()):
            break
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


# The settings bench/debias_textbook.py measures and the test asserts: every layer of the
# 2-layer model trained on its cached embeddings, the continuation sweep (option
# warm_start) and the epoch chosen on a validation part of the training rows (defaults).
OPTIONS = {"unfreeze_layers": 2, "epochs": 20, "learning_rate": 0.003, "lr_decay": 0.3,
           "sweep": [0.03, 0.1, 0.3, 1.0, 3.0]}


def case_rows(seed: int) -> tuple[tuple, dict]:
    """The evaluation rows (texts, labels, group, privileged) and the training dataset of one seed."""
    texts, labels, group = evaluation_rows(300, 5 + seed)
    train_texts, train_labels, train_group = training_rows(600, 50 + seed)
    return ((texts, labels, group, group == "m"),
            {"texts": train_texts, "labels": train_labels, "group": train_group, "privileged": train_group == "m"})


def criterion(section: dict) -> dict:
    """The issue's criterion on one run: the sweep's weights that reach |SPD| <= 0.1 on the
    evaluation rows without collapsing, at an accuracy not below retraining without the
    adversary's; and whether the gap falls as the weight grows (each non-collapsed weight's
    gap at most the one before it, from retraining's on), with the largest rise if not, and
    whether the largest weight's gap is at most retraining's (falls_overall)."""
    ref = section["no_mitigation_retrained"]
    meeting = [e["adversary_weight"] for e in section["sweep"]
               if not e["collapsed"] and e["fairness_gap"] <= 0.1 and e["accuracy"] >= ref["accuracy"]]
    gaps = [ref["fairness_gap"]] + [e["fairness_gap"] for e in section["sweep"] if not e["collapsed"]]
    rises = [b - a for a, b in pairwise(gaps) if b > a]
    return {"met": bool(meeting), "weights_meeting": meeting, "gaps": gaps,
            "largest_rise": max(rises, default=0.0), "falls": not rises,
            "falls_overall": len(gaps) > 1 and gaps[-1] <= gaps[0]}
