"""The four explainers, one module each, all returning explain.attribution.Attribution,
and their registry: method id -> `Method`, in the order a report lists them.

Units: SHAP, Integrated Gradients and attention score the model's tokens (word pieces);
LIME scores the words of the raw text. `extra["unit"]` says which, `extra["spans"]`
where each unit sits in the model input.

Adding a method is one module and one `Method` entry here; explain.run calls every
entry the same way.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import runtime
from explain.attribution import Attribution
from explain.engine import ModelFunction
from explain.methods.attention import attention_explain
from explain.methods.integrated_gradients import ig_explain
from explain.methods.lime_words import lime_explain
from explain.methods.shapley import shap_explain


@dataclass(frozen=True)
class MethodInputs:
    """What every method may read about one chunk: the model, its shared cached model
    function, the favourable label, the seed and the options (explain.run.DEFAULT_OPTIONS)."""

    loaded: runtime.LoadedModel
    fn: ModelFunction
    favourable_id: int
    seed: int
    options: Mapping
    # SHAP's and LIME's model function when a stand-in runs their perturbed inputs
    # (audits.services.explain_engine); None: `fn`.
    perturb_fn: ModelFunction | None = None

    @property
    def perturbing(self) -> ModelFunction:
        return self.perturb_fn or self.fn


@dataclass(frozen=True)
class Method:
    """One explanation method. `explain(inputs, ids, texts)` explains the texts (with their
    token ids), one Attribution each. `per_text`: the library explains one text at a time
    anyway, so the caller passes one at a time (and reports progress after each);
    otherwise all texts of the chunk go in one batched call. `signed`: scores have a
    direction (towards or away from the favourable label); attention rollout is a share."""

    explain: Callable[[MethodInputs, Sequence[Sequence[int]], Sequence[str]], list[Attribution]]
    per_text: bool
    signed: bool


def _shap(inputs: MethodInputs, ids, texts) -> list[Attribution]:
    return shap_explain(inputs.perturbing, ids, max_evals=inputs.options["shap_max_evals"], seed=inputs.seed,
                        adaptive=inputs.options.get("adaptive", False))


def _lime(inputs: MethodInputs, ids, texts) -> list[Attribution]:
    return lime_explain(inputs.perturbing, texts, num_samples=inputs.options["lime_num_samples"], seed=inputs.seed,
                        adaptive=inputs.options.get("adaptive", False))


def _ig(inputs: MethodInputs, ids, texts) -> list[Attribution]:
    return ig_explain(inputs.loaded, ids, favourable_id=inputs.favourable_id, steps=inputs.options["ig_steps"],
                      fn=inputs.fn, adaptive=inputs.options.get("adaptive", False))


def _attention(inputs: MethodInputs, ids, texts) -> list[Attribution]:
    return attention_explain(inputs.loaded, ids, favourable_id=inputs.favourable_id, fn=inputs.fn)


REGISTRY: dict[str, Method] = {
    # All of a chunk's texts at once: side by side, their masked inputs in shared calls.
    "shap": Method(_shap, per_text=False, signed=True),
    # All of a chunk's texts at once: their neighbourhoods go to the model together.
    "lime": Method(_lime, per_text=False, signed=True),
    "ig": Method(_ig, per_text=False, signed=True),
    "attention": Method(_attention, per_text=False, signed=False),
}

__all__ = ["REGISTRY", "Method", "MethodInputs", "attention_explain", "ig_explain", "lime_explain", "shap_explain"]
