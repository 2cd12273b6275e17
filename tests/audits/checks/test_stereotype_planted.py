"""Planted cases for stereotype_pairs, scored through runtime.lm_scores by real causal LMs.

Fail: a tiny Llama trained for a few seconds on sentences in which one group's words
come five times as often as the other's, so that group's sentences are always more
likely: flagged `fail`. Pass: a controllable causal LM (no layers: its next-token
logits are a table of our choosing) whose preference for one group or the other is
drawn at random per pair, with no side favoured; the audit passes in at least 19 of 20
seeds (each type has 800 pairs, so 45-55 % holds the share unless chance strays 2.8
standard errors).
"""
from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from audits.checks import CheckContext, get_check
from audits.checks.context import SentencePairs
from audits.checks.policy import DEFAULT_POLICY
from audits.reports.document import summarize
from runtime.lm_scores import CAUSAL_LM, pair_scores
from tests.torch_threads import one_torch_thread  # noqa: F401 - an autouse fixture: tiny models, one thread

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    raw = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def world(contexts: int, words: int):
    """Words: contexts c*, per bias type its two groups' words (gender: a*/b*, age: p*/q*), and "end"."""
    groups = {"gender": ("a", "b"), "age": ("p", "q")}
    vocab = [f"c{t}" for t in range(contexts)] + ["end"]
    vocab += [f"{g}{k}" for pair in groups.values() for g in pair for k in range(words)]
    pairs = [(f"c{t} {a}{k} end", f"c{t} {b}{k} end", bias) for bias, (a, b) in groups.items()
             for t in range(contexts) for k in range(words)]
    return vocab, pairs


def judge(model, tokenizer, pairs, seed: int) -> list[dict]:
    more, less, types = zip(*pairs, strict=True)
    scores = pair_scores(model, tokenizer, CAUSAL_LM, list(more), list(less), limit=16)
    sentence_pairs = SentencePairs(more=list(more), less=list(less), bias_type=np.array(types),
                                   direction=np.array([""] * len(more)), more_score=scores.more.total,
                                   less_score=scores.less.total, kind=CAUSAL_LM)
    empty = np.zeros(0)
    ctx = CheckContext(y_true=empty.astype(bool), y_pred=empty.astype(bool), prob=empty, groups=None, privileged={},
                       policy=DEFAULT_POLICY, seed=seed, resamples=1000, pairs=sentence_pairs)
    return get_check("stereotype_pairs")(ctx)


def train_biased_lm(tokenizer, pairs, steps: int = 60) -> LlamaForCausalLM:
    """A 1-layer Llama trained (full batch, a few seconds) on the more-stereotypical
    sentences five times as often as on the others."""
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16,
                         bos_token_id=0, pad_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(config)
    corpus = [m for m, _, _ in pairs] * 5 + [s for _, s, _ in pairs]
    ids = torch.tensor([[0, *tokenizer(t, add_special_tokens=False)["input_ids"]] for t in corpus])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def test_a_tiny_lm_trained_to_prefer_one_group_fails():
    vocab, pairs = world(contexts=6, words=6)
    tokenizer = word_tokenizer(vocab)
    model = train_biased_lm(tokenizer, pairs)
    results = judge(model, tokenizer, pairs, seed=0)
    overall = results[0]["metrics"]["stereotype_score"]
    assert overall["value"] > 0.9 and overall["ci_low"] > 0.55
    assert results[0]["status"] == "fail"
    assert summarize(results)["status"] == "fail"


def table_lm(tokenizer, pairs, rng) -> LlamaForCausalLM:
    """A causal LM without layers whose logit for `next` after `current` is table[next, current]:
    embeddings one-hot (RMSNorm keeps them one-hot, scaled by sqrt(width)), the head the table."""
    size = len(tokenizer)
    hidden = size + size % 2  # rotary embeddings need an even width
    config = LlamaConfig(vocab_size=size, hidden_size=hidden, intermediate_size=4, num_hidden_layers=0,
                         num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=16,
                         bos_token_id=0, pad_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    table = torch.zeros(size, size)
    for more, less, _ in pairs:
        context, a, _ = (tokenizer.convert_tokens_to_ids(w) for w in more.split())
        b = tokenizer.convert_tokens_to_ids(less.split()[1])
        # Only the group word after the context differs; which group it favours is chance.
        table[a, context], table[b, context] = rng.normal(size=2)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(torch.eye(size, hidden))
        model.lm_head.weight.copy_(torch.nn.functional.pad(table, (0, hidden - size)) / hidden**0.5)
    return model.eval().double()


def test_a_model_without_preference_passes_in_19_of_20_seeds():
    vocab, pairs = world(contexts=40, words=20)
    tokenizer = word_tokenizer(vocab)
    verdicts = []
    for seed in range(20):
        model = table_lm(tokenizer, pairs, np.random.default_rng(seed))
        results = judge(model, tokenizer, pairs, seed=seed)
        assert 0.4 < results[0]["metrics"]["stereotype_score"]["value"] < 0.6
        verdicts.append(summarize(results)["status"])
    assert verdicts.count("pass") >= 19, verdicts
