"""A synthetic text dataset with a planted dependence on the attribute, and a tiny model
trained on it, so the mitigation tests know what a fair model would look like.

Sentiment words decide the true outcome, and sentiment is independent of the group; the
recorded labels, however, deny most (80%) of the "gay" group's positive outcomes. A model
fitted to those labels learns the group, which mitigation must then remove.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from tests.factories import MINILM_DIR

POSITIVE = ("wonderful", "great", "kind", "helpful", "friendly", "honest")
NEGATIVE = ("awful", "rude", "terrible", "lazy", "cruel", "dishonest")
SUBJECTS = ("neighbour", "teacher", "driver", "doctor")
SHIFT = 4.0


def make_dataset(n: int, seed: int, flip: float = 0.8) -> tuple[list[str], np.ndarray, np.ndarray]:
    """texts, labels (0/1, 1 favourable), group ("gay" unprivileged, "straight" privileged)."""
    rng = np.random.default_rng(seed)
    gay = rng.random(n) < 0.5
    positive = rng.random(n) < 0.5
    labels = (positive & ~(gay & (rng.random(n) < flip))).astype(np.int64)
    texts = [
        f"the {'gay' if g else 'straight'} {rng.choice(SUBJECTS)} was {rng.choice(POSITIVE if p else NEGATIVE)}"
        for g, p in zip(gay, positive, strict=True)
    ]
    return texts, labels, np.where(gay, "gay", "straight")


def train_steps(model, batch, target, epochs: int, lr: float, seed: int, params=None) -> None:
    """Adam on cross-entropy in seeded shuffled batches of 32 (the test models' training)."""
    optimiser = torch.optim.Adam(params if params is not None else model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(target), generator=g)
        for i in range(0, len(target), 32):
            idx = order[i:i + 32]
            out = model(input_ids=batch["input_ids"][idx], attention_mask=batch["attention_mask"][idx])
            loss = torch.nn.functional.cross_entropy(out.logits, target[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


def make_biased_model(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (MiniLM tokenizer) whose pooled output encodes both the group and
    the sentiment (pre-trained on the four group x sentiment classes), with a two-label
    head that scores every "gay" text lower, so positive ones are mostly denied."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    config = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64)
    texts, _, group = make_dataset(512, seed=seed + 100)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    positive = torch.tensor([t.split()[-1] in POSITIVE for t in texts])
    four = BertForSequenceClassification(BertConfig(num_labels=4, **config))
    four.train()
    train_steps(four, batch, torch.from_numpy(group == "gay").long() * 2 + positive.long(), 8, 1e-2, seed)
    model = BertForSequenceClassification(BertConfig(
        num_labels=2, id2label={0: "denied", 1: "granted"}, label2id={"denied": 0, "granted": 1}, **config))
    state = {k: v for k, v in four.state_dict().items() if not k.startswith("classifier.")}
    model.load_state_dict(state, strict=False)
    model.eval()
    # The planted dependence: the head scores a "gay" text SHIFT logits below the same
    # text about a straight person, fitted by least squares on the pooled outputs.
    target = torch.where(positive, 3.0, -3.0) - SHIFT * torch.from_numpy(group == "gay").float()
    with torch.no_grad():
        pooled = model.bert(**batch).pooler_output.double().numpy()
    # float64: the pooled outputs are nearly collinear and float32 least squares loses the shift.
    x = np.hstack([pooled, np.ones((len(pooled), 1))])
    w = torch.from_numpy(np.linalg.lstsq(x, target.double().numpy(), rcond=None)[0]).float()
    with torch.no_grad():
        model.classifier.weight.copy_(torch.stack([-w[:-1] / 2, w[:-1] / 2]))
        model.classifier.bias.copy_(torch.stack([-w[-1] / 2, w[-1] / 2]))
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
