"""Tiny random sequence classifiers of many architectures, with offline tokenizers.

Every model has 2 layers, hidden size 32, 2 labels and a position limit of 64, so
texts of a few hundred characters are longer than the model accepts. Encoders of the
BERT family use the MiniLM WordPiece tokenizer; RoBERTa-style encoders and decoders a
byte-level BPE trained here on the test texts, with RoBERTa's special-token order
(<s>=0, <pad>=1, </s>=2), so no file is downloaded.
"""
from __future__ import annotations

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from tests.factories import MINILM_DIR

POSITIONS = 64
BOS, PAD, EOS = 0, 1, 2
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

# Shared shape of every decoder: 4 query heads over 2 key-value heads of size 8.
DECODER = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
               num_key_value_heads=2, max_position_embeddings=POSITIONS)
BERT_LIKE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=POSITIONS)

# model_type -> (config class, tokenizer kind, extra config arguments)
ENCODERS = {
    "bert": ("BertConfig", "wordpiece", BERT_LIKE),
    "distilbert": ("DistilBertConfig", "wordpiece",
                   dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=POSITIONS)),
    "deberta-v2": ("DebertaV2Config", "wordpiece",
                   dict(BERT_LIKE, relative_attention=True, position_buckets=16, pooler_hidden_size=32)),
    "electra": ("ElectraConfig", "wordpiece", dict(BERT_LIKE, embedding_size=32)),
    "albert": ("AlbertConfig", "wordpiece", dict(BERT_LIKE, embedding_size=16)),
    # RoBERTa counts positions from padding_idx + 1: POSITIONS + 2 rows hold POSITIONS tokens.
    "roberta": ("RobertaConfig", "bpe-pair", dict(BERT_LIKE, max_position_embeddings=POSITIONS + 2)),
    "xlm-roberta": ("XLMRobertaConfig", "bpe-pair", dict(BERT_LIKE, max_position_embeddings=POSITIONS + 2)),
    "modernbert": ("ModernBertConfig", "bpe-pair",
                   dict(BERT_LIKE, global_attn_every_n_layers=2, local_attention=16, classifier_pooling="mean",
                        cls_token_id=BOS, sep_token_id=EOS)),
    # Reads its last position whatever the padding: exact only when left-padded.
    "xlnet": ("XLNetConfig", "bpe-pair", dict(d_model=32, n_layer=2, n_head=2, d_inner=64)),
}
# XLNet's relative positions set no limit: its tokenizer's model_max_length does.
TOKENIZER_LIMITS = {"xlnet": POSITIONS}
DECODERS = {
    "llama": ("LlamaConfig", DECODER),
    "mistral": ("MistralConfig", dict(DECODER, sliding_window=16)),
    "qwen2": ("Qwen2Config", DECODER),
    "qwen3": ("Qwen3Config", dict(DECODER, head_dim=8)),
    "gemma2": ("Gemma2Config", dict(DECODER, head_dim=8, query_pre_attn_scalar=8, sliding_window=16)),
    "phi3": ("Phi3Config", DECODER),
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=2, n_positions=POSITIONS)),
    "gpt_neox": ("GPTNeoXConfig", dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, max_position_embeddings=POSITIONS)),
    "opt": ("OPTConfig", dict(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=2,
                              word_embed_proj_dim=32, max_position_embeddings=POSITIONS)),
}


def bpe_tokenizer(corpus: list[str], *, pair: bool) -> Tokenizer:
    """Byte-level BPE; `pair` wraps a text as <s> text </s> (encoders), else <s> text."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    template = "<s> $A </s>" if pair else "<s> $A"
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[("<s>", BOS), ("</s>", EOS)])
    return tok


def save_tokenizer(folder: Path, kind: str, corpus: list[str], *, with_pad: bool,
                   limit: int | None = None) -> PreTrainedTokenizerFast:
    """Write a tokenizer of `kind` (wordpiece, bpe-pair, bpe-causal) into `folder`."""
    if kind == "wordpiece":
        tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True)
    else:
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=bpe_tokenizer(corpus, pair=kind == "bpe-pair"),
            bos_token="<s>", eos_token="</s>", unk_token="<unk>", mask_token="<mask>",
            cls_token="<s>", sep_token="</s>", pad_token="<pad>",
        )
    if not with_pad:
        tokenizer.pad_token = None
    if limit:
        tokenizer.model_max_length = limit
    tokenizer.save_pretrained(folder)
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def save_model(folder: Path, config_name: str, extra: dict, *, vocab_size: int, seed: int = 0,
               **special_ids) -> Path:
    """A random 2-label classifier whose weights are drawn wide (initializer_range), so
    that probabilities spread far from 0.5 and reading a wrong position or attending to
    padding changes them by far more than 1e-5."""
    torch.manual_seed(seed)
    config = getattr(transformers, config_name)(vocab_size=vocab_size, num_labels=2, initializer_range=0.3,
                                                **extra, **special_ids)
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def build(root: Path, model_type: str, case: str, corpus: list[str]) -> Path:
    """Save one (architecture, tokenizer case) classifier under `root`; return its folder.

    Cases: "pad" (tokenizer and config share a pad token), "nopad" (the tokenizer has
    none), and for decoders "eos" (no tokenizer pad, config.pad_token_id = eos) and
    "none" (no tokenizer pad, config.pad_token_id None).
    """
    folder = root / f"{model_type}-{case}"
    folder.mkdir(parents=True)
    if model_type in ENCODERS:
        config_name, kind, extra = ENCODERS[model_type]
        tokenizer = save_tokenizer(folder, kind, corpus, with_pad=case == "pad", limit=TOKENIZER_LIMITS.get(model_type))
        ids = {} if kind == "wordpiece" else dict(pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS)
    else:
        config_name, extra = DECODERS[model_type]
        tokenizer = save_tokenizer(folder, "bpe-causal", corpus, with_pad=case == "pad")
        pad = {"pad": PAD, "eos": EOS, "none": None}[case]
        ids = dict(pad_token_id=pad, bos_token_id=BOS, eos_token_id=EOS)
    return save_model(folder, config_name, extra, vocab_size=len(tokenizer), **ids)


def cases() -> list[tuple[str, str]]:
    return ([(m, c) for m in ENCODERS for c in ("pad", "nopad")]
            + [(m, c) for m in DECODERS for c in ("pad", "eos", "none")])
