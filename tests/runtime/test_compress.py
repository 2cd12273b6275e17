"""runtime.compress's recipes on the tiny BERT, checked against plain torch, and the
distilled student's layer choice."""
from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification

import runtime
from audits.compression.distil import kept_layers, student_from
from runtime.compress import (
    COMPRESSION_FILE,
    RecipeError,
    label_agreement,
    parse_recipes,
    prune_heads,
    prune_magnitude,
    quantize_int8,
    sparsity_of,
    write_load_recipe,
)


@pytest.fixture
def bert(tiny_model_dir):
    return AutoModelForSequenceClassification.from_pretrained(tiny_model_dir).eval()


@pytest.mark.parametrize(("text", "message"), [
    ("int9", "Unknown compression recipe"), ("prune", "needs a value"), ("heads:1", "strictly between"),
    ("distil:0", "at least 1"), ("int8:2", "takes no value"), ("int8,int8", "given twice"), (" , ", "No compression"),
])
def test_bad_recipes_say_why(text, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipes(text)


def test_recipes_are_spelled_canonically():
    assert parse_recipes("INT8, prune:.50,heads:0.25 ,distil:03") == ["int8", "prune:0.5", "heads:0.25", "distil:3"]


def test_magnitude_pruning_zeroes_the_smallest_weights_of_the_encoder_only(bert):
    head = bert.classifier.weight.detach().clone()
    weights = torch.cat([m.weight.detach().abs().reshape(-1) for n, m in bert.named_modules()
                         if isinstance(m, torch.nn.Linear) and "classifier" not in n and "pooler" not in n])
    cut = torch.kthvalue(weights, int(0.5 * weights.numel())).values
    pruned = prune_magnitude(copy.deepcopy(bert), 0.5)
    assert sparsity_of(pruned) == pytest.approx(0.5, abs=1e-3)
    assert torch.equal(pruned.classifier.weight, head)
    layer = pruned.bert.encoder.layer[0].attention.self.query
    original = bert.bert.encoder.layer[0].attention.self.query.weight.detach()
    assert bool(((layer.weight == 0) == (original.abs() <= cut)).float().mean() > 0.999)
    assert not any("_orig" in name for name, _ in pruned.named_parameters())  # made permanent


def test_head_pruning_silences_whole_heads(bert):
    pruned = prune_heads(copy.deepcopy(bert), 0.5)
    for layer in pruned.bert.encoder.layer:
        value = layer.attention.self.value
        rows = (value.weight == 0).all(dim=1) & (value.bias == 0)
        size = value.out_features // 2
        assert rows.reshape(2, size).all(dim=1).tolist().count(True) == 1  # one of the two heads, whole


def test_int8_matches_quantize_dynamic_and_is_re_applied_exactly_at_load(tiny_model_dir, tmp_path, bert):
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102]])
    reference = torch.ao.quantization.quantize_dynamic(copy.deepcopy(bert), {torch.nn.Linear}, dtype=torch.qint8)
    with torch.no_grad():
        expected = reference(input_ids=ids).logits
        assert torch.equal(quantize_int8(bert)(input_ids=ids).logits, expected)
    folder = tmp_path / "int8"
    shutil.copytree(tiny_model_dir, folder)
    write_load_recipe(folder, "int8")
    assert (folder / COMPRESSION_FILE).is_file()
    loaded = runtime.load_model(folder)
    try:
        with torch.no_grad():
            assert torch.equal(loaded.model(input_ids=ids).logits, expected)
    finally:
        runtime.evict(folder)


def test_label_agreement():
    parent = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    variant = np.array([[0.8, 0.2], [0.6, 0.4], [0.6, 0.4], [0.1, 0.9]])
    assert label_agreement(parent, variant) == 0.75
    with pytest.raises(ValueError):
        label_agreement(parent, variant[:3])


def test_student_keeps_every_other_layer_with_the_parents_weights(bert):
    assert kept_layers(6, 3) == [0, 2, 4] and kept_layers(12, 4) == [0, 3, 6, 9] and kept_layers(2, 1) == [0]
    with pytest.raises(RecipeError):
        kept_layers(2, 2)
    student = student_from(bert, 1)
    assert student.config.num_hidden_layers == 1 and len(student.bert.encoder.layer) == 1
    assert torch.equal(student.bert.encoder.layer[0].output.dense.weight, bert.bert.encoder.layer[0].output.dense.weight)
    assert torch.equal(student.classifier.weight, bert.classifier.weight)
