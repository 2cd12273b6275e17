"""What an audit's report says about how the model ran: rows cut to its token limit, and
whether predictions were batched (checked exact) or run one text at a time."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch
from django.core.files.base import ContentFile
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from audits.models import Audit
from audits.reports import render_html
from audits.services.audits import audit_create, audit_file, audit_run
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.model_uploads import model_register_folder
from tests.factories import MINILM_DIR, PEOPLE_MAPPING

LONG = " ".join(["word"] * 300)  # ~300 tokens, beyond the model's 128 positions


def short_position_model(folder):
    """A BERT whose config holds 128 positions while its tokenizer claims 512 (common for
    distilled models); an audit used to fail on the first comment over 128 tokens."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2,
                        id2label={0: "False", 1: "True"}, label2id={"False": 0, "True": 1})
    BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    assert tokenizer.model_max_length == 512
    tokenizer.save_pretrained(folder)
    return folder


def test_an_audit_cuts_long_comments_to_the_models_limit_and_says_how_many(org, user, tmp_path):
    model = model_register_folder(organisation=org, user=user, name="short",
                                  folder=short_position_model(tmp_path / "short"))
    n = 60
    rng = np.random.default_rng(0)
    gender = rng.choice(["male", "female"], size=n)
    texts = [f"{g} says {LONG if i % 4 == 0 else 'hi'}" for i, g in enumerate(gender)]
    frame = pd.DataFrame({"text": texts, "label": rng.random(n) < 0.3, "gender": gender})
    dataset = dataset_map(dataset=dataset_upload(organisation=org, user=user, name="long",
                                                 uploaded_file=ContentFile(frame.to_csv(index=False).encode(),
                                                                           name="long.csv")),
                          mapping=PEOPLE_MAPPING)
    audit = audit_create(organisation=org, user=user, model=model, dataset=dataset, enqueue=False,
                         config={**PEOPLE_MAPPING, "checks": ["group_fairness"], "seed": 0})
    audit = audit_run(audit_id=audit.pk)
    assert audit.status == Audit.Status.DONE, audit.error
    facts = audit.report["runtime"]
    assert facts == {"device": "cpu", "dtype": "float32", "max_length": 128, "truncated_rows": 15,
                     "batching": "batched", "batching_note": ""}
    html = render_html(audit.report)
    assert "15 rows cut to the model's limit of 128 tokens" in html
    assert "batched (checked equal to one text at a time), on cpu in float32" in html
    with audit_file(audit=audit, name="report.json") as fh:
        assert json.loads(fh.read())["runtime"]["truncated_rows"] == 15

    # The other branch of the same card: a model whose batches were not exact.
    unbatched = {**audit.report, "runtime": {**facts, "truncated_rows": 1, "batching": "unbatched",
                                             "batching_note": "Padded batches changed it."}}
    html = render_html(unbatched)
    assert "1 row cut to the model's limit of 128 tokens" in html
    assert "one text at a time: Padded batches changed it., on cpu in float32" in html
