"""Validation of an unpacked Hugging Face model folder, before any model is built.

Only allow-listed files may stay; weights only as safetensors, whose header we parse
ourselves; config.json is checked for remote code and for sizes that would make
building the model exhaust memory. Everything here reads files; nothing imports,
unpickles or builds anything from them. The one build happens afterwards, through the
runtime (`check_built`).

A folder is a sequence classifier, or a causal LM (`*ForCausalLM`) with a prompt spec
(prompt.json: template, verbalizers, calibration; runtime.prompt_spec) that makes it a
prompted classifier. A masked or causal LM without a prompt (`*ForMaskedLM`,
`*ForCausalLM`, `GPT2LMHeadModel`, ...) is kept as a language model: it can run the
stereotype probes (sentence pairs) and no classifier check (audit_config_validate says so).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import transformers
from django.conf import settings
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
from transformers.models.auto.modeling_auto import (
    MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
    MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
)

from audits.errors import BadInput
from runtime.compress import COMPRESSION_FILE, RecipeError, load_recipe
from runtime.lm_scores import architecture_kind
from runtime.prompt_spec import PROMPT_FILE, PromptError, spec_read

ALLOWED_FILES = frozenset({
    "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
    "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "spiece.model", "sentencepiece.bpe.model", "generation_config.json",
    "README.md", "LICENSE", PROMPT_FILE, "chat_template.jinja", COMPRESSION_FILE,
})
SHARD_RE = re.compile(r"model-(\d{5})-of-(\d{5})\.safetensors")
# sentence-transformers metadata: harmless, and meaningless to a classifier.
DROPPED_FILES = frozenset({
    "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
    "data_config.json", ".gitattributes", "1_Pooling/config.json",
})
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")
OTHER_WEIGHT_SUFFIXES = (".h5", ".msgpack")
TOKENIZER_SETS = ({"tokenizer.json"}, {"vocab.txt"}, {"vocab.json", "merges.txt"},
                  {"spiece.model"}, {"sentencepiece.bpe.model"})
JSON_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
              "generation_config.json", "model.safetensors.index.json", "tokenizer.json", "vocab.json")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_JSON_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 100_000
# Caps on what config.json may ask transformers to allocate; generous for small models.
CONFIG_CAPS = {
    "vocab_size": 1_000_000, "hidden_size": 16_384, "num_hidden_layers": 128,
    "intermediate_size": 65_536, "max_position_embeddings": 1_048_576, "num_labels": 1_000,
    "num_attention_heads": 256,
}
# Older architectures' own names for the same sizes, beyond each config's attribute_map.
SIZE_ALIASES = {
    "dim": "hidden_size", "n_embd": "hidden_size", "d_model": "hidden_size",
    "n_layers": "num_hidden_layers", "n_layer": "num_hidden_layers", "num_layers": "num_hidden_layers",
    "hidden_dim": "intermediate_size", "ffn_dim": "intermediate_size", "d_ff": "intermediate_size",
    "n_inner": "intermediate_size", "n_positions": "max_position_embeddings",
    "n_ctx": "max_position_embeddings", "n_heads": "num_attention_heads", "n_head": "num_attention_heads",
}
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
               "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
HEAD_MESSAGE = "no classification head: fine-tune it for sequence classification first"


@dataclass
class FolderCheck:
    """What validation learnt about a folder; `files` are the ones to keep and store."""

    files: list[dict] = field(default_factory=list)  # [{"name", "size", "sha256"}]
    sha256: str = ""
    notes: list[str] = field(default_factory=list)
    model_type: str = ""
    prompted: bool = False  # a causal LM with prompt.json
    language_model: str | None = None  # "masked_lm" / "causal_lm": a language model without a prompt


def validate_model_folder(folder: Path, *, label: str) -> FolderCheck:
    """Check a folder we own; dropped metadata files are deleted from it.

    `label` names the upload in messages (the archive's or the folder's name).
    """
    check = FolderCheck()
    names = list_files(folder, label=label)
    keep = classify_names(names, label=label, notes=check.notes)
    for name in sorted(set(names) - set(keep)):
        (folder / name).unlink()
        if "/" in name and not any((folder / name).parent.iterdir()):
            (folder / name).parent.rmdir()
    _require_parts(keep, label)
    for name in JSON_FILES:
        if name in keep and name != "config.json":
            data = _read_json(folder / name, label, MAX_JSON_BYTES)
            if name == "tokenizer_config.json" and isinstance(data, dict) and "auto_map" in data:
                raise BadInput(f"{label}: tokenizer_config.json: 'auto_map' asks for remote code, "
                               "which is never run; use a tokenizer transformers ships")
    check.prompted = PROMPT_FILE in keep
    if check.prompted:
        _check_spec(folder, label)
    if COMPRESSION_FILE in keep:
        if check.prompted:
            raise BadInput(f"{label}: {COMPRESSION_FILE} applies to a classifier with a head, not a prompted LM")
        try:
            load_recipe(folder)
        except RecipeError as exc:
            raise BadInput(f"{label}: {exc}") from exc
    if not check.prompted:
        raw = _read_json(folder / "config.json", label, MAX_CONFIG_BYTES)
        check.language_model = architecture_kind(raw.get("architectures") if isinstance(raw, dict) else None)
    config = check_config(folder / "config.json", label=label, prompted=check.prompted,
                          language_model=check.language_model)
    check.model_type = config["model_type"]
    tensors = _read_weights(folder, keep, label)
    if not check.prompted and not check.language_model:
        _check_head(tensors, check.model_type, label)
    check.files = [{"name": name, "size": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
                   for name in sorted(keep)]
    check.sha256 = folder_sha256(check.files)
    return check


def classify_names(names: list[str], *, label: str, notes: list[str]) -> list[str]:
    """The names to keep; refuses pickled weights and unknown files, notes dropped ones."""
    keep, refused = [], []
    for name in names:
        base = name.rsplit("/", 1)[-1].lower()
        if base.endswith(PICKLE_SUFFIXES):
            raise BadInput(f"{label}: {name} refused: pickle-based weight formats execute code when "
                           "loaded; convert the model to safetensors (model.safetensors)")
        if base.endswith(OTHER_WEIGHT_SUFFIXES):
            raise BadInput(f"{label}: {name} refused: only safetensors weights are loaded; "
                           "convert the model to safetensors (model.safetensors)")
        if name in ALLOWED_FILES or SHARD_RE.fullmatch(name):
            keep.append(name)
        elif name in DROPPED_FILES:
            notes.append(f"{label}: dropped {name} (sentence-transformers metadata, not needed)")
        else:
            refused.append(name)
    if refused:
        raise BadInput(f"{label}: not allowed in a model folder: {', '.join(sorted(refused))}. "
                       f"Allowed: {', '.join(sorted(ALLOWED_FILES))} and model-XXXXX-of-XXXXX.safetensors")
    return keep


def check_config(path: Path, *, label: str, prompted: bool = False, language_model: str | None = None) -> dict:
    """config.json as a dict, refused if it asks for remote code or implausible sizes;
    `prompted`: the model is built as a causal LM, not as a sequence classifier;
    `language_model` ("masked_lm" / "causal_lm"): built as that kind of LM."""
    config = _read_json(path, label, MAX_CONFIG_BYTES)
    if not isinstance(config, dict):
        raise BadInput(f"{label}: config.json must be a JSON object")
    if "auto_map" in config:
        raise BadInput(f"{label}: config.json: 'auto_map' asks for remote code, which is never run; "
                       "upload a model transformers can build by itself")
    if "quantization_config" in config:
        raise BadInput(f"{label}: config.json: quantized models are not supported; upload full weights")
    model_type = config.get("model_type")
    mapping, task = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES, "for sequence classification"
    if prompted or language_model == "causal_lm":
        mapping, task = MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, "as a causal language model"
    elif language_model == "masked_lm":
        mapping, task = MODEL_FOR_MASKED_LM_MAPPING_NAMES, "as a masked language model"
    if not isinstance(model_type, str) or model_type not in mapping:
        raise BadInput(f"{label}: config.json: model_type {model_type!r} is not one transformers can "
                       f"build {task} without remote code")
    architectures = config.get("architectures")
    if architectures is not None and not (
            isinstance(architectures, list)
            and all(isinstance(a, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,199}", a) for a in architectures)):
        raise BadInput(f"{label}: config.json: architectures must be a list of class names")
    # attribute_map goes canonical -> the architecture's own key; we need the reverse.
    config_class = getattr(transformers, CONFIG_MAPPING_NAMES.get(model_type, ""), None)
    attribute_map = getattr(config_class, "attribute_map", None) or {}
    aliases = {**SIZE_ALIASES, **{own: canonical for canonical, own in attribute_map.items()}}
    _check_sizes(config, aliases, label, where="config.json")
    id2label = config.get("id2label")
    if id2label is not None:
        if not isinstance(id2label, dict) or not id2label:
            raise BadInput(f"{label}: config.json: id2label must be a non-empty object")
        if len(id2label) > CONFIG_CAPS["num_labels"]:
            raise BadInput(f"{label}: config.json: more than {CONFIG_CAPS['num_labels']} labels")
        for key, value in id2label.items():
            if not re.fullmatch(r"\d{1,6}", str(key)) or not isinstance(value, str) or len(value) > 200:
                raise BadInput(f"{label}: config.json: id2label needs integer keys and names of up to 200 characters, "
                               f"got {key!r}: {value!r}")
    return config


def _check_sizes(config: dict, aliases: dict, label: str, *, where: str) -> None:
    sizes: dict[str, int] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            # Composite configs nest their sub-model sizes (text_config, ...).
            _check_sizes(value, aliases, label, where=f"{where} {key}")
            continue
        canonical = aliases.get(key, key)
        if canonical not in CONFIG_CAPS or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadInput(f"{label}: {where}: {key} must be a non-negative integer, got {value!r}")
        if value > CONFIG_CAPS[canonical]:
            raise BadInput(f"{label}: {where}: {key} = {value} is over the limit of "
                           f"{CONFIG_CAPS[canonical]}; this is not a small model")
        sizes[canonical] = value
    # The cost of building is set by the config, not the weights: bound a rough
    # parameter estimate by what the unpacked-size cap could hold.
    h = sizes.get("hidden_size", 0)
    estimate = (sizes.get("vocab_size", 0) + sizes.get("max_position_embeddings", 0)) * h + \
        sizes.get("num_hidden_layers", 0) * (4 * h * h + 2 * h * sizes.get("intermediate_size", 4 * h))
    if estimate > settings.MAX_MODEL_UNPACKED_BYTES // 2:
        raise BadInput(f"{label}: {where}: the sizes describe a model of about {estimate:,} parameters, "
                       "over what this platform accepts")


def _read_json(path: Path, label: str, cap: int):
    size = path.stat().st_size
    if size > cap:
        raise BadInput(f"{label}: {path.name} is {size} bytes, over the limit of {cap}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadInput(f"{label}: {path.name} is not valid JSON ({exc})") from exc


def read_safetensors_header(path: Path, *, label: str) -> dict[str, tuple[str, list[int]]]:
    """Tensor name -> (dtype, shape), after checking every offset against the file size."""
    name = path.name
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise BadInput(f"{label}: {name} is truncated (no safetensors header)")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES or length > size - 8:
            raise BadInput(f"{label}: {name} is corrupt or truncated (header length {length}, file {size} bytes)")
        raw = fh.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadInput(f"{label}: {name} has a corrupt safetensors header ({exc})") from exc
    if not isinstance(header, dict):
        raise BadInput(f"{label}: {name} has a corrupt safetensors header")
    header.pop("__metadata__", None)
    if not header or len(header) > MAX_TENSORS:
        raise BadInput(f"{label}: {name} holds {len(header)} tensors (expected 1 to {MAX_TENSORS})")
    tensors, spans = {}, []
    for tensor, spec in header.items():
        try:
            dtype, shape, (begin, end) = spec["dtype"], spec["shape"], spec["data_offsets"]
            ok = (dtype in DTYPE_BYTES and isinstance(shape, list)
                  and all(type(d) is int and d >= 0 for d in shape)
                  and type(begin) is int and type(end) is int and 0 <= begin <= end)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise BadInput(f"{label}: {name}: tensor {tensor!r} has an invalid entry in the header")
        if end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise BadInput(f"{label}: {name}: tensor {tensor!r} size does not match its shape and dtype")
        tensors[tensor] = (dtype, shape)
        spans.append((begin, end))
    # The data must be exactly the tensors, back to back: no gaps, overlaps or tail.
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise BadInput(f"{label}: {name} is corrupt (tensor data overlaps or leaves gaps)")
        position = end
    if 8 + length + position != size:
        raise BadInput(f"{label}: {name} is corrupt or truncated: the header describes "
                       f"{8 + length + position} bytes, the file has {size}")
    return tensors


def _read_weights(folder: Path, keep: list[str], label: str) -> dict[str, tuple[str, list[int]]]:
    if "model.safetensors" in keep:
        return read_safetensors_header(folder / "model.safetensors", label=label)
    shards = sorted(n for n in keep if SHARD_RE.fullmatch(n))
    index = _read_json(folder / "model.safetensors.index.json", label, MAX_CONFIG_BYTES * 16)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise BadInput(f"{label}: model.safetensors.index.json has no weight_map")
    totals = {SHARD_RE.fullmatch(n).group(2) for n in shards}
    expected = {f"model-{i:05d}-of-{int(t):05d}.safetensors" for t in totals for i in range(1, int(t) + 1)}
    if len(totals) != 1 or set(shards) != expected or set(weight_map.values()) != set(shards):
        raise BadInput(f"{label}: the weight shards ({', '.join(shards)}) do not match "
                       "model.safetensors.index.json or are incomplete")
    tensors: dict[str, tuple[str, list[int]]] = {}
    for shard in shards:
        for tensor, spec in read_safetensors_header(folder / shard, label=label).items():
            if tensor in tensors or weight_map.get(tensor) != shard:
                raise BadInput(f"{label}: {shard}: tensor {tensor!r} is duplicated or not where the index says")
            tensors[tensor] = spec
    if set(tensors) != set(weight_map):
        raise BadInput(f"{label}: model.safetensors.index.json lists tensors the shards do not hold")
    return tensors


def _check_head(tensors: dict, model_type: str, label: str) -> None:
    """A bare encoder would load with a randomly initialised head; refuse it up front."""
    model_class = getattr(transformers, MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES[model_type], None)
    prefix = getattr(model_class, "base_model_prefix", "")
    if not prefix:
        return  # check_built catches it from the loading report
    in_base = [t for t in tensors if t.startswith(prefix + ".")]
    if not in_base or len(in_base) == len(tensors):
        raise BadInput(f"{label}: {HEAD_MESSAGE} (the weights hold only the base model)")


def check_built(info: dict, *, label: str) -> None:
    """Refuse a built model whose loading report shows randomly initialised weights."""
    missing = info.get("missing_keys") or []
    prefix = info.get("base_model_prefix") or ""
    head_missing = any(not prefix or not k.startswith(prefix + ".") for k in missing)
    if missing and head_missing and info.get("kind") not in ("prompted", "masked_lm", "causal_lm"):
        raise BadInput(f"{label}: {HEAD_MESSAGE} (missing: {', '.join(sorted(missing)[:5])})")
    if missing:
        raise BadInput(f"{label}: the weights lack {len(missing)} tensors the model needs "
                       f"(e.g. {', '.join(sorted(missing)[:5])})")
    if info.get("mismatched_keys"):
        raise BadInput(f"{label}: weights with the wrong shape for config.json: "
                       f"{', '.join(sorted(info['mismatched_keys'])[:5])}")


def _check_spec(folder: Path, label: str) -> None:
    """prompt.json's own shape; the words and the context are checked once the tokenizer is built."""
    size = (folder / PROMPT_FILE).stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise BadInput(f"{label}: {PROMPT_FILE} is {size} bytes, over the limit of {MAX_CONFIG_BYTES}")
    try:
        spec_read(folder)
    except PromptError as exc:
        raise BadInput(f"{label}: {PROMPT_FILE}: {exc}") from exc


def list_files(folder: Path, *, label: str) -> list[str]:
    """Relative names of the regular files under `folder`, within the count and size caps."""
    names, total = [], 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BadInput(f"{label}: {rel} is a link or special file; only regular files are accepted")
        if path.is_file():
            names.append(rel)
            total += path.stat().st_size
    if len(names) > settings.MAX_MODEL_FILES:
        raise BadInput(f"{label}: more than {settings.MAX_MODEL_FILES} files")
    if total > settings.MAX_MODEL_UNPACKED_BYTES:
        raise BadInput(f"{label}: the files total over {settings.MAX_MODEL_UNPACKED_BYTES} bytes")
    return names


def _require_parts(keep: list[str], label: str) -> None:
    if "config.json" not in keep:
        raise BadInput(f"{label}: no config.json; upload the whole Hugging Face model folder")
    shards = [n for n in keep if SHARD_RE.fullmatch(n)]
    if "model.safetensors" in keep and shards:
        raise BadInput(f"{label}: both model.safetensors and sharded weights; keep one of them")
    if "model.safetensors" not in keep and not shards:
        raise BadInput(f"{label}: no weights; expected model.safetensors (pickle formats are not accepted)")
    if shards and "model.safetensors.index.json" not in keep:
        raise BadInput(f"{label}: sharded weights need model.safetensors.index.json")
    if not any(group <= set(keep) for group in TOKENIZER_SETS):
        raise BadInput(f"{label}: no tokenizer; expected tokenizer.json, vocab.txt, vocab.json with "
                       "merges.txt, or a sentencepiece model")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def folder_sha256(files: list[dict]) -> str:
    """One hash for the folder: sorted relative names with their file hashes."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f["name"]):
        digest.update(f"{entry['name']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()
