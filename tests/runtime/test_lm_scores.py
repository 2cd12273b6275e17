"""Sentence-pair scores equal a plain implementation of the published metrics.

The reference below is written from the papers, not from runtime.lm_scores: CrowS-Pairs
(Nangia et al. 2020) aligns the two sentences' token ids with difflib, masks each shared
token between the first and the last ([CLS] and [SEP]) one at a time, one forward pass
per masked sentence, and sums the log-probabilities of the original tokens; a causal LM's
score is the sum of log P(token | tokens before it), one sentence per forward pass.
The models run in float64 here, so any difference is the algorithm's, not rounding's.
"""
from __future__ import annotations

import difflib

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

from runtime.lm_scores import CAUSAL_LM, MASKED_LM, architecture_kind, pair_scores, shared_positions
from tests.causal_factories import make_causal_lm
from tests.lm_factories import PAIRS_CSV, make_masked_lm


def reference_masked(model, tokenizer, more: str, less: str) -> tuple[float, float]:
    a = tokenizer.encode(more, return_tensors="pt")[0]
    b = tokenizer.encode(less, return_tensors="pt")[0]
    matcher = difflib.SequenceMatcher(None, [str(x) for x in a.tolist()], [str(x) for x in b.tolist()])
    left, right = [], []
    for op in matcher.get_opcodes():
        if op[0] == "equal":
            left += list(range(op[1], op[2]))
            right += list(range(op[3], op[4]))
    scores = []
    for ids, template in ((a, left), (b, right)):
        total = 0.0
        for i in range(1, len(template) - 1):  # never the [CLS] and [SEP] at the ends
            masked = ids.clone()
            masked[template[i]] = tokenizer.mask_token_id
            with torch.no_grad():
                logits = model(masked[None]).logits[0, template[i]]
            total += float(torch.log_softmax(logits.double(), dim=-1)[ids[template[i]]])
        scores.append(total)
    return scores[0], scores[1]


def reference_causal(model, tokenizer, text: str) -> tuple[float, int]:
    ids = tokenizer(text)["input_ids"]
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if ids[0] != start:
        ids = [start] + ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return float(sum(logp[t - 1, ids[t]] for t in range(1, len(ids)))), len(ids) - 1


@pytest.fixture(scope="module")
def pairs():
    frame = pd.read_csv(PAIRS_CSV)
    return frame["sent_more"].tolist(), frame["sent_less"].tolist()


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    folder = make_masked_lm(tmp_path_factory.mktemp("mlm") / "model")
    model = AutoModelForMaskedLM.from_pretrained(folder, use_safetensors=True).double().eval()
    return model, AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_scores_equal_the_plain_sum_of_log_probabilities(tmp_path, arch, pairs, settings):
    settings.PREDICT_MAX_TOKENS = 64  # several batches of several rows
    folder = make_causal_lm(tmp_path / arch, arch)
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True).double().eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    more, less = pairs
    ours = pair_scores(model, tokenizer, CAUSAL_LM, more, less, limit=256)
    for i in range(len(more)):
        for text, scores in ((more[i], ours.more), (less[i], ours.less)):
            total, count = reference_causal(model, tokenizer, text)
            assert scores.total[i] == pytest.approx(total, abs=1e-6)
            assert scores.tokens[i] == count
            assert scores.mean[i] == pytest.approx(total / count, abs=1e-6)


def test_masked_pll_equals_crows_pairs_one_masked_sentence_per_pass(masked, pairs, settings):
    settings.PREDICT_MAX_TOKENS = 200
    model, tokenizer = masked
    more, less = pairs
    ours = pair_scores(model, tokenizer, MASKED_LM, more, less, limit=128)
    expected = np.array([reference_masked(model, tokenizer, m, s) for m, s in zip(more, less, strict=True)])
    assert np.abs(ours.more.total - expected[:, 0]).max() < 1e-6
    assert np.abs(ours.less.total - expected[:, 1]).max() < 1e-6
    # Not a degenerate agreement: the pairs' scores differ, in both directions.
    prefers = ours.more.total > ours.less.total
    assert 0 < prefers.sum() < len(more)


def test_masked_pll_without_the_head_hook_reads_the_same(masked, pairs, monkeypatch):
    """The hook that sends only the masked position to the head changes nothing."""
    model, tokenizer = masked
    more, less = pairs[0][:6], pairs[1][:6]
    hooked = pair_scores(model, tokenizer, MASKED_LM, more, less, limit=128)
    monkeypatch.setattr("runtime.lm_scores._KeepPositions.__call__", lambda self, m, a, out: out)
    plain = pair_scores(model, tokenizer, MASKED_LM, more, less, limit=128)
    assert np.abs(hooked.more.total - plain.more.total).max() < 1e-9


def test_shared_positions_skip_special_tokens_and_the_changed_words(masked):
    _, tokenizer = masked
    a = tokenizer("the old man left")["input_ids"]
    b = tokenizer("the young man left")["input_ids"]
    left, right = shared_positions(a, b, set(tokenizer.all_special_ids))
    assert [tokenizer.convert_ids_to_tokens(a[i]) for i in left] == ["the", "man", "left"]
    assert [tokenizer.convert_ids_to_tokens(b[i]) for i in right] == ["the", "man", "left"]


def test_architecture_kinds():
    assert architecture_kind(["BertForMaskedLM"]) == MASKED_LM
    assert architecture_kind(["GPT2LMHeadModel"]) == CAUSAL_LM
    assert architecture_kind(["LlamaForCausalLM"]) == CAUSAL_LM
    assert architecture_kind(["BertForSequenceClassification"]) is None
    assert architecture_kind([]) is None


@pytest.mark.parametrize("model_type", ["distilbert", "roberta", "electra", "albert"])
def test_masked_pll_of_other_encoder_families_equals_the_plain_loop(tmp_path, model_type, pairs, settings):
    """Each family puts its own head on the base model's output (DistilBERT's vocab_transform,
    RoBERTa's lm_head, ELECTRA's generator, ALBERT's predictions): the hook that keeps only
    the masked position must hold for each, with right padding in batches of several rows."""
    import transformers

    from tests.runtime.tiny_models import ENCODERS, save_tokenizer

    settings.PREDICT_MAX_TOKENS = 150
    config_name, kind, extra = ENCODERS[model_type]
    more, less = pairs[0][:10], pairs[1][:10]
    tokenizer = save_tokenizer(tmp_path, kind, more + less, with_pad=True)
    ids = {} if kind == "wordpiece" else dict(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(0)
    config = getattr(transformers, config_name)(vocab_size=len(tokenizer), initializer_range=0.3, **extra, **ids)
    model = AutoModelForMaskedLM.from_config(config).double().eval()
    ours = pair_scores(model, tokenizer, MASKED_LM, more, less, limit=64)
    expected = np.array([reference_masked(model, tokenizer, m, s) for m, s in zip(more, less, strict=True)])
    assert np.abs(ours.more.total - expected[:, 0]).max() < 1e-6
    assert np.abs(ours.less.total - expected[:, 1]).max() < 1e-6
