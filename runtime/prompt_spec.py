"""What makes a causal LM a classifier: the prompt spec stored as `prompt.json` in the model folder.

A spec holds a prompt template with exactly one `{text}` slot, one verbalizer per label
(one or more words; a label's probability mass is that of all its words), optional
few-shot examples, and whether to apply contextual calibration (Zhao et al. 2021) with
which content-free inputs. The file sits beside the weights, so the model's sha256 and
every manifest hash built on it cover the prompt as well: changing a word makes another
model. This module only parses and checks the spec's own shape; whether the words are
in the vocabulary and the prompt fits the model is checked against the tokenizer
(runtime.prompt_render).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

PROMPT_FILE = "prompt.json"
SLOT = "{text}"
MAX_TEMPLATE_CHARS = 20_000
MAX_EXAMPLE_CHARS = 5_000
MAX_EXAMPLES = 50
MAX_LABELS = 100
MAX_WORDS = 20
MAX_WORD_CHARS = 200
KEYS = {"template", "verbalizers", "few_shot", "calibrate", "content_free", "chat_template"}


class PromptError(ValueError):
    """A prompt spec that cannot make a classifier; the message names the problem."""


@dataclass(frozen=True)
class PromptSpec:
    template: str
    # Label -> its words, in label order (the order is the model's id2label).
    verbalizers: dict[str, tuple[str, ...]]
    few_shot: tuple[tuple[str, str], ...] = ()  # (text, label)
    calibrate: bool = False
    # Zhao et al. 2021 average the probabilities of several content-free inputs.
    content_free: tuple[str, ...] = ("N/A",)
    # Use the tokenizer's chat template when it has one.
    chat_template: bool = True
    labels: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.verbalizers))

    def to_json(self) -> dict:
        return {
            "template": self.template,
            "verbalizers": {label: list(words) for label, words in self.verbalizers.items()},
            "few_shot": [{"text": text, "label": label} for text, label in self.few_shot],
            "calibrate": self.calibrate,
            "content_free": list(self.content_free),
            "chat_template": self.chat_template,
        }


def spec_from_json(data) -> PromptSpec:
    """A checked spec from parsed JSON (prompt.json, the API or the CLI)."""
    if not isinstance(data, dict):
        raise PromptError("the prompt spec must be a JSON object")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise PromptError(f"unknown prompt spec fields: {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")
    template = check_template(data.get("template"))
    verbalizers = check_verbalizers(data.get("verbalizers"))
    few_shot = _few_shot(data.get("few_shot") or [], verbalizers)
    calibrate = _flag(data.get("calibrate", False), "calibrate")
    content_free = data.get("content_free", ["N/A"])
    if (not isinstance(content_free, list) or not content_free or len(content_free) > 10
            or not all(isinstance(t, str) and len(t) <= MAX_WORD_CHARS for t in content_free)):
        raise PromptError("content_free must be a list of 1 to 10 short strings, e.g. [\"N/A\"]")
    return PromptSpec(template=template, verbalizers=verbalizers, few_shot=few_shot, calibrate=calibrate,
                      content_free=tuple(content_free),
                      chat_template=_flag(data.get("chat_template", True), "chat_template"))


def check_template(template) -> str:
    if not isinstance(template, str) or not template.strip():
        raise PromptError("the prompt template is empty; write the prompt with a {text} slot where the text goes")
    if len(template) > MAX_TEMPLATE_CHARS:
        raise PromptError(f"the prompt template is {len(template)} characters, over the limit of {MAX_TEMPLATE_CHARS}")
    slots = template.count(SLOT)
    if slots == 0:
        raise PromptError("the prompt template has no {text} slot; put {text} where the text to classify goes")
    if slots > 1:
        raise PromptError(f"the prompt template has {slots} {{text}} slots; it needs exactly one")
    return template


def check_verbalizers(verbalizers) -> dict[str, tuple[str, ...]]:
    """Label -> words; every label needs at least one word and no word may serve two labels."""
    if not isinstance(verbalizers, dict) or not verbalizers:
        raise PromptError("no verbalizers: give each label one or more words, e.g. {\"toxic\": [\"yes\"]}")
    if len(verbalizers) < 2 or len(verbalizers) > MAX_LABELS:
        raise PromptError(f"a prompted classifier needs 2 to {MAX_LABELS} labels, got {len(verbalizers)}")
    owner: dict[str, str] = {}
    checked = {}
    for label, words in verbalizers.items():
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_WORD_CHARS:
            raise PromptError(f"label {label!r} must be a non-empty name of up to {MAX_WORD_CHARS} characters")
        if isinstance(words, str):
            words = [words]
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise PromptError(f"label {label!r} has no verbalizer: give it one or more non-empty words")
        if len(words) > MAX_WORDS or any(len(w) > MAX_WORD_CHARS for w in words):
            raise PromptError(f"label {label!r}: at most {MAX_WORDS} words of up to {MAX_WORD_CHARS} characters each")
        for word in words:
            key = word.strip()
            if key in owner and owner[key] != label:
                raise PromptError(f"the word {key!r} is a verbalizer of both {owner[key]!r} and {label!r}")
            owner[key] = label
        checked[label] = tuple(words)
    return checked


def missing_verbalizers(spec: PromptSpec, labels) -> list[str]:
    """The labels in `labels` (e.g. a dataset's) that the spec gives no verbalizer."""
    return [str(label) for label in labels if str(label) not in spec.verbalizers]


def spec_read(folder: Path | str) -> PromptSpec | None:
    """The folder's prompt spec, or None for a folder without prompt.json (a head classifier)."""
    path = Path(folder) / PROMPT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PromptError(f"{PROMPT_FILE} is not valid JSON ({exc})") from exc
    return spec_from_json(data)


def spec_write(folder: Path | str, spec: PromptSpec) -> Path:
    path = Path(folder) / PROMPT_FILE
    path.write_text(json.dumps(spec.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _few_shot(examples, verbalizers: dict) -> tuple[tuple[str, str], ...]:
    if not isinstance(examples, list) or len(examples) > MAX_EXAMPLES:
        raise PromptError(f"few_shot must be a list of at most {MAX_EXAMPLES} {{\"text\", \"label\"}} objects")
    out = []
    for number, example in enumerate(examples, start=1):
        if not isinstance(example, dict) or not isinstance(example.get("text"), str):
            raise PromptError(f"few-shot example {number} needs a \"text\" and a \"label\"")
        label = str(example.get("label"))
        if label not in verbalizers:
            raise PromptError(f"few-shot example {number}: label {label!r} has no verbalizer")
        if len(example["text"]) > MAX_EXAMPLE_CHARS:
            raise PromptError(f"few-shot example {number} is over {MAX_EXAMPLE_CHARS} characters")
        out.append((example["text"], label))
    return tuple(out)


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise PromptError(f"{name} must be true or false, got {value!r}")
    return value
