"""A prompt spec rendered for one tokenizer: the token ids before and after the text slot
and each verbalizer's token ids, checked against the vocabulary and the model's context.

Rendering. With a chat template (the tokenizer's, when the spec allows it) the few-shot
examples become user / assistant turns and the text a last user turn, followed by the
generation prompt; the template is rendered in jinja2's ImmutableSandboxedEnvironment
with the settings transformers uses for chat templates, but with no clock (a template
reading today's date would make a model's predictions change from day to day). Without
one, the few-shot examples (filled template + answer) come first, each followed by a
blank line. The rendering is split at the text slot into a prefix and a suffix.

Token boundaries. The three parts are tokenised apart (the prefix is the same for
every row and is computed once), so each part is tokenised in the context of what
precedes it and only its own tokens are kept: a word after "Comment: " becomes
"Ġword", not "Ġ" + "word", and a SentencePiece tokenizer adds no second word-start
marker in the middle of the prompt. Spaces that end the prefix move to the start of
the text, and spaces that end the prompt move to the start of the answer; a prompt
that ends in a non-space character ("Answer:") is followed by a space before the
answer (lm-evaluation-harness's convention), one that ends in a newline (a chat
template's generation prompt) by the answer itself. The text is tokenised with its
special-token strings split, so a comment cannot open a chat turn.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runtime.prompt_spec import SLOT, PromptError, PromptSpec

# Stands for the text while rendering; private-use characters survive any template filter.
SENTINEL = "\ue000text\ue001"
EXAMPLE_SEPARATOR = "\n\n"
# Characters of context a part is tokenised after; enough to hold a word or two.
CONTEXT_CHARS = 64
# Tokenised before the suffix and the answers: text ends with a word far more often than not.
TEXT_END = "x"
# A chat template comes with an uploaded model, so it is hostile input: the sandbox stops
# attribute escapes, not loops (range() allows 100,000 items, so two nested loops run
# 10^10 times) or output that fills memory. A real template renders in milliseconds.
RENDER_SECONDS = 2.0
RENDER_MAX_CHARS = 1_000_000


@dataclass(frozen=True)
class RenderedPrompt:
    prefix_ids: list[int]
    suffix_ids: list[int]
    # Per label, per word: the word's token ids as they follow the prompt.
    answers: list[list[list[int]]]
    text_context: str  # what the text is tokenised after
    text_lead: str  # spaces moved from the end of the prefix to the start of the text
    text_budget: int  # text tokens that fit in the model's context
    chat: bool  # rendered with the tokenizer's chat template

    @property
    def longest_answer(self) -> int:
        return max(len(ids) for words in self.answers for ids in words)


def render_prompt(spec: PromptSpec, tokenizer, *, position_limit: int | None, max_text_tokens: int) -> RenderedPrompt:
    chat = chat_template_of(tokenizer) if spec.chat_template else None
    rendered = render_chat(chat, spec, tokenizer) if chat else render_plain(spec)
    if rendered.count(SENTINEL) != 1:
        raise PromptError("the chat template does not show the text exactly once; "
                          "set \"chat_template\": false to use the plain template")
    prefix, suffix = rendered.split(SENTINEL)
    prefix_kept = prefix.rstrip(" \t")
    lead = prefix[len(prefix_kept):]
    suffix_kept, answer_lead = answer_join(suffix)
    if chat:
        prefix_ids = _ids(tokenizer, prefix_kept)  # the template writes its own BOS
    else:
        prefix_ids = leading_specials(tokenizer) + _ids(tokenizer, prefix_kept)
    suffix_ids = continuation_ids(tokenizer, TEXT_END, [suffix_kept])[0][0]
    if not prefix_ids and not suffix_ids:
        raise PromptError("the prompt has no tokens besides the text: the model would have nothing to answer; "
                          "add an instruction or a question around {text}")
    answer_context = _tail(suffix_kept) or TEXT_END
    answers = []
    for label, words in spec.verbalizers.items():
        ids = continuation_ids(tokenizer, answer_context, [answer_lead + w.strip() if not w[0].isspace()
                                                          else w.rstrip() for w in words])[0]
        for word, word_ids in zip(words, ids, strict=True):
            _check_word(tokenizer, label, word, word_ids)
        answers.append(ids)
    prompt = RenderedPrompt(prefix_ids=prefix_ids, suffix_ids=suffix_ids, answers=answers,
                            text_context=_tail(prefix_kept), text_lead=lead, text_budget=max_text_tokens,
                            chat=bool(chat))
    return _fitted(prompt, spec, position_limit, max_text_tokens)


def render_plain(spec: PromptSpec) -> str:
    blocks = []
    for text, label in spec.few_shot:
        kept, lead = answer_join(fill(spec.template, text))
        blocks.append(kept + lead + spec.verbalizers[label][0].strip())
    return "".join(block + EXAMPLE_SEPARATOR for block in blocks) + fill(spec.template, SENTINEL)


def render_chat(template: str, spec: PromptSpec, tokenizer) -> str:
    messages = []
    for text, label in spec.few_shot:
        messages.append({"role": "user", "content": fill(spec.template, text)})
        messages.append({"role": "assistant", "content": spec.verbalizers[label][0].strip()})
    messages.append({"role": "user", "content": fill(spec.template, SENTINEL)})
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    special = {k: v for k, v in (tokenizer.special_tokens_map or {}).items() if isinstance(v, str)}
    try:
        compiled = env.from_string(template)
        return _bounded_render(compiled, dict(messages=messages, add_generation_prompt=True, **special))
    except (jinja2.TemplateError, TypeError, ValueError, RecursionError) as exc:
        raise PromptError(f"the tokenizer's chat template could not be rendered: {exc}") from exc


class RenderTooCostly(ValueError):
    pass


def _bounded_render(compiled: jinja2.Template, variables: dict) -> str:
    """Render within RENDER_SECONDS and RENDER_MAX_CHARS. The time limit is a trace
    function that raises in the template's own frames once past the deadline: a loop
    that writes nothing never returns to us otherwise, and a thread cannot be stopped."""
    deadline = time.monotonic() + RENDER_SECONDS

    def tracer(frame, event, arg):
        if time.monotonic() > deadline:
            raise RenderTooCostly(f"it ran past {RENDER_SECONDS:g} s (a loop too long for a prompt)")
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        parts, size = [], 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > RENDER_MAX_CHARS:
                raise RenderTooCostly(f"it wrote over {RENDER_MAX_CHARS:,} characters")
            parts.append(chunk)
        return "".join(parts)
    finally:
        sys.settrace(previous)


def chat_template_of(tokenizer) -> str | None:
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    return template if isinstance(template, str) and template.strip() else None


def fill(template: str, text: str) -> str:
    # Plain replacement, never str.format: a template is data, not a format program.
    return template.replace(SLOT, text)


def answer_join(prompt: str) -> tuple[str, str]:
    """The prompt with trailing spaces removed, and what goes before the answer word."""
    kept = prompt.rstrip(" \t")
    if kept != prompt:
        return kept, prompt[len(kept):]
    if prompt and prompt[-1].isspace():
        return prompt, ""
    return prompt, " "


def continuation_ids(tokenizer, context: str, pieces: list[str], *, split_special: bool = False,
                     offsets: bool = False) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Token ids of each piece as it is tokenised after `context`, and (when asked) each
    token's character span in the piece. Where a piece merges with the context so that the
    context's own tokens change, the piece is tokenised alone."""
    kwargs = {"add_special_tokens": False, "split_special_tokens": split_special}
    head = tokenizer(context, **kwargs)["input_ids"] if context else []
    joint = tokenizer([context + piece for piece in pieces], return_offsets_mapping=offsets, **kwargs)
    ids_out, spans_out = [], []
    for i, piece in enumerate(pieces):
        ids = list(joint["input_ids"][i])
        spans = list(joint["offset_mapping"][i]) if offsets else []
        shift = len(context)
        if ids[: len(head)] != head:
            alone = tokenizer(piece, return_offsets_mapping=offsets, **kwargs)
            ids, spans, shift = list(alone["input_ids"]), list(alone.get("offset_mapping") or []), 0
            head_len = 0
        else:
            head_len = len(head)
        ids_out.append(ids[head_len:])
        spans_out.append([(max(0, a - shift), max(0, b - shift)) for a, b in spans[head_len:]])
    return ids_out, spans_out


def leading_specials(tokenizer) -> list[int]:
    """The special tokens the tokenizer puts before a text (a BOS), none of those after it."""
    specials = set(tokenizer.all_special_ids)
    out = []
    for token in tokenizer("x")["input_ids"]:
        if token not in specials:
            break
        out.append(token)
    return out


def _fitted(prompt: RenderedPrompt, spec: PromptSpec, limit: int | None, max_text_tokens: int) -> RenderedPrompt:
    if limit is None:
        return prompt
    fixed = len(prompt.prefix_ids) + len(prompt.suffix_ids)
    longest = prompt.longest_answer
    word = next(w for ws, ids in zip(spec.verbalizers.values(), prompt.answers, strict=True)
                for w, i in zip(ws, ids, strict=True) if len(i) == longest)
    total = fixed + longest
    if total >= limit:
        over = (f"exceeds the model's context of {limit} positions by {total - limit}" if total > limit
                else f"fills the model's context of {limit} positions, leaving no room for the text")
        raise PromptError(f"the prompt renders to {fixed} tokens without the text and its longest verbalizer "
                          f"({word.strip()!r}) adds {longest}: {total} tokens {over}")
    return replace(prompt, text_budget=min(max_text_tokens, limit - total))


def _check_word(tokenizer, label: str, word: str, ids: list[int]) -> None:
    unk = tokenizer.unk_token_id
    if not ids or (unk is not None and unk in ids):
        raise PromptError(f"the verbalizer {word.strip()!r} of label {label!r} is not in the model's vocabulary "
                          "(it tokenizes to the unknown token); choose a word the tokenizer knows")


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []


def _tail(text: str) -> str:
    return text[-CONTEXT_CHARS:]


def _tojson(value, indent=None, ensure_ascii=False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


def _raise(message: str):
    raise jinja2.TemplateError(message)
