"""Making a model small: the compression recipes, as pure functions on torch models.

- `quantize_int8`: dynamic int8 quantisation of every nn.Linear (torch.ao's
  quantize_dynamic): weights stored as int8 with a per-tensor scale, activations quantised
  on the fly. CPU only (fbgemm / qnnpack kernels).
- `prune_magnitude`: unstructured L1 pruning of every Linear weight inside the encoder
  (torch.nn.utils.prune, global over those weights so the least important weights of the
  whole network go first), then made permanent. Dense kernels still multiply the zeros:
  a smaller file once compressed, no speed-up.
- `prune_heads`: structured pruning of attention heads, the heads whose value and output
  weights have the smallest L2 norm. transformers 5 dropped `prune_heads`, so the head's
  rows of the value projection (and its bias) are zeroed through prune.custom_from_mask:
  a zero value vector makes the head's output zero whatever it attends to.

`parse_recipes("int8,prune:0.5,heads:0.25,distil:3")` checks a list of recipes and
returns them in a canonical spelling. Distillation (`distil:L`) needs training data and is
done by audits.compression.distil; here it is only parsed.

An int8 variant is stored as its parent's float weights plus `compression.json`
({"apply_at_load": "int8"}): safetensors holds no quantised modules, and dynamic
quantisation is deterministic, so re-applying it at load gives the same model bit for bit.
`load_model` calls `apply_at_load` on every folder.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import torch
from torch.nn.utils import prune

COMPRESSION_FILE = "compression.json"
KINDS = ("int8", "prune", "heads", "distil")
_RECIPE = re.compile(r"^(int8|prune|heads|distil)(?::([0-9.]+))?$")


class RecipeError(ValueError):
    """A recipe that cannot be applied, with the reason in words."""


def parse_recipes(text: str | list[str]) -> list[str]:
    """Recipes from "int8,prune:0.5,heads:0.25,distil:3" (or a list of them), checked and
    spelled canonically; a clear RecipeError otherwise. Duplicates are refused."""
    items = text if isinstance(text, list) else str(text).split(",")
    recipes = [parse_recipe(str(item).strip()) for item in items if str(item).strip()]
    if not recipes:
        raise RecipeError("No compression recipe given; use e.g. int8,prune:0.5,heads:0.25,distil:3.")
    seen = set()
    for recipe in recipes:
        if recipe in seen:
            raise RecipeError(f"Compression recipe {recipe!r} is given twice.")
        seen.add(recipe)
    return recipes


def parse_recipe(item: str) -> str:
    match = _RECIPE.match(item.lower())
    if not match:
        raise RecipeError(f"Unknown compression recipe {item!r}: use int8, prune:S (sparsity 0-1), "
                          "heads:F (share of attention heads 0-1) or distil:L (student layers).")
    kind, arg = match.groups()
    if kind == "int8":
        if arg is not None:
            raise RecipeError(f"Compression recipe {item!r}: int8 takes no value.")
        return "int8"
    if arg is None:
        raise RecipeError(f"Compression recipe {item!r} needs a value, as in {kind}:"
                          f"{'3' if kind == 'distil' else '0.5'}.")
    if kind == "distil":
        if not arg.isdigit() or int(arg) < 1:
            raise RecipeError(f"Compression recipe {item!r}: distil takes a whole number of layers, at least 1.")
        return f"distil:{int(arg)}"
    share = float(arg)
    if not 0 < share < 1:
        raise RecipeError(f"Compression recipe {item!r}: {kind} takes a share strictly between 0 and 1.")
    return f"{kind}:{share:g}"


def recipe_value(recipe: str) -> float:
    return float(recipe.partition(":")[2])


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` with every nn.Linear dynamically quantised to int8 (CPU)."""
    from torch.ao.quantization import quantize_dynamic

    if next(model.parameters()).device.type != "cpu":
        raise RecipeError("int8 dynamic quantisation runs on the CPU only; this model is on "
                          f"{next(model.parameters()).device}.")
    if next(model.parameters()).dtype != torch.float32:
        raise RecipeError("int8 dynamic quantisation needs float32 weights (MODEL_DTYPE=float32).")
    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=False).eval()


HEAD_NAMES = frozenset({"classifier", "score", "pooler"})


def encoder_linears(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """The Linear layers outside the classification head and pooler, by module name."""
    return {name: module for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not HEAD_NAMES & set(name.split("."))}


def with_encoder_linears(loaded, make, *, what: str) -> torch.nn.Module:
    """A deep copy of `loaded.model` (float32 on the CPU, with a classification head) whose
    encoder Linears are `make(name, linear)`; the audited model is untouched. `what` names
    the copy in the errors ("Int8 explanations")."""
    weights = next(loaded.model.parameters())
    if weights.device.type != "cpu" or weights.dtype != torch.float32:
        raise ValueError(f"{what} need a float32 model on the CPU.")
    if loaded.prompt is not None or loaded.language_model is not None:
        raise ValueError(f"{what} are for models with a classification head.")
    model = copy.deepcopy(loaded.model).eval()
    linears = encoder_linears(model)
    if not linears:
        raise ValueError("This model has no Linear layers outside its head.")
    for name, linear in linears.items():
        parent_name, _, attribute = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attribute, make(name, linear))
    return model


def _encoder_linears(model: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    """(module, "weight") of every Linear outside the classification head: pruning the head
    would prune the decision itself, which is what the audit is to judge, not a recipe."""
    return [(module, "weight") for module in encoder_linears(model).values()]


def prune_magnitude(model: torch.nn.Module, sparsity: float) -> torch.nn.Module:
    """Zero the `sparsity` share of the encoder's Linear weights with the smallest |w|
    (global L1 pruning), made permanent; modifies and returns `model`."""
    if not 0 < sparsity < 1:
        raise RecipeError(f"Sparsity must be strictly between 0 and 1, not {sparsity}.")
    targets = _encoder_linears(model)
    if not targets:
        raise RecipeError(f"{type(model).__name__} has no Linear layers to prune.")
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(sparsity))
    for module, name in targets:
        prune.remove(module, name)
    return model


def _attention_values(model: torch.nn.Module) -> list[tuple[torch.nn.Linear, torch.nn.Linear, int]]:
    """(value projection, output projection, heads) of each self-attention block that names
    them as BERT-like encoders do (value / output.dense) or as decoders do (v_proj / o_proj)."""
    config = model.config
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    kv_heads = int(getattr(config, "num_key_value_heads", 0) or heads)
    found = []
    for _name, module in model.named_modules():
        value = getattr(module, "value", None) or getattr(module, "v_proj", None)
        if isinstance(value, torch.nn.Linear):
            out = getattr(module, "o_proj", None)
            found.append((value, out, kv_heads if hasattr(module, "v_proj") else heads))
    return found


def prune_heads(model: torch.nn.Module, share: float) -> torch.nn.Module:
    """Silence the `share` of attention heads (per layer, at least one kept) whose value
    weights have the smallest L2 norm: their rows of the value projection and its bias are
    zeroed (prune.custom_from_mask, made permanent). Modifies and returns `model`."""
    if not 0 < share < 1:
        raise RecipeError(f"The share of heads must be strictly between 0 and 1, not {share}.")
    blocks = _attention_values(model)
    if not blocks:
        raise RecipeError(f"{type(model).__name__}: no attention value projections found to prune heads of.")
    for value, _out, heads in blocks:
        if heads < 2 or value.out_features % heads:
            raise RecipeError(f"{type(model).__name__}: {heads} head(s) over {value.out_features} values "
                              "cannot be pruned by head.")
        size = value.out_features // heads
        drop = min(int(round(share * heads)), heads - 1)
        norms = value.weight.detach().reshape(heads, size, -1).pow(2).sum(dim=(1, 2))
        keep = torch.ones(heads, dtype=torch.bool)
        keep[torch.argsort(norms)[:drop]] = False
        rows = keep.repeat_interleave(size)
        prune.custom_from_mask(value, "weight", rows[:, None].expand_as(value.weight).to(value.weight.dtype))
        prune.remove(value, "weight")
        if value.bias is not None:
            prune.custom_from_mask(value, "bias", rows.to(value.bias.dtype))
            prune.remove(value, "bias")
    return model


def sparsity_of(model: torch.nn.Module) -> float:
    """Share of exactly-zero weights among the encoder's Linear weights."""
    weights = [m.weight for m, _ in _encoder_linears(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total) if total else 0.0


def write_load_recipe(folder: Path, recipe: str) -> None:
    """Mark a folder of float weights to be re-compressed with `recipe` whenever it loads."""
    if recipe != "int8":
        raise RecipeError(f"Only int8 is re-applied at load; {recipe!r} is stored as weights.")
    (Path(folder) / COMPRESSION_FILE).write_text(json.dumps({"apply_at_load": recipe}) + "\n", encoding="utf-8")


def load_recipe(folder: Path) -> str | None:
    """The recipe a folder asks to be re-applied at load, or None."""
    path = Path(folder) / COMPRESSION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{COMPRESSION_FILE}: not valid JSON ({exc}).") from exc
    recipe = data.get("apply_at_load") if isinstance(data, dict) else None
    if recipe != "int8":
        raise RecipeError(f"{COMPRESSION_FILE}: apply_at_load must be \"int8\", not {recipe!r}.")
    return recipe


def apply_at_load(model: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """`model` as its folder's compression.json asks (int8), or unchanged. An int8 model runs
    on the CPU even on a GPU worker: the quantised kernels exist only there (the runtime
    moves each batch to the model's device)."""
    return quantize_int8(model.to("cpu")) if load_recipe(folder) == "int8" else model


def label_agreement(parent_probs, variant_probs) -> float:
    """Share of rows where the variant predicts the same label as its parent."""
    import numpy as np

    parent, variant = np.asarray(parent_probs), np.asarray(variant_probs)
    if parent.shape != variant.shape or parent.ndim != 2 or len(parent) == 0:
        raise ValueError(f"label_agreement needs two (rows, labels) arrays of one shape, got {parent.shape} "
                         f"and {variant.shape}.")
    return float((parent.argmax(axis=1) == variant.argmax(axis=1)).mean())
