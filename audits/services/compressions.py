"""The compression audit: the audited model's compressed variants audited beside it.

An audit whose settings name recipes (`compress`: ["int8", "prune:0.5", "distil:3"])
runs, after its own checks, one more stage: each recipe makes a variant of the audited
model (runtime.compress, audits.compression.distil), registered as a model with the
audited one as its parent and the recipe in its provenance; the variant predicts the
same rows once (cached like any model's predictions) and the same checks run on those
predictions with the same seed and policy. The result is report.json's `compression`
section (audits/compression/figures.py says what each figure is).

Storage of a variant: a pruned or distilled model is saved as safetensors; an int8
variant is its parent's float weights plus compression.json, re-quantised whenever it
loads (safetensors holds no quantised modules, and dynamic quantisation is
deterministic). Its `size_bytes` is the int8 state dict as torch would ship it.
"""
from __future__ import annotations

import copy
import dataclasses
import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from django.conf import settings

import runtime
from audits.compression.distil import distil, save_student
from audits.compression.figures import group_costs, rate_entry, verdict, with_changes, worst_examples
from audits.errors import BadInput
from audits.models import Audit, Dataset, ModelArtifact
from audits.reports.document import summarize, to_json_value
from audits.services.audit_inputs import AuditInputs, favourable_predictor
from audits.services.columns import value_strings
from audits.services.datasets import dataset_frame
from audits.services.model_prompts import model_kind
from audits.services.model_uploads import model_local_folder, model_register_folder
from audits.services.predictions import predictions_cached
from runtime.compress import (
    RecipeError,
    parse_recipes,
    prune_heads,
    prune_magnitude,
    recipe_value,
    write_load_recipe,
)

log = logging.getLogger(__name__)
# Rows timed for texts/s: enough for a stable figure, few enough to keep the stage short.
SPEED_ROWS = 256
# The int8 variant may stand in for its parent in explanations only at this agreement or above.
FAST_PATH_AGREEMENT = 0.995


def compress_config_validate(*, model: ModelArtifact, config_in: dict) -> dict:
    """The `compress` and `train_dataset` settings, checked; {} when none is asked for."""
    raw = config_in.get("compress")
    if not raw:
        return {}
    try:
        recipes = parse_recipes(raw)
    except RecipeError as exc:
        raise BadInput(str(exc)) from exc
    if model_kind(model=model) == "prompted":
        raise BadInput(f"{model.name} is a prompted language model: compression recipes apply to classifiers "
                       "with a head.")
    out: dict = {"compress": recipes}
    train = config_in.get("train_dataset")
    if any(r.startswith("distil") for r in recipes):
        if not train:
            raise BadInput("distil needs a training dataset (train_dataset; --train-dataset in the CLI): the "
                           "student must not learn from the rows it is audited on.")
    if train:
        dataset = train if isinstance(train, Dataset) else Dataset.objects.filter(
            pk=train, organisation_id=model.organisation_id).first()
        if dataset is None or dataset.organisation_id != model.organisation_id:
            raise BadInput(f"Training dataset {train} does not exist in your organisation.")
        out["train_dataset"] = dataset.pk
    return out


def compression_section(*, audit: Audit, inputs: AuditInputs, ctx, checks: list[dict], run_checks,
                        progress=None) -> dict:
    """Make, register and audit each variant; the report's `compression` section. A variant
    that cannot be made is listed with its error; the others still run."""
    config = audit.config
    texts = ctx.texts
    label_ids = value_strings(inputs.frame[config["label_column"]]).map(inputs.label_to_id).to_numpy()
    parent_pred = inputs.probs.argmax(axis=1)
    parent = {
        "name": audit.model.name, "model_id": audit.model.pk, "sha256": audit.model.sha256,
        "size_bytes": _weights_bytes(inputs.loaded.folder), "parameters": _parameters(inputs.loaded.model),
        "texts_per_second": _speed(inputs.loaded, texts),
        "accuracy": rate_entry(int((parent_pred == label_ids).sum()), len(label_ids)),
        "status": summarize(checks)["status"],
    }
    variants = []
    recipes = config["compress"]
    for i, recipe in enumerate(recipes):
        if progress:
            progress(stage="compress", done=i, total=len(recipes))
        try:
            variants.append(_variant(audit=audit, inputs=inputs, ctx=ctx, checks=checks, recipe=recipe,
                                     label_ids=label_ids, parent=parent, run_checks=run_checks))
        except (RecipeError, BadInput, ValueError, RuntimeError) as exc:
            log.exception("compression %s of audit %s failed", recipe, audit.pk)
            variants.append({"recipe": recipe, "status": "error", "error": f"{type(exc).__name__}: {exc}"})
    if progress:
        progress(stage="compress", done=len(recipes), total=len(recipes))
    return to_json_value({"parent": parent, "variants": variants, "fast_path": _fast_path(variants)})


def _fast_path(variants: list[dict]) -> dict:
    """Whether the int8 variant agrees enough with its parent to stand in for it in explanations."""
    int8 = next((v for v in variants if v.get("recipe") == "int8" and "agreement_with_parent" in v), None)
    if int8 is None:
        return {"usable": False, "reason": "No int8 variant was audited."}
    agreement = int8["agreement_with_parent"]["value"]
    usable = agreement >= FAST_PATH_AGREEMENT
    return {"usable": usable, "agreement": agreement, "threshold": FAST_PATH_AGREEMENT,
            "reason": f"int8 agrees with its parent on {agreement:.2%} of the audit's rows "
                      f"({'at or above' if usable else 'below'} {FAST_PATH_AGREEMENT:.1%})."}


def _variant(*, audit: Audit, inputs: AuditInputs, ctx, checks: list[dict], recipe: str, label_ids: np.ndarray,
             parent: dict, run_checks) -> dict:
    model = variant_model(audit=audit, inputs=inputs, recipe=recipe)
    loaded = runtime.load_model(model_local_folder(model=model))
    probs = predictions_cached(model=model, dataset=audit.dataset, loaded=loaded, texts=ctx.texts)
    fav = inputs.favourable_id
    variant_ctx = dataclasses.replace(ctx, y_pred=probs.argmax(axis=1) == fav, prob=probs[:, fav],
                                      predict=favourable_predictor(loaded, fav))
    variant_checks = with_changes(run_checks(variant_ctx, audit.config["checks"]), checks)
    pred, parent_pred = probs.argmax(axis=1), inputs.probs.argmax(axis=1)
    by_group = group_costs(groups=inputs.groups, y_true=label_ids, parent_pred=parent_pred, variant_pred=pred,
                           seed=ctx.seed, resamples=ctx.resamples, min_rows=ctx.min_group_rows)
    accuracy = rate_entry(int((pred == label_ids).sum()), len(label_ids))
    return {
        "recipe": recipe, "status": "done", "model_id": model.pk, "name": model.name, "sha256": model.sha256,
        "size_bytes": _variant_bytes(loaded, recipe), "parameters": _parameters(loaded.model, parent_count=parent),
        "nonzero_parameters": _nonzero(loaded.model),
        "texts_per_second": _speed(loaded, ctx.texts),
        "accuracy": accuracy,
        "accuracy_change": None if parent["accuracy"]["value"] is None else
        accuracy["value"] - parent["accuracy"]["value"],
        "agreement_with_parent": rate_entry(int((pred == parent_pred).sum()), len(pred)),
        "verdict": verdict(checks=variant_checks, parent_summary=parent["status"], by_group=by_group),
        "checks": variant_checks,
        "disagreement_by_group": by_group,
        "worst_examples": worst_examples(texts=ctx.texts, y_true=ctx.y_true, parent_prob=ctx.prob,
                                         variant_prob=probs[:, fav], groups=inputs.groups),
    }


def variant_model(*, audit: Audit, inputs: AuditInputs, recipe: str) -> ModelArtifact:
    """The registered variant of the audited model for `recipe`: one made before with the same
    recipe, seed and training data (a re-run, a resumed audit), else a new one."""
    seed = int(audit.config.get("seed", 0))
    train = audit.config.get("train_dataset") if recipe.startswith("distil") else None
    provenance = {"compression": recipe, "seed": seed, "parent_sha256": audit.model.sha256,
                  **({"train_dataset": train} if train else {})}
    earlier = ModelArtifact.objects.filter(organisation_id=audit.organisation_id, parent=audit.model,
                                           **{f"provenance__{k}": v for k, v in provenance.items()}).first()
    if earlier is not None:
        return earlier
    work = Path(tempfile.mkdtemp(prefix=f"compress-{audit.pk}-", dir=settings.FILE_UPLOAD_TEMP_DIR))
    try:
        folder = _make_folder(audit=audit, inputs=inputs, recipe=recipe, seed=seed, out=work / "model")
        suffix = f" ({recipe})"
        return model_register_folder(
            organisation=audit.organisation, user=audit.created_by, folder=folder,
            name=audit.model.name[: 200 - len(suffix)] + suffix, parent=audit.model,
            provenance={**provenance, "source_audit": audit.pk})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _make_folder(*, audit: Audit, inputs: AuditInputs, recipe: str, seed: int, out: Path) -> Path:
    loaded = inputs.loaded
    if loaded.prompt is not None:
        raise RecipeError("Compression recipes apply to classifiers with a head, not prompted language models.")
    if recipe == "int8":
        shutil.copytree(loaded.folder, out)
        write_load_recipe(out, "int8")
        return out
    if recipe.startswith("distil"):
        student = _distil(audit=audit, inputs=inputs, layers=int(recipe_value(recipe)), seed=seed)
        return save_student(student, loaded.tokenizer, out)
    model = copy.deepcopy(loaded.model)
    if recipe.startswith("prune"):
        prune_magnitude(model, recipe_value(recipe))
    else:
        prune_heads(model, recipe_value(recipe))
    return save_student(model, loaded.tokenizer, out)


def _distil(*, audit: Audit, inputs: AuditInputs, layers: int, seed: int) -> torch.nn.Module:
    """The student trained on the audit's training dataset, read with the audit's columns."""
    train = Dataset.objects.get(pk=audit.config["train_dataset"], organisation_id=audit.organisation_id)
    frame = dataset_frame(dataset=train)
    text_column, label_column = audit.config["text_column"], audit.config["label_column"]
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise BadInput(f"Training dataset {train.original_filename} has no column {', '.join(missing)} (the audit's "
                       "text and label columns).")
    labels = value_strings(frame[label_column])
    unknown = sorted(set(labels) - set(inputs.label_to_id))
    if unknown:
        raise BadInput(f"Training dataset {train.original_filename}: column {label_column} holds labels the model "
                       f"does not have: {', '.join(unknown[:5])}.")
    texts = frame[text_column].astype(str).tolist()
    teacher = predictions_cached(model=audit.model, dataset=train, loaded=inputs.loaded, texts=texts)
    return distil(inputs.loaded, texts=texts, labels=labels.map(inputs.label_to_id).to_numpy(), teacher_probs=teacher,
                  layers=layers, seed=seed)


def _speed(loaded: runtime.LoadedModel, texts: list[str]) -> float:
    """Texts per second on this worker, over the first SPEED_ROWS texts after a warm-up."""
    sample = texts[:SPEED_ROWS]
    runtime.predict_proba(loaded, sample[:8])
    start = time.perf_counter()
    runtime.predict_proba(loaded, sample)
    return len(sample) / max(time.perf_counter() - start, 1e-9)


def _weights_bytes(folder: Path) -> int:
    return int(sum(p.stat().st_size for p in Path(folder).glob("*.safetensors")))


def _variant_bytes(loaded: runtime.LoadedModel, recipe: str) -> int:
    """What the variant takes to ship: its safetensors, or for int8 its quantised state dict."""
    if recipe != "int8":
        return _weights_bytes(loaded.folder)
    buffer = io.BytesIO()
    torch.save(loaded.model.state_dict(), buffer)
    return buffer.tell()


def _parameters(model: torch.nn.Module, parent_count: dict | None = None) -> int:
    """Parameters as the float model counts them; a quantised Linear's packed weights are not
    parameters to torch, so an int8 variant counts its parent's."""
    quantised = any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())
    if quantised and parent_count is not None:
        return int(parent_count["parameters"])
    return int(sum(p.numel() for p in model.parameters()))


def _nonzero(model: torch.nn.Module) -> int:
    return int(sum(int(torch.count_nonzero(p)) for p in model.parameters()))
