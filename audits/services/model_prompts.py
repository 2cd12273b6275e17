"""Prompt specs of prompted classifiers, as the web form, the API and the CLI give them.

A causal LM becomes a classifier through its prompt spec (runtime.prompt_spec), stored
as prompt.json among the model's files, so the model's sha256 covers it. The three front
doors give the same fields (template, verbalizers per label, few-shot examples,
calibration); this module turns them into one checked spec with the same messages, and
reads a stored model's spec back for display and for the audit manifest.
"""
from __future__ import annotations

import json

from django.core.files.storage import default_storage

from audits.errors import BadInput
from audits.models import ModelArtifact
from runtime.lm_scores import architecture_kind
from runtime.prompt_spec import PROMPT_FILE, PromptError, PromptSpec, spec_from_json


def prompt_spec_build(
    *, template: str | None, verbalizers: dict[str, list[str]] | None, few_shot: list[dict] | None = None,
    calibrate: bool = False,
) -> PromptSpec | None:
    """One checked spec; BadInput names the problem (no {text} slot, a label without words, ...).
    None when neither a template nor verbalizers are given: a model with a classification head."""
    if not template and not verbalizers:
        if few_shot or calibrate:
            raise BadInput("Prompt: few-shot examples and calibration need a prompt template and verbalizers.")
        return None
    if isinstance(template, str):
        # Browsers send a textarea's lines with CRLF; the prompt is the same with LF.
        template = template.replace("\r\n", "\n")
    try:
        return spec_from_json({"template": template, "verbalizers": verbalizers, "few_shot": few_shot or [],
                               "calibrate": calibrate})
    except PromptError as exc:
        raise BadInput(f"Prompt: {exc}.") from exc


def verbalizers_parse(lines: list[str]) -> dict[str, list[str]]:
    """`LABEL=WORD[,WORD...]` per line or argument, in label order (the CLI's --verbalizer,
    the form's verbalizers box)."""
    verbalizers: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, sep, words = line.partition("=")
        label = label.strip()
        if not sep or not label:
            raise BadInput(f"Verbalizer {number} ({line.strip()!r}): write LABEL=WORD or LABEL=WORD,WORD.")
        if label in verbalizers:
            raise BadInput(f"Verbalizer {number}: label {label!r} is given twice; list all its words on one line.")
        verbalizers[label] = [w.strip() for w in words.split(",") if w.strip()]
    return verbalizers


def few_shot_parse(lines: list[str]) -> list[dict]:
    """`LABEL=TEXT` per line: one few-shot example each (the text may hold '=')."""
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, sep, text = line.partition("=")
        if not sep or not label.strip() or not text.strip():
            raise BadInput(f"Few-shot example {number} ({line.strip()[:60]!r}): write LABEL=TEXT.")
        examples.append({"label": label.strip(), "text": text.strip()})
    return examples


def model_kind(*, model: ModelArtifact) -> str:
    """"prompted" for a causal LM with a prompt spec, "masked_lm" / "causal_lm" for a language
    model stored without one (no labels: the stereotype probes' models), "classifier" for a
    model with a head."""
    if any(entry["name"] == PROMPT_FILE for entry in model.files):
        return "prompted"
    return (not model.labels and architecture_kind([model.architecture])) or "classifier"


def model_prompt(*, model: ModelArtifact) -> dict | None:
    """The stored model's prompt spec as JSON, or None for a head classifier."""
    if model_kind(model=model) != "prompted":
        return None
    with default_storage.open(f"{model.storage_prefix}/{PROMPT_FILE}", "rb") as fh:
        return json.loads(fh.read().decode("utf-8"))
