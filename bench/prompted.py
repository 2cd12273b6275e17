"""Benchmark: a prompted classifier through the runtime against naive transformers use.

Run from the repository root: `python bench/prompted.py [--shape qwen2-0.5b|small] [--texts N]`.

The model is a Qwen2 causal LM with random weights and Qwen2-0.5B's shapes (hidden 896,
24 layers, 14 heads, 2 key-value heads, vocabulary 151,936; speed does not depend on
the weights), or a small one for a quick look; its tokenizer is a byte-level BPE trained
here on the demo comments (ids stay below the vocabulary, so the output layer costs
what Qwen2's does). The prompt is an instruction of about 100 tokens with the comment
in it and single-token verbalizers. Naive use: one `model(**tokenizer(prompt))` per
comment, full prompt each time, softmax of the verbalizers' logits at the last position
(what a user of transformers writes). Ours: runtime.predict_proba on the same folder
with its prompt.json (prefix KV cache, length-sorted batches, only the last position's
logits). Printed: texts/s of both; the largest difference in probability on the texts
that fit the runtime's text limit (PREDICT_MAX_LENGTH; longer ones it cuts, naive use
does not); and the peak RSS while ours runs, above the process's RSS before the model
was loaded (the model is built in a child process), against the weights' bytes. Goals
are reported, not asserted.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import ROOT, best_of  # noqa: F401 - sets up Django and sys.path
from django.conf import settings  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

import runtime  # noqa: E402
from audits.demo import RECIPE, TEXT, demo_split, load_frame  # noqa: E402

SHAPES = {
    "qwen2-0.5b": {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                   "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151_936},
    "small": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32_000},
}
INSTRUCTION = (
    "You are a careful content moderator for a large online encyclopedia. Read the talk-page "
    "comment below and decide whether it is toxic: rude, disrespectful or unreasonable enough "
    "to make someone leave the discussion. Criticism of edits, disagreement and strong language "
    "about ideas are not toxic by themselves; insults, threats and slurs about people are. "
    "Answer with one word, yes or no.\n\nComment: {text}\nIs this comment toxic? Answer:"
)
GOALS = {"speedup": 2.0, "rss_over_weights": 2.5}


def build(folder: Path, shape: str, texts: list[str]) -> Path:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts + [INSTRUCTION], trainers.BpeTrainer(
        vocab_size=8000, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = Qwen2Config(max_position_embeddings=32_768, eos_token_id=tokenizer.eos_token_id,
                         tie_word_embeddings=True, **SHAPES[shape])
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    (folder / "prompt.json").write_text(json.dumps(
        {"template": INSTRUCTION, "verbalizers": {"False": ["no"], "True": ["yes"]}}))
    return folder


def naive(loaded: runtime.LoadedModel, texts: list[str]) -> np.ndarray:
    tokenizer, model = loaded.tokenizer, loaded.model
    words = [tokenizer(" no", add_special_tokens=False)["input_ids"][0],
             tokenizer(" yes", add_special_tokens=False)["input_ids"][0]]
    rows = []
    with torch.inference_mode():
        for text in texts:
            prompt = INSTRUCTION.replace("{text}", text)
            logits = model(**tokenizer(prompt, return_tensors="pt")).logits[0, -1]
            rows.append(torch.softmax(logits[words].double(), dim=-1).numpy())
    return np.stack(rows)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2-0.5b")
    parser.add_argument("--texts", type=int, default=300)
    args = parser.parse_args()
    threads = settings.TORCH_THREADS or 2
    torch.set_num_threads(threads)
    _, held = demo_split(load_frame(), seed=0, held_out=RECIPE["held_out"])
    texts = held[TEXT].astype(str).tolist()[: args.texts]
    with tempfile.TemporaryDirectory(prefix="bench-prompted-") as scratch:
        folder = Path(scratch)
        # Built elsewhere, so this process's peak RSS is what loading and predicting take.
        child = multiprocessing.get_context("fork").Process(target=build, args=(folder, args.shape, texts))
        child.start()
        child.join()
        weights = (folder / "model.safetensors").stat().st_size
        baseline = peak_rss_bytes()
        loaded = runtime.load_model(folder)
        torch.set_num_threads(threads)
        prompt = loaded.prompt.prompt
        encoded = runtime.encode(loaded, texts)
        lengths = [len(x) for x in encoded.ids]
        print(f"prompted classifier, Qwen2 causal LM with {args.shape} shapes, random weights "
              f"({weights / 1e6:.0f} MB safetensors, fp32), torch threads {threads}")
        print(f"{len(texts)} held-out demo comments, {min(lengths)}-{max(lengths)} text tokens "
              f"(mean {np.mean(lengths):.0f}) after a {len(prompt.prefix_ids)}-token prefix and before a "
              f"{len(prompt.suffix_ids)}-token suffix; {encoded.truncated} texts cut to {encoded.max_length} tokens")
        runtime.predict_proba(loaded, texts[:4])  # warm-up
        ours_s, ours = best_of(lambda: runtime.predict_proba(loaded, texts), 1)
        ours_rss = peak_rss_bytes()
        naive_s, plain = best_of(lambda: naive(loaded, texts), 1)
    whole = np.array(lengths) < encoded.max_length
    difference = float(np.abs(ours - plain)[whole].max())
    speedup = naive_s / ours_s
    print(f"naive {len(texts) / naive_s:8.2f} texts/s ({naive_s:.1f} s)")
    print(f"ours  {len(texts) / ours_s:8.2f} texts/s ({ours_s:.1f} s)")
    print(f"ratio {speedup:8.2f}x   (goal >= {GOALS['speedup']}x: {'met' if speedup >= GOALS['speedup'] else 'MISSED'})")
    ratio = (ours_rss - baseline) / weights
    print(f"peak RSS loading and predicting {(ours_rss - baseline) / 1e6:.0f} MB above the {baseline / 1e6:.0f} MB "
          f"before = {ratio:.2f}x the weights "
          f"(goal <= {GOALS['rss_over_weights']}x: {'met' if ratio <= GOALS['rss_over_weights'] else 'MISSED'})")
    print(f"largest probability difference, ours against naive, on the {int(whole.sum())} texts not cut: "
          f"{difference:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
