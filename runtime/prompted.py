"""Prompted classifiers: a causal LM plus a prompt spec, scored as a classifier.

A label's score is the log-probability that the model continues the prompt with one of
the label's words (a word of several tokens: the sum of its tokens' log-probabilities;
several words: the log of their summed probabilities); the label probabilities are
the softmax over the labels' scores. With contextual calibration (Zhao et al. 2021)
they are divided by the probabilities of content-free inputs ("N/A") and renormalised.

The rows handed around are the text slot's token ids only (`tokenize`): explainers
perturb the text and nothing else, and every row shares the same prompt around it.

Prefix caching. The prompt before the text is the same for every row: its keys and
values are computed once per model (all but its last token) and every batch reuses
them. A batch is laid out as [cached prefix | pads | last prefix token, text, suffix],
padded on the left so that every row's last token, whose next-token distribution
scores the labels' first tokens, sits in the same column; pads are masked and position
ids continue from the prefix, so each row computes exactly what it computes alone.
Words of several tokens are scored in a second pass that continues from the first
pass's cache, one row per (text, word), so the text is never run twice.

Everything goes through the model's input embeddings (`inputs_embeds`), the text's
through `text_embedding`: the one layer Integrated Gradients integrates over, so the
prompt around the text is the same at both ends of the path.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from runtime.batching import length_batches
from runtime.limits import Encoded, position_limit
from runtime.prompt_render import RenderedPrompt, continuation_ids, render_prompt
from runtime.prompt_spec import PromptSpec

Progress = Callable[[int, int], None]


class TextEmbedding(torch.nn.Module):
    """The model's token embedding, applied to the text slot only."""

    def __init__(self, embedding: torch.nn.Module) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embedding(ids)


class PromptedScorer:
    """Label probabilities of a causal LM for text-slot token ids."""

    def __init__(self, model, tokenizer, spec: PromptSpec, prompt: RenderedPrompt) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.spec = spec
        self.prompt = prompt
        self.text_embedding = TextEmbedding(model.get_input_embeddings())
        # Every word of every label, flattened: (label index, token ids).
        self.words = [(k, ids) for k, words in enumerate(prompt.answers) for ids in words]
        self._prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
        self._calibration: torch.Tensor | None = None

    @property
    def num_labels(self) -> int:
        return len(self.prompt.answers)

    # Tokens -------------------------------------------------------------------------

    def encode(self, texts: Sequence[str], *, offsets: bool = False,
               budget: int | None = None) -> tuple[list[list[int]], list]:
        """Text-slot ids per text, cut to the room the prompt leaves (or `budget`), and
        (when asked) each token's character span in the text."""
        lead = self.prompt.text_lead
        ids, spans = continuation_ids(self.tokenizer, self.prompt.text_context, [lead + t for t in texts],
                                      split_special=True, offsets=offsets)
        budget = self.prompt.text_budget if budget is None else budget
        spans = [[(max(0, a - len(lead)), max(0, b - len(lead))) for a, b in row[:budget]] for row in spans]
        return [row[:budget] for row in ids], spans

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return self.encode(texts)[0]

    def encode_limited(self, texts: Sequence[str]) -> Encoded:
        """As runtime.encode: the ids, the limit, and how many texts lost tokens to it."""
        budget = self.prompt.text_budget
        # One token past the budget is enough to tell a cut text; the +1 is never kept.
        ids = self.encode(texts, budget=budget + 1)[0]
        return Encoded(ids=[row[:budget] for row in ids], max_length=budget,
                       truncated=sum(len(row) > budget for row in ids))

    def full_ids(self, ids: Sequence[int]) -> tuple[list[int], int, int]:
        """The whole prompt the model reads for text-slot `ids`, where the text starts in it,
        and the position whose next-token distribution makes the prediction."""
        full = self.prompt.prefix_ids + [int(i) for i in ids] + self.prompt.suffix_ids
        return full, len(self.prompt.prefix_ids), len(full) - 1

    # Scoring -------------------------------------------------------------------------

    def predict(self, ids_list: Sequence[Sequence[int]], *, batch_size: int | None = None,
                progress: Progress | None = None) -> np.ndarray:
        """Label probabilities (n, num_labels) in input order; batches as runtime.length_batches plans."""
        n = len(ids_list)
        probs = np.zeros((n, self.num_labels), dtype=np.float64)
        extra = len(self.prompt.suffix_ids) + 1
        done = 0
        with torch.inference_mode():
            for chunk in length_batches([len(x) + extra for x in ids_list], batch_size=batch_size):
                texts = [self._embed([int(t) for t in ids_list[i]]) for i in chunk]
                probs[chunk] = self.probabilities(texts).double().cpu().numpy()
                done += len(chunk)
                if progress:
                    progress(done, n)
        return probs

    def batching_difference(self, ids_list: Sequence[Sequence[int]]) -> float:
        """The largest difference between batched and one-at-a-time probabilities of `ids_list`."""
        return float(np.abs(self.predict(ids_list) - self.predict(ids_list, batch_size=1)).max())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Differentiable label probabilities for right-padded text-slot ids (Integrated Gradients)."""
        embedded = self.text_embedding(input_ids.to(self.text_embedding.embedding.weight.device))
        lengths = attention_mask.sum(dim=1).tolist()
        return self.probabilities([embedded[i, : int(n)] for i, n in enumerate(lengths)])

    def probabilities(self, texts: list[torch.Tensor]) -> torch.Tensor:
        """(B, num_labels) from each text's embeddings (t_i, hidden), calibrated when the spec asks."""
        log_probs = torch.log_softmax(self.label_scores(texts), dim=-1)
        if self.spec.calibrate:
            log_probs = log_probs - self.calibration()
        return torch.softmax(log_probs, dim=-1)

    def calibration(self) -> torch.Tensor:
        """log of the mean label probabilities over the content-free inputs."""
        if self._calibration is None:
            with torch.inference_mode(False), torch.no_grad():
                texts = [self._embed(ids) for ids in self.tokenize(self.spec.content_free)]
                mean = torch.softmax(self.label_scores(texts), dim=-1).mean(dim=0)
            self._calibration = torch.log(mean)
        return self._calibration

    def label_scores(self, texts: list[torch.Tensor]) -> torch.Tensor:
        """(B, num_labels) log-probabilities of each label's words after each text's prompt."""
        first, cache, mask, lengths = self._first_pass(texts)
        scores = first[:, [ids[0] for _, ids in self.words]]
        if cache is not None:
            scores = scores + self._later_tokens(cache, mask, lengths)
        labels = torch.tensor([k for k, _ in self.words], device=scores.device)
        return torch.stack([torch.logsumexp(scores[:, labels == k], dim=-1) for k in range(self.num_labels)], dim=1)

    def _first_pass(self, texts: list[torch.Tensor]):
        """Log-probabilities (B, vocab) of the token after each row's prompt; the cache,
        mask and row lengths when some word has further tokens to score."""
        prefix = self.prompt.prefix_ids
        past = max(len(prefix) - 1, 0)
        before, suffix = self._embed(prefix[-1:]), self._embed(self.prompt.suffix_ids)
        rows = [torch.cat([before, text.to(before.dtype), suffix]) for text in texts]
        lengths = [row.shape[0] for row in rows]
        width, batch = max(lengths), len(rows)
        device = before.device
        embeds = torch.stack([torch.nn.functional.pad(row, (0, 0, width - n, 0)) for row, n in zip(rows, lengths, strict=True)])
        mask = torch.zeros((batch, past + width), dtype=torch.long, device=device)
        mask[:, :past] = 1
        columns = torch.arange(width, device=device)
        positions = torch.empty((batch, width), dtype=torch.long, device=device)
        for i, n in enumerate(lengths):
            mask[i, past + width - n:] = 1
            positions[i] = past + (columns - (width - n)).clamp(min=0)
        more = any(len(ids) > 1 for _, ids in self.words)
        out = self.model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions,
                         cache=self._prefix_cache(batch), use_cache=more, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        return first, (out.cache if more else None), mask, torch.tensor(lengths, device=device) + past

    def _later_tokens(self, cache, mask: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """(B, words) summed log-probabilities of each word's tokens after its first."""
        device = mask.device
        longer = [w for w, (_, ids) in enumerate(self.words) if len(ids) > 1]
        count, batch = len(longer), mask.shape[0]
        steps = max(len(self.words[w][1]) for w in longer) - 1
        inputs = torch.zeros((count, steps), dtype=torch.long, device=device)
        targets = torch.zeros((count, steps), dtype=torch.long, device=device)
        real = torch.zeros((count, steps), dtype=torch.long, device=device)
        for row, w in enumerate(longer):
            ids = self.words[w][1]
            inputs[row, : len(ids) - 1] = torch.tensor(ids[:-1])
            targets[row, : len(ids) - 1] = torch.tensor(ids[1:])
            real[row, : len(ids) - 1] = 1
        # Rows are (text, word), text-major, matching the cache's batch_repeat_interleave.
        cache.batch_repeat_interleave(count)
        embeds = self._embed(inputs).repeat(batch, 1, 1)
        full_mask = torch.cat([mask.repeat_interleave(count, dim=0), real.repeat(batch, 1)], dim=1)
        positions = ends.repeat_interleave(count)[:, None] + torch.arange(steps, device=device)
        logits = self.model(inputs_embeds=embeds, attention_mask=full_mask, position_ids=positions,
                            cache=cache, use_cache=False).logits
        picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.repeat(batch, 1)[..., None])[..., 0]
        summed = (picked * real.repeat(batch, 1)).sum(dim=-1).view(batch, count)
        out = torch.zeros((batch, len(self.words)), dtype=summed.dtype, device=device)
        out[:, longer] = summed
        return out

    def _prefix_cache(self, batch: int) -> DynamicCache | None:
        """The prefix's keys and values (all but its last token), computed once, for `batch` rows."""
        prefix = self.prompt.prefix_ids
        if len(prefix) < 2:
            return None
        if self._prefix_kv is None:
            # Outside inference mode, so the cache can also serve a pass with gradients.
            with torch.inference_mode(False), torch.no_grad():
                ids = torch.tensor([prefix[:-1]], device=self.model.get_input_embeddings().weight.device)
                out = self.model(input_ids=ids, use_cache=True)
                self._prefix_kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        return DynamicCache(ddp_cache_data=[(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                            for k, v in self._prefix_kv])

    def _embed(self, ids) -> torch.Tensor:
        embedding = self.model.get_input_embeddings()
        if not isinstance(ids, torch.Tensor):
            ids = torch.tensor(list(ids), dtype=torch.long)
        return embedding(ids.to(embedding.weight.device))


def load_prompted(folder: Path, spec: PromptSpec, *, max_text_tokens: int, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32):
    """(model, tokenizer, scorer, loading report) for a causal LM folder with its spec, the
    model on `device` with floating-point weights as `dtype`; safetensors only, never
    remote code, nothing fetched."""
    model, info = AutoModelForCausalLM.from_pretrained(
        folder, use_safetensors=True, trust_remote_code=False, local_files_only=True, output_loading_info=True,
        dtype=dtype,
    )
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False, local_files_only=True)
    limits = [position_limit(model), tokenizer.model_max_length]
    limit = min((v for v in limits if isinstance(v, int) and 0 < v < 10**9), default=None)
    prompt = render_prompt(spec, tokenizer, position_limit=limit, max_text_tokens=max_text_tokens)
    return model, tokenizer, PromptedScorer(model, tokenizer, spec, prompt), info
