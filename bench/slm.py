"""Benchmark: a prompted SLM of Qwen2-0.5B's shapes, ours against naive transformers.

Run from the repository root: `python bench/slm.py [--texts N] [--dtype float32|bfloat16]`.

The model has Qwen2-0.5B's shapes (hidden 896, 24 layers, 14 query and 2 key-value
heads, intermediate 4864, vocabulary 151,936, tied embeddings: 494 M parameters) with
random weights, saved as safetensors in a temporary folder. Its tokenizer is a
byte-level BPE trained here, offline, on the demo comments (its vocabulary is what it
learns; the model keeps 151,936 rows so the embedding and output layers cost what
they cost in the real model). It is prompted with a template of about 100 tokens
around {text} and two one-word verbalizers, on 300 real comments of
demo/wiki_toxicity.csv (seeded sample).

- ours: runtime.load_model + runtime.predict_proba (prefix KV cache, length-sorted
  batches capped by padded tokens, only the last position's logits).
- naive: one `model(**tokenizer(prompt))` per text with the whole prompt, reading the
  last position's logits of the two verbalizer tokens (softmax over the two).

Each side runs in its own subprocess, one after the other, so its peak RSS
(getrusage ru_maxrss of that process: memory-mapped weight pages count once read) is
its own; both at the same torch thread count (TORCH_THREADS, else 2). Texts a side cuts
would make the two compute different things, so comments longer than the runtime's text
budget are cut to it first (decoding the kept tokens: byte-level BPE round-trips) and
both sides get the same strings. Goals are reported, not asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOALS = {"speed": 2.0, "rss_over_weights": 2.5}
SHAPES = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
              intermediate_size=4864, vocab_size=151_936, max_position_embeddings=32_768,
              tie_word_embeddings=True)
EOS = "<|endoftext|>"
TEMPLATE = (
    "You are a careful content moderator for the talk pages of an online encyclopedia. Read the "
    "comment below and decide whether it is toxic. A toxic comment is rude, disrespectful or "
    "unreasonable, and likely to make someone leave the discussion: insults, threats, obscenity and "
    "attacks on a person or on a group of people are toxic. Disagreement, criticism of an edit, "
    "questions and plain statements of fact are not toxic.\n\n"
    "Comment: {text}\n\n"
    "Is this comment toxic? Answer yes or no.\nAnswer:"
)
VERBALIZERS = {"False": ["no"], "True": ["yes"]}


def comments(n: int, seed: int = 0) -> list[str]:
    import pandas as pd

    frame = pd.read_csv(ROOT / "demo" / "wiki_toxicity.csv")
    return frame["comment"].astype(str).sample(n=n, random_state=seed).tolist()


def build(folder: Path) -> None:
    """The tokenizer, the config, random weights as safetensors and the prompt spec."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=32_000, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    raw.train_from_iterator(comments(1492, seed=1) + [TEMPLATE] * 5, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=EOS, model_max_length=SHAPES[
        "max_position_embeddings"])
    tokenizer.save_pretrained(folder)
    config = Qwen2Config(**SHAPES, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id,
                         architectures=["Qwen2ForCausalLM"])
    config.save_pretrained(folder)
    with torch.device("meta"):
        shapes = {name: tuple(t.shape) for name, t in Qwen2ForCausalLM(config).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name, shape in shapes.items():
        if name == "lm_head.weight":
            continue  # tied to the input embeddings
        if name.endswith("norm.weight"):
            tensors[name] = torch.ones(shape)
        elif name.endswith(".bias"):
            tensors[name] = torch.zeros(shape)
        else:
            tensors[name] = torch.randn(shape, generator=generator) * 0.02
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    spec = {"template": TEMPLATE, "verbalizers": VERBALIZERS, "chat_template": False}
    (folder / "prompt.json").write_text(json.dumps(spec), encoding="utf-8")
    print(json.dumps({"vocabulary_learnt": len(tokenizer)}))


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def cut_texts(folder: Path, texts: list[str]) -> None:
    """The texts both sides run: each cut to the runtime's text budget, and facts about them."""
    import runtime

    loaded = runtime.load_model(folder)
    ids = runtime.tokenize(loaded, texts)
    budget = loaded.max_length
    full = loaded.prompt.encode(texts, budget=10**9)[0]
    lead = loaded.prompt.prompt.text_lead  # the prompt's trailing spaces, tokenised with the text
    cut = [loaded.tokenizer.decode(row).removeprefix(lead) if len(whole) > budget else text
           for text, row, whole in zip(texts, ids, full, strict=True)]
    prompt_tokens = len(loaded.prompt.prompt.prefix_ids) + len(loaded.prompt.prompt.suffix_ids)
    print(json.dumps({"texts": cut, "budget": budget, "cut": sum(len(w) > budget for w in full),
                      "prompt_tokens": prompt_tokens, "text_tokens": [len(r) for r in ids]}))


def run_ours(folder: Path, texts: list[str]) -> None:
    import torch

    import runtime

    start = time.perf_counter()
    loaded = runtime.load_model(folder)
    loaded_in = time.perf_counter() - start
    runtime.predict_proba(loaded, texts[:2])  # warm-up: the batching probe and the prefix cache
    start, cpu = time.perf_counter(), time.process_time()
    probs = runtime.predict_proba(loaded, texts)
    print(json.dumps({"load_s": loaded_in, "seconds": time.perf_counter() - start, "probs": probs.tolist(),
                      "cpu_s": time.process_time() - cpu, "peak_rss": peak_rss(),
                      "threads": torch.get_num_threads(), "dtype": str(loaded.model.dtype)}))


def run_naive(folder: Path, texts: list[str], dtype: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS") or 2))
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype)).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    loaded_in = time.perf_counter() - start
    words = [tokenizer(" " + words[0], add_special_tokens=False)["input_ids"] for words in VERBALIZERS.values()]
    assert all(len(w) == 1 for w in words), words
    label_ids = [w[0] for w in words]

    def classify(text: str) -> list[float]:
        with torch.inference_mode():
            logits = model(**tokenizer(TEMPLATE.replace("{text}", text), return_tensors="pt")).logits
        return torch.softmax(logits[0, -1, label_ids].float(), dim=-1).tolist()

    classify(texts[0])  # warm-up
    start, cpu = time.perf_counter(), time.process_time()
    probs = [classify(text) for text in texts]
    print(json.dumps({"load_s": loaded_in, "seconds": time.perf_counter() - start, "probs": probs,
                      "cpu_s": time.process_time() - cpu, "peak_rss": peak_rss(),
                      "threads": torch.get_num_threads(), "dtype": str(model.dtype)}))


def child(role: str, folder: Path, texts: list[str], dtype: str) -> dict:
    """Run `role` in a fresh interpreter; its last stdout line is its JSON result."""
    env = {**os.environ, "MODEL_DTYPE": dtype, "TORCH_THREADS": os.environ.get("TORCH_THREADS") or "2",
           "DJANGO_SETTINGS_MODULE": "auditplatform.settings", "DEBUG": "1", "PYTHONPATH": str(ROOT),
           "WORKER_MAX_MODEL_BYTES": "0", "PYTHONWARNINGS": "ignore", "TRANSFORMERS_VERBOSITY": "error"}
    done = subprocess.run([sys.executable, __file__, "--role", role, "--folder", str(folder), "--dtype", dtype],
                          input=json.dumps(texts), capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        sys.exit(f"{role} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--role", choices=["build", "cut", "ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        if args.role in ("cut", "ours"):
            import django

            django.setup()
        texts = json.loads(sys.stdin.read() or "[]")
        {"build": lambda: build(args.folder), "cut": lambda: cut_texts(args.folder, texts),
         "ours": lambda: run_ours(args.folder, texts),
         "naive": lambda: run_naive(args.folder, texts, args.dtype)}[args.role]()
        return

    with tempfile.TemporaryDirectory(prefix="bench-slm-") as scratch:
        folder = Path(scratch)
        built = child("build", folder, [], args.dtype)
        weights = (folder / "model.safetensors").stat().st_size
        facts = child("cut", folder, comments(args.texts), args.dtype)
        texts = facts["texts"]
        lengths = facts["text_tokens"]
        print("Prompted SLM of Qwen2-0.5B's shapes (random weights), ours against naive transformers")
        print(f"weights: model.safetensors {weights / 1e9:.3f} GB (float32 on disk), loaded as {args.dtype}; "
              f"tokenizer: byte-level BPE learnt here ({built['vocabulary_learnt']} tokens), model vocabulary "
              f"{SHAPES['vocab_size']:,}")
        print(f"prompt: {facts['prompt_tokens']} tokens around the text; texts: {len(texts)} comments of "
              f"demo/wiki_toxicity.csv (seed 0), {min(lengths)}-{max(lengths)} tokens (mean "
              f"{np.mean(lengths):.0f}), {facts['cut']} cut to the text budget of {facts['budget']}")
        print(f"torch threads {os.environ.get('TORCH_THREADS') or 2}; each side in its own process; "
              f"load average before: {load_average()}")
        ours = child("ours", folder, texts, args.dtype)
        print(f"load average after ours: {load_average()}")
        naive = child("naive", folder, texts, args.dtype)
        print(f"load average after naive: {load_average()}")

    print()
    for name, side in (("naive", naive), ("ours", ours)):
        print(f"{name:<6} {len(texts) / side['seconds']:7.2f} texts/s  {side['seconds']:8.1f} s wall, "
              f"{side['cpu_s']:8.1f} s CPU   peak RSS {side['peak_rss'] / 1e9:5.2f} GB "
              f"({side['peak_rss'] / weights:.2f}x the weights)   load {side['load_s']:.1f} s, {side['dtype']}, "
              f"{side['threads']} threads")
    ratio = naive["seconds"] / ours["seconds"]
    rss = ours["peak_rss"] / weights
    print()
    print(f"speed ratio ours / naive: {ratio:.2f}x   (goal >= {GOALS['speed']}x: "
          f"{'met' if ratio >= GOALS['speed'] else 'MISSED'}); in CPU seconds "
          f"{naive['cpu_s'] / ours['cpu_s']:.2f}x (less sensitive to other processes on the machine)")
    print(f"our peak RSS / weights:   {rss:.2f}x   (goal <= {GOALS['rss_over_weights']}x: "
          f"{'met' if rss <= GOALS['rss_over_weights'] else 'MISSED'})")
    diff = np.abs(np.asarray(ours["probs"]) - np.asarray(naive["probs"]))
    print(f"agreement: max |p_ours - p_naive| = {diff.max():.2e} over {len(texts)} texts (median {np.median(diff):.1e})")


if __name__ == "__main__":
    main()
