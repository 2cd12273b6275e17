"""A generator of hostile models and tables, one builder per class of bad input.

Each builder takes a folder and a numpy Generator and writes one random instance of its
class (where the NaN sits, how deep the nesting goes, how long the value is, which
control characters the file name holds), so a test run over a few seeds meets inputs
no one wrote by hand. Table builders also return the settings that make their class
bite at a size a test can afford (a decoded-size limit of megabytes, not gigabytes).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from tests.factories import MINILM_DIR

# Characters a file name may hold that a terminal or a page must not act on.
NAME_HAZARDS = ("\u202e", "\u2066", "\x1b[31m", "\n", "\r", "\x07", "\u200f")


def hostile_name(rng: np.random.Generator, stem: str, suffix: str) -> str:
    """A file name with one or two hazardous characters inside its stem."""
    hazards = rng.choice(NAME_HAZARDS, size=int(rng.integers(1, 3)), replace=False)
    return f"{stem[:2]}{''.join(hazards)}{stem[2:]}{suffix}"


# --- models ------------------------------------------------------------------------------

def tiny_classifier(folder: Path, *, labels: tuple[str, ...] = ("False", "True"), vocab_size: int = 30522,
                    seed: int = 0, edit: Callable[[BertForSequenceClassification], None] | None = None) -> Path:
    """An untrained 1-layer BERT classifier with the MiniLM tokenizer, edited before saving."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=512, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    model = BertForSequenceClassification(config)
    if edit is not None:
        with torch.no_grad():
            edit(model)
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True).save_pretrained(folder)
    return folder


def _poison(value: float) -> Callable[[Path, np.random.Generator], Path]:
    def build(folder: Path, rng: np.random.Generator) -> Path:
        def edit(model):
            names = [n for n, p in model.named_parameters() if p.numel() > 0]
            tensor = dict(model.named_parameters())[names[int(rng.integers(len(names)))]]
            tensor.view(-1)[int(rng.integers(tensor.numel()))] = value
        return tiny_classifier(folder, edit=edit, seed=int(rng.integers(1000)))
    return build


def _overflowing_outputs(folder: Path, rng: np.random.Generator) -> Path:
    """Finite weights whose logits overflow float32: the pooled output is held at ~1 and
    the head multiplies it by the largest float."""
    def edit(model):
        model.bert.pooler.dense.weight.zero_()
        model.bert.pooler.dense.bias.fill_(10.0)
        model.classifier.weight.fill_(float(rng.uniform(2.5e38, 3.3e38)))
    return tiny_classifier(folder, edit=edit)


def _vocabulary_past_embeddings(folder: Path, rng: np.random.Generator) -> Path:
    """The 30,522-token tokenizer with an embedding matrix of fewer rows: ordinary words
    get ids the matrix has no row for."""
    return tiny_classifier(folder, vocab_size=int(rng.integers(200, 20_000)))


def _special_ids_past_embeddings(folder: Path, rng: np.random.Generator) -> Path:
    """So few embedding rows that [CLS] (id 101), added to every input, has none."""
    return tiny_classifier(folder, vocab_size=int(rng.integers(8, 100)))


def _more_labels(folder: Path, rng: np.random.Generator) -> Path:
    extra = ("maybe", "unsure", "other", "spam", "n/a")[: int(rng.integers(1, 5))]
    return tiny_classifier(folder, labels=("False", "True", *extra))


def _one_label(folder: Path, rng: np.random.Generator) -> Path:
    return tiny_classifier(folder, labels=(str(rng.choice(["True", "False"])),))


def _constant(folder: Path, rng: np.random.Generator) -> Path:
    """A head that ignores its input: every text gets the same probabilities."""
    def edit(model):
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([float(rng.normal()), float(rng.normal())]))
    return tiny_classifier(folder, edit=edit)


# Each class: its builder, and where the platform must refuse it: at upload, when the
# audit is created, or when its predictions are seen (before any check).
MODEL_CLASSES: dict[str, tuple[Callable[[Path, np.random.Generator], Path], str]] = {
    "nan_weights": (_poison(float("nan")), "upload"),
    "inf_weights": (_poison(float("inf")), "upload"),
    "overflowing_outputs": (_overflowing_outputs, "upload"),
    "vocabulary_past_embeddings": (_vocabulary_past_embeddings, "upload"),
    "special_ids_past_embeddings": (_special_ids_past_embeddings, "upload"),
    "more_labels_than_the_dataset": (_more_labels, "create"),
    "one_label": (_one_label, "create"),
    "constant_predictions": (_constant, "predict"),
}


def people_frame(rng: np.random.Generator, rows: int = 60) -> pd.DataFrame:
    """A valid table for the model classes: text, label (False/True), gender."""
    gender = rng.choice(["male", "female"], size=rows)
    words = np.array(["kind", "loud", "calm", "late", "sharp", "quiet", "gay", "bright"])
    text = [f"the {g} colleague is {' '.join(rng.choice(words, size=3))}" for g in gender]
    return pd.DataFrame({"text": text, "label": rng.random(rows) < 0.4, "gender": gender})


# --- tables ------------------------------------------------------------------------------

def _deep_jsonl(folder: Path, rng: np.random.Generator):
    depth = int(rng.integers(1_000, 60_000))
    nested = "[" * depth + "]" * depth if rng.random() < 0.5 else '{"a":' * depth + "1" + "}" * depth
    lines = [json.dumps({"text": "fine", "label": True, "gender": "male"})] * 3
    lines.insert(int(rng.integers(0, 4)), '{"text": "deep", "label": false, "gender": "female", "meta": '
                 + nested + "}")
    return "deep.jsonl", "\n".join(lines) + "\n", {}


def _parquet_bomb(folder: Path, rng: np.random.Generator):
    """Megabytes of text from a file of a few kilobytes: one value, repeated."""
    rows = int(rng.integers(8_000, 16_000))
    value = "x" * int(rng.integers(600, 1_200))
    frame = pd.DataFrame({"text": [value] * rows, "label": np.arange(rows) % 2 == 0,
                          "gender": np.where(np.arange(rows) % 3 == 0, "female", "male")})
    path = folder / "bomb.parquet"
    frame.to_parquet(path, compression="zstd")
    return "bomb.parquet", path.read_bytes(), {"MAX_DATASET_DECODED_BYTES": 2 * 1024**2}


def _huge_cell(folder: Path, rng: np.random.Generator):
    alphabet = np.array(list("abc xyz€𝄞é"))
    cell = "".join(rng.choice(alphabet, size=int(rng.integers(1_100, 4_000))))
    rows = ["text,label,gender"] + [f"ok {i},True,male" for i in range(5)]
    rows.insert(int(rng.integers(1, 6)), f'"{cell}",False,female')
    return "cell.csv", "\n".join(rows) + "\n", {"MAX_DATASET_CELL_BYTES": 1_000}


def _many_columns(folder: Path, rng: np.random.Generator):
    n = int(rng.integers(21, 80))
    header = ",".join(["text", "label", "gender"] + [f"c{i}" for i in range(n)])
    row = ",".join(["hi", "True", "male"] + ["1"] * n)
    return "wide.csv", f"{header}\n{row}\n", {"MAX_DATASET_COLUMNS": 20}


def _many_rows(folder: Path, rng: np.random.Generator):
    rows = "".join(f"text {i},True,male\n" for i in range(int(rng.integers(51, 200))))
    return "long.csv", "text,label,gender\n" + rows, {"MAX_DATASET_ROWS": 50}


def _bad_bytes(folder: Path, rng: np.random.Generator):
    # UTF-8 text (with a multi-byte "é") and one stray byte: broken UTF-8, refused. A file
    # with no UTF-8 sequence at all would be read as Windows-1252 (audits/uploads/csv_sniff.py).
    rows = [f"text {i} café,True,male".encode() for i in range(10)]
    at = int(rng.integers(0, 10))
    rows[at] = rows[at][:3] + bytes([int(rng.choice([0xFF, 0xC3, 0xE2, 0x80]))]) + rows[at][3:]
    return "latin.csv", b"text,label,gender\n" + b"\n".join(rows) + b"\n", {}


def _ragged(folder: Path, rng: np.random.Generator):
    rows = [f"text {i},True,male" for i in range(10)]
    rows[int(rng.integers(0, 10))] += ",extra" * int(rng.integers(1, 4))
    return "ragged.csv", "text,label,gender\n" + "\n".join(rows) + "\n", {}


def _huge_integer(folder: Path, rng: np.random.Generator):
    digits = "9" * int(rng.integers(4_400, 20_000))
    return "int.jsonl", '{"text": "a", "label": true, "gender": "male", "n": ' + digits + "}\n", {}


def _duplicate_key(folder: Path, rng: np.random.Generator):
    return "dup.jsonl", '{"text": "a", "label": true, "gender": "male", "text": "b"}\n', {}


def _garbage_parquet(folder: Path, rng: np.random.Generator):
    return "junk.parquet", b"PAR1" + rng.bytes(int(rng.integers(10, 4_000))) + b"PAR1", {}


def _header_only(folder: Path, rng: np.random.Generator):
    return "empty.csv", "text,label,gender\n" + "\n" * int(rng.integers(0, 5)), {}


TABLE_CLASSES: dict[str, Callable] = {
    "deep_jsonl": _deep_jsonl,
    "parquet_bomb": _parquet_bomb,
    "huge_cell": _huge_cell,
    "too_many_columns": _many_columns,
    "too_many_rows": _many_rows,
    "bytes_not_utf8": _bad_bytes,
    "ragged_rows": _ragged,
    "integer_past_python": _huge_integer,
    "duplicate_json_key": _duplicate_key,
    "garbage_parquet": _garbage_parquet,
    "header_only": _header_only,
}


def hostile_table(kind: str, folder: Path, rng: np.random.Generator) -> tuple[Path, dict]:
    """One random table of `kind` under a hostile file name, and the settings it needs."""
    folder.mkdir(parents=True, exist_ok=True)
    name, content, overrides = TABLE_CLASSES[kind](folder, rng)
    stem, suffix = name.rsplit(".", 1)
    path = folder / hostile_name(rng, stem, "." + suffix)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path, overrides
