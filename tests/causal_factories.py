"""Tiny causal LMs (llama, qwen2, gpt2 architectures, random weights) with tokenizers
trained here, offline, and the prompt specs that make them classifiers."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

CORPUS = [
    "Comment: you are gay and nice\nIs it toxic? Answer: yes",
    "the straight editor wrote plain text and the gay editor wrote text",
    "male says hi, female says gay; the editors say hello there",
    "Is this comment toxic? no. Is that one toxic? yes. Not toxic, clean, ok",
    "I love this. What a lovely morning it was! short and sweet",
    "Classify the comment. Review: the film was great, positive; awful, negative",
]
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
ARCHITECTURES = ("llama", "qwen2", "gpt2")


def byte_level_tokenizer(specials: list[str], vocab_size: int = 700) -> Tokenizer:
    """GPT-2 / Qwen2 style: byte-level BPE, every string tokenizable, no unknown token."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 5, trainer)
    return tok


def metaspace_tokenizer(vocab_size: int = 400) -> Tokenizer:
    """Llama (SentencePiece) style: word starts marked "▁", a BOS added, unknown characters <unk>."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"])
    tok.train_from_iterator(CORPUS * 5, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def make_causal_lm(folder: Path, arch: str = "llama", *, pad: bool = False, chat: bool = False,
                   spec: dict | None = None, seed: int = 0, positions: int = 256) -> Path:
    """A 2-layer causal LM of `arch` with its tokenizer, saved as safetensors; with `spec`,
    also its prompt.json. `pad`: the tokenizer has a pad token; `chat`: a ChatML template."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if arch == "llama":
        raw = metaspace_tokenizer()
        special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    else:
        names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        raw = byte_level_tokenizer(names)
        special = {"eos_token": "<|endoftext|>"}
        if arch == "qwen2":
            special["additional_special_tokens"] = names[1:]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, **special)
    if pad:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if chat:
        tokenizer.chat_template = CHATML
    vocab = len(tokenizer)
    # A wide initialisation: attention far from uniform, so positions and masks matter.
    sizes = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "initializer_range": 0.2}
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab, num_key_value_heads=2, max_position_embeddings=positions,
                             bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **sizes)
        model = LlamaForCausalLM(config)
    elif arch == "qwen2":
        config = Qwen2Config(vocab_size=vocab, num_key_value_heads=2, max_position_embeddings=positions,
                             eos_token_id=tokenizer.eos_token_id, **sizes)
        model = Qwen2ForCausalLM(config)
    else:
        config = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_inner=64, n_positions=positions,
                            initializer_range=0.2,
                            bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
        model = GPT2LMHeadModel(config)
    if pad:
        model.config.pad_token_id = tokenizer.pad_token_id
    _spread(model)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    if spec is not None:
        (folder / "prompt.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def _spread(model) -> None:
    """Random init gives near-uniform next-token distributions; scaling the output layer up
    makes label probabilities differ clearly between texts, so parity tests can fail."""
    with torch.no_grad():
        head = model.get_output_embeddings()
        if head.weight is model.get_input_embeddings().weight:
            head.weight.mul_(4.0)
        else:
            head.weight.normal_(0.0, 0.5)
    model.eval()


TOXIC_SPEC = {
    "template": "Comment: {text}\nIs this comment toxic? Answer:",
    "verbalizers": {"False": ["no", "clean"], "True": ["yes", "toxic"]},
}
