"""Mitigation of decoder classifiers: a Llama whose config has no pad id trains its head on
cached pooled features and its top layer on padded batches, exactly as the runtime runs it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import runtime
from audits.mitigation import mitigation_compute
from audits.mitigation.predictor import after_layers, encoder_layers
from tests.audits.mitigation.synthetic import make_dataset
from tests.runtime import tiny_models


@pytest.fixture(scope="module")
def people():
    texts, labels, group = make_dataset(160, seed=7)
    return texts, labels, group, group == "straight"


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory, people):
    folder = tiny_models.build(tmp_path_factory.mktemp("decoder"), "llama", "none", people[0])
    yield folder
    runtime.clear_cache()


def _run(folder, people, out_dir, unfreeze: int):
    texts, labels, group, privileged = people
    return mitigation_compute(model_dir=folder, texts=texts, labels=labels, group=group, privileged=privileged,
                              favourable_id=1, method="adversarial", seed=0, out_dir=out_dir, resamples=50,
                              options={"epochs": 2, "sweep": [1.0], "unfreeze_layers": unfreeze}, attribute="o")


def test_the_model_has_no_pad_id_and_transformers_refuses_its_batches(llama_dir, people):
    loaded = runtime.load_model(llama_dir)
    assert loaded.model.config.pad_token_id is None and loaded.tokenizer.pad_token_id is None
    input_ids, mask = runtime.pad_token_ids(loaded, runtime.tokenize(loaded, people[0][:2]))
    with pytest.raises(ValueError, match="no padding token"):
        loaded.model(input_ids=input_ids, attention_mask=mask)


def test_pooled_features_of_a_decoder_reproduce_its_probabilities(llama_dir, people):
    loaded = runtime.load_model(llama_dir)
    ids = runtime.tokenize(loaded, people[0][:40])
    features, probs = runtime.classifier_inputs(loaded, ids)
    assert features.shape == (40, loaded.model.config.hidden_size)
    with torch.inference_mode():
        again = torch.softmax(loaded.model.score(torch.from_numpy(features)), dim=-1).double().numpy()
    np.testing.assert_allclose(again, probs, atol=1e-6)
    alone = np.stack([runtime.predict_token_ids(loaded, [row])[0] for row in ids[:5]])
    np.testing.assert_allclose(probs[:5], alone, atol=1e-5)


def test_frozen_decoder_trains_its_score_head_only(llama_dir, people, tmp_path):
    outcome = _run(llama_dir, people, tmp_path, unfreeze=0)
    assert outcome.section["saved_model_agreement"] == 1.0
    parent, child = load_file(llama_dir / "model.safetensors"), load_file(outcome.model_folder / "model.safetensors")
    assert {k for k in parent if not parent[k].equal(child[k])} == {"score.weight"}


def test_unfrozen_decoder_trains_its_top_layer_final_norm_and_head(llama_dir, people, tmp_path):
    outcome = _run(llama_dir, people, tmp_path, unfreeze=1)
    assert outcome.section["saved_model_agreement"] == 1.0
    parent, child = load_file(llama_dir / "model.safetensors"), load_file(outcome.model_folder / "model.safetensors")
    changed = {k for k in parent if not parent[k].equal(child[k])}
    assert "score.weight" in changed and any(k.startswith("model.layers.1.") for k in changed)
    assert all(k.startswith(("model.layers.1.", "model.norm.", "score.")) for k in changed), changed


@pytest.mark.parametrize(("model_type", "stack", "after"), [
    ("llama", "layers", {"norm"}), ("gpt2", "h", {"ln_f"}),
    # OPT registers its final norm before its layers; DeBERTa its relative embeddings (and their
    # norm, which every layer reads) after them, and its pooler sits beside the base model.
    ("opt", "decoder.layers", {"decoder.final_layer_norm"}), ("deberta-v2", "encoder.layer", set()),
    ("bert", "encoder.layer", {"pooler.dense"})])
def test_the_layers_and_what_runs_after_them_are_found_for_each_family(tmp_path, model_type, stack, after):
    loaded = runtime.load_model(tiny_models.build(tmp_path, model_type, "pad", ["a few words to learn"] * 4))
    base = loaded.model.base_model
    assert encoder_layers(loaded.model) is base.get_submodule(stack)
    ids = runtime.tokenize(loaded, ["a few words"])
    found = after_layers(loaded.model, lambda: runtime.forward_rows(loaded, ids))
    names = {name for name, module in base.named_modules() if any(module is m for m in found)}
    assert names == after


def test_unfrozen_decoder_trains_lora_adapters_merged_into_its_top_layer(llama_dir, people, tmp_path):
    outcome = _run(llama_dir, people, tmp_path, unfreeze=1)
    assert "LoRA adapters of rank 8" in outcome.section["trained"]
    parent, child = load_file(llama_dir / "model.safetensors"), load_file(outcome.model_folder / "model.safetensors")
    assert set(child) == set(parent)  # merged: no adapter tensors, the parent's architecture
    changed = {k for k in parent if not parent[k].equal(child[k])}
    # Only the top layer's linear maps (through their adapters) and the head; norms unchanged.
    assert "score.weight" in changed and any(k.startswith("model.layers.1.self_attn.") for k in changed)
    assert all(k == "score.weight" or (k.startswith("model.layers.1.") and "norm" not in k) for k in changed), changed
    # A low-rank change: each changed layer weight differs from the parent's by rank <= 8
    # (beyond the 8th, singular values at float32 rounding of the merge).
    for key in changed - {"score.weight"}:
        singular = torch.linalg.svdvals((child[key] - parent[key]).double())
        assert singular[8] <= 1e-4 * singular[0], (key, singular[:10])
