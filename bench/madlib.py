"""The texts and the model of bench/audit_10k.py: distinct madlib comments built from
audits/data/madlib_words.csv, and the demo model (or MiniLM fine-tuned briefly when the
demo has not been built). Shared with bench/explain_budgets.py."""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import common  # isort: skip - sets up Django

import numpy as np
import torch
from django.conf import settings

import runtime
from audits import demo

WORDS = Path(common.ROOT) / "audits" / "data" / "madlib_words.csv"
TEMPLATES = [
    "{name} is a {adjective} {identity} {occupation}.",
    "I think {identity} people are {adjective}.",
    "My neighbour {name} is {identity} and works as a {occupation}.",
    "Being {identity} is {adjective}.",
    "You should {verb} the {identity} {occupation} next door.",
    "{name} said that every {occupation} in this article is {adjective}.",
    "The edits by {name} about {identity} history look {adjective} to me.",
    "Please stop reverting, {name}, the {occupation} section was {adjective}.",
]


def madlib_comments(n: int, seed: int = 0) -> list[dict]:
    """`n` distinct comments of 2 to 4 template sentences, with their toxic label."""
    with WORDS.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    words: dict[str, list[tuple[str, bool]]] = {}
    for r in rows:
        words.setdefault(r["type"], []).append((r["word"], r["connotation"] == "toxic"))
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out = []
    while len(out) < n:
        sentences, toxic = [], False
        for template in rng.choice(TEMPLATES, size=int(rng.integers(2, 5)), replace=False):
            fill = {}
            for slot in ("name", "identity", "adjective", "occupation", "verb"):
                word, bad = words[slot][int(rng.integers(len(words[slot])))]
                fill[slot] = word
                toxic |= bad and "{" + slot + "}" in template
            sentences.append(template.format(**fill))
        text = " ".join(sentences)
        if text not in seen:
            seen.add(text)
            out.append({"comment": text, "toxic": str(toxic)})
    return out


def bench_model(train_seconds: float) -> tuple[Path, str]:
    """The demo model when built, else MiniLM fine-tuned for `train_seconds` (cached)."""
    folder = demo.demo_folder()
    if (folder / "model.safetensors").is_file() and (folder / "metrics.json").is_file():
        # The upload takes model files only: metrics.json (the demo's marker) stays behind.
        copy = Path(tempfile.mkdtemp(prefix="audit10k-model-"))
        for path in folder.iterdir():
            if path.name in demo.KEEP_FILES:
                shutil.copy2(path, copy / path.name)
        metrics = json.loads((folder / "metrics.json").read_text())
        return copy, (f"demo model ({folder}: held-out accuracy {metrics['accuracy']:.3f}, "
                      f"ROC AUC {metrics['roc_auc']:.3f})")
    cached = Path(settings.VAR_DIR) / "bench-minilm"
    note = cached.with_name("bench-minilm.txt")  # beside: a model folder holds model files only
    if not note.is_file():
        _quick_fit(cached, train_seconds)
    return cached, f"all-MiniLM-L6-v2 + 2-label head, {note.read_text().strip()} ({cached})"


def _quick_fit(out: Path, seconds: float) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    labels = {0: "False", 1: "True"}
    model = AutoModelForSequenceClassification.from_pretrained(
        demo.minilm_folder(), num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()},
        local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(demo.minilm_folder(), local_files_only=True)
    train, _ = demo.demo_split(demo.load_frame(), seed=0, held_out=demo.RECIPE["held_out"])
    # Short rows: the most steps in the time given (the machine is shared).
    ids = tokenizer(train[demo.TEXT].tolist(), truncation=True, max_length=48)["input_ids"]
    y = torch.tensor(train[demo.LABEL].astype(int).to_numpy())
    counts = torch.bincount(y, minlength=2).float()
    loss_fn = torch.nn.CrossEntropyLoss(weight=len(y) / (2 * counts))
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    rng = np.random.default_rng(0)
    model.train()
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        batch = rng.choice(len(ids), size=16, replace=False)
        input_ids, mask = runtime.padding.pad_rows([ids[i] for i in batch], tokenizer.pad_token_id)
        loss = loss_fn(model(input_ids=input_ids, attention_mask=mask).logits, y[batch])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        steps += 1
    model.eval()
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    out.with_name("bench-minilm.txt").write_text(f"fine-tuned {steps} steps of 16 demo comments ({seconds:.0f} s)\n")
