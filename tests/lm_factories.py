"""Tiny language models for stereotype probes: a masked LM (2-layer BERT with the MiniLM
tokenizer) and causal LMs (tests/causal_factories.py without a prompt), random weights,
saved as safetensors; and the example pairs file shipped in audits/data."""
from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

from tests.factories import MINILM_DIR

PAIRS_CSV = Path(__file__).resolve().parent.parent / "audits" / "data" / "stereotype_pairs_example.csv"


def make_masked_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BertForMaskedLM, hidden size 32, with the MiniLM WordPiece tokenizer.

    Its output layer is widened (as causal_factories._spread does) so the distributions
    over the vocabulary differ clearly between contexts and a wrong position shows."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, initializer_range=0.2,
                        architectures=["BertForMaskedLM"])
    model = BertForMaskedLM(config)
    with torch.no_grad():
        model.cls.predictions.transform.dense.weight.mul_(4.0)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(MINILM_DIR, local_files_only=True).save_pretrained(folder)
    return folder
