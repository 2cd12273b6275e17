"""Explain a set of rows with every method, score the explanations, and summarise them.

The audit service fans the rows out: one `explain_chunk` per chunk of rows (a Celery
task each, see audits.services.explain_chunks; the result is plain JSON), then
`explain_merge` over the chunk results (no model needed); `explain_rows` does both in
one process. A row's explanation depends only on its text, the model and the seed,
never on which chunk it was in, so the merged result equals the one-chunk result.

Within a chunk, every method, the faithfulness suite and the predictions share one
`ModelFunction`, so an input any of them has already run is never run again.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

import runtime
from explain.aggregate import global_importance, identity_drivers, identity_mentions
from explain.attribution import Attribution, word_scores
from explain.engine import ModelFunction
from explain.faithfulness import example_agreement, faithfulness, mean_agreement, summarise
from explain.methods import REGISTRY, MethodInputs
from explain.parallel import in_processes, longest_first
from explain.tokens import word_units

METHODS = tuple(REGISTRY)  # shap, lime, ig, attention
# LIME's own default is 5,000 neighbours; on a long comment every one is distinct and
# must be tokenised and run, so the audit default is 1,000 (options override it). These
# budgets are the most a text gets: with "adaptive", SHAP and LIME stop earlier once the
# top tokens are stable and IG once its convergence delta is small (explain.adaptive).
DEFAULT_OPTIONS = {
    "shap_max_evals": 500, "lime_num_samples": 1000, "ig_steps": 50, "batch_size": 64, "top_k": 20,
    "adaptive": True,
}
Progress = Callable[[int, int], None]


def explain_chunk(
    loaded: runtime.LoadedModel,
    *,
    texts: Sequence[str] | Mapping[int, str],
    favourable_id: int,
    rows: Sequence[int],
    groups: Mapping[str, Sequence] | pd.DataFrame | None = None,
    labels: Sequence | None = None,
    lexicon: Sequence[tuple[str, str]] = (),
    seed: int = 0,
    methods: Sequence[str] = METHODS,
    options: Mapping | None = None,
    progress: Progress | None = None,
    perturb: runtime.LoadedModel | None = None,
    plan: Mapping | None = None,
    processes: int = 1,
) -> dict:
    """Explanations of `rows` (0-based rows; `texts`, `groups`, `labels` indexed by row),
    a JSON-safe dict for `explain_merge`. `perturb`: a stand-in (audits.services.
    explain_engine) for SHAP's and LIME's perturbed inputs, `plan` its evidence, kept in the
    result. `processes` > 1: each row in a forked child, that many at a time (explain.parallel)."""
    processes = min(processes, len(rows), torch.get_num_threads())  # no more than threads to share
    if processes > 1 and runtime.model_device(loaded.model).type == "cpu":
        return _in_processes(loaded, **{k: v for k, v in locals().items() if k != "loaded"})
    methods = _check_methods(methods)
    opts = {**DEFAULT_OPTIONS, **(options or {})}
    perturbation = _perturbation(plan, perturb)
    rows = [int(r) for r in rows]
    texts, labels = _positional(texts), _positional(labels)
    chunk_texts = [str(texts[r]) for r in rows]
    ids = runtime.tokenize(loaded, chunk_texts)
    fn = ModelFunction(loaded, favourable_id=favourable_id, batch_size=opts["batch_size"])
    probs = fn.probs(ids)
    total = len(rows) * len(methods) + 1
    perturb_fn = None if perturb is None else ModelFunction(perturb, favourable_id=favourable_id,
                                                             batch_size=opts["batch_size"])
    inputs = MethodInputs(loaded=loaded, fn=fn, favourable_id=favourable_id, seed=seed, options=opts,
                          perturb_fn=perturb_fn)
    attributions, timings = _attribute(inputs, methods, ids, chunk_texts, progress=progress, total=total)
    started = time.perf_counter()
    faithful = faithfulness(fn, attributions)
    timings["faithfulness"] = time.perf_counter() - started
    _report(progress, total, total)

    signed = {m: REGISTRY[m].signed for m in methods}
    group_table = _group_table(groups)
    examples = []
    for i, row in enumerate(rows):
        words, spans = word_units(loaded.tokenizer, ids[i])
        per_method = {}
        for method in methods:
            attribution = attributions[method][i]
            per_method[method] = {**attribution.to_json(), "word_scores": word_scores(attribution, spans).tolist()}
        example = {
            "row": row,
            "text": chunk_texts[i],
            "predicted": float(probs[i, favourable_id]),
            "predicted_label": loaded.id2label.get(int(np.argmax(probs[i])), str(int(np.argmax(probs[i])))),
            "groups": {a: _text(values[row]) for a, values in group_table.items()},
            "words": words,
            "mentions": identity_mentions(loaded.tokenizer, words, lexicon) if lexicon else [],
            "methods": per_method,
            "faithfulness": {m: faithful[m][i] for m in methods},
            "agreement": example_agreement({m: per_method[m]["word_scores"] for m in methods}, signed),
        }
        if labels is not None:
            example["label"] = _text(labels[row])
        examples.append(example)
    return json_safe({
        "methods": list(methods),
        "signed": signed,
        "favourable_id": favourable_id,
        "favourable_label": loaded.id2label.get(favourable_id, str(favourable_id)),
        "seed": seed,
        "options": opts,
        "examples": examples,
        "engine": _engine(fn, perturb_fn),
        "perturbation": perturbation,
        "timings": timings,
    })


def _in_processes(loaded: runtime.LoadedModel, *, processes: int, rows: Sequence[int], texts,
                  progress: Progress | None, **kwargs) -> dict:
    """explain_chunk's result for `rows`: each row in a forked child, longest first,
    `processes` at a time (CPU only: a CUDA context does not survive a fork), put together
    as one chunk's."""
    rows = [int(r) for r in rows]
    positional = _positional(texts)
    parts = longest_first([len(str(positional[r])) for r in rows])
    warm_up(loaded, kwargs.get("methods") or METHODS)
    threads = max(1, torch.get_num_threads() // processes)

    def work(part: list[int]) -> dict:
        # In a child: no progress callback (it may write to the database, which a forked
        # child must not touch); this process reports once all are back.
        with runtime.pinned_threads(threads):
            return explain_chunk(loaded, texts=texts, rows=[rows[i] for i in part], processes=1, **kwargs)

    results = in_processes(work, parts, at_once=processes)
    total = len(rows) * len(results[0]["methods"]) + 1
    _report(progress, total, total)
    order = {row: i for i, row in enumerate(rows)}
    first = results[0]
    return {**first,
            "examples": sorted((e for r in results for e in r["examples"]), key=lambda e: order[e["row"]]),
            "engine": _summed(results, "engine"),
            "timings": _summed(results, "timings"),  # summed over the processes (they ran at once)
            "processes": processes}


def _summed(results: Sequence[Mapping], key: str) -> dict:
    """results[i][key] added up key by key (the first result's keys)."""
    return {k: sum(r[key].get(k, 0) for r in results) for k in results[0][key]}


_warm: set[str] = set()


def warm_up(loaded: runtime.LoadedModel, methods: Sequence[str]) -> None:
    """Each method once on a short text in this process, before it forks: shap's numba
    functions compile on first use (4-5 s), and a child compiles them for itself, then
    forgets, unless the process it was forked from already had them."""
    todo = [m for m in _check_methods(methods) if m not in _warm]
    if todo:
        explain_chunk(loaded, texts=["a short text to warm the explainers up"], favourable_id=0, rows=[0],
                      methods=todo, options={"shap_max_evals": 40, "lime_num_samples": 40, "ig_steps": 4})
        _warm.update(todo)


def _engine(fn: ModelFunction, perturb_fn: ModelFunction | None) -> dict[str, int]:
    """The model functions' counters, summed (the stand-in's forwards are model calls too)."""
    counts = fn.counters.as_dict()
    if perturb_fn is not None:
        counts = {k: v + perturb_fn.counters.as_dict()[k] for k, v in counts.items()}
    return counts


def _perturbation(plan: Mapping | None, perturb: runtime.LoadedModel | None) -> dict:
    """What ran SHAP's and LIME's perturbed inputs, for the report (no calibration numbers)."""
    if not plan:
        return {"model": "audited"}
    if (plan.get("model", "audited") != "audited") != (perturb is not None):
        raise ValueError("The plan and the model given for perturbed inputs disagree.")
    return {k: v for k, v in plan.items() if k != "ranges"}


def _attribute(inputs: MethodInputs, methods: Sequence[str], ids: Sequence[Sequence[int]], texts: Sequence[str],
               *, progress: Progress | None, total: int) -> tuple[dict[str, list[Attribution]], dict[str, float]]:
    """Every method's attributions of the chunk's texts (one per text, in order) and the
    seconds each method took."""
    attributions: dict[str, list[Attribution]] = {}
    timings: dict[str, float] = {}
    done = 0
    for name in methods:
        method = REGISTRY[name]
        started = time.perf_counter()
        if method.per_text:
            found = []
            for i in range(len(ids)):
                found += method.explain(inputs, [ids[i]], [texts[i]])
                done += 1
                _report(progress, done, total)
        else:
            found = method.explain(inputs, ids, texts)
            done += len(ids)
            _report(progress, done, total)
        attributions[name] = found
        timings[name] = time.perf_counter() - started
    return attributions, timings


def explain_merge(chunks: Sequence[Mapping], *, top_k: int | None = None) -> dict:
    """One report section from chunk results (any order, any split)."""
    if not chunks:
        raise ValueError("Nothing to merge: no chunk results.")
    first = chunks[0]
    methods = list(first["methods"])
    signed = dict(first["signed"])
    top_k = top_k or first["options"]["top_k"]
    examples = sorted((e for c in chunks for e in c["examples"]), key=lambda e: e["row"])
    word_view = [
        {"words": e["words"], "groups": e["groups"], "mentions": e["mentions"],
         "word_scores": {m: e["methods"][m]["word_scores"] for m in methods}}
        for e in examples
    ]
    overview = global_importance(word_view, methods, top_k=top_k)
    drivers = identity_drivers(overview["overall"], signed=signed, favourable=first["favourable_label"])
    overview["identity_drivers"] = drivers
    engine = _summed(chunks, "engine")
    # Every chunk of an audit carries the same plan; a result from before plans existed has none.
    perturbation = first.get("perturbation") or {"model": "audited"}
    timings = _summed(chunks, "timings")
    deltas = [abs(e["methods"]["ig"]["extra"]["convergence_delta"]) for e in examples if "ig" in methods]
    return json_safe({
        "methods": methods,
        "favourable_label": first["favourable_label"],
        "seed": first["seed"],
        "options": first["options"],
        "examples": examples,
        "global": overview,
        "identity_terms": [d["sentence"] for d in drivers],
        "faithfulness": summarise({m: [e["faithfulness"][m] for e in examples] for m in methods}),
        "agreement": mean_agreement([e["agreement"] for e in examples]),
        "ig_convergence": {"mean_abs_delta": float(np.mean(deltas)) if deltas else None,
                           "max_abs_delta": float(np.max(deltas)) if deltas else None},
        "engine": engine,
        "perturbation": perturbation,
        "timings": timings,
    })


def explain_rows(loaded: runtime.LoadedModel, **kwargs) -> dict:
    """explain_chunk (same arguments) over all rows in one chunk, merged: the
    "explanations" section of report.json, computed in this process."""
    return explain_merge([explain_chunk(loaded, **kwargs)])


def split_rows(rows: Sequence[int], chunk_size: int) -> list[list[int]]:
    """Rows in chunks of `chunk_size`, for one explain_chunk task each."""
    rows = [int(r) for r in rows]
    return [rows[i : i + chunk_size] for i in range(0, len(rows), max(1, chunk_size))]


def _check_methods(methods: Sequence[str]) -> list[str]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"Unknown explanation methods {unknown}; choose from {list(METHODS)}.")
    return list(dict.fromkeys(methods))


def _positional(values):
    """Rows are positions (0-based rows of the file), whatever a pandas index says."""
    return values.to_numpy() if isinstance(values, pd.Series) else values


def _group_table(groups) -> dict[str, Sequence]:
    if groups is None:
        return {}
    if isinstance(groups, pd.DataFrame):
        return {str(c): groups[c].to_numpy() for c in groups.columns}
    return {str(a): _positional(v) for a, v in groups.items()}


def _text(value) -> str | None:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return str(value.item() if isinstance(value, np.generic) else value)


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress:
        progress(done, total)


def json_safe(value):
    """Plain JSON types only: numpy scalars and arrays converted, NaN and infinity as None."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
