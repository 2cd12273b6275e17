"""The report.json document: one dict, built once, served as JSON, HTML and PDF.

The shape is the contract in DESIGN.md (schema_version 1). Everything that goes in is
converted to plain JSON types first, and every non-finite float becomes null, so the
document always serialises as strict JSON and its manifest hash can be re-computed by
anyone holding the JSON file.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .regulatory import regulatory_section

SCHEMA_VERSION = 1
STATUSES = ("pass", "warn", "fail", "inconclusive", "skipped", "error")
# Audit verdicts a release must stop on: a breach, or no evidence either way. The CLI
# exits 1 and the API gate answers 409 for both; warn lets a release through.
RELEASE_BLOCKING = frozenset({"fail", "inconclusive"})


def to_json_value(value: Any) -> Any:
    """A copy of `value` made of JSON types only, with NaN and infinities as None.

    Check results come straight from numpy and pandas, so numpy scalars and arrays are
    common; letting one through would make json.dumps fail, and a NaN would make the
    file invalid for strict parsers (JavaScript's JSON.parse, jq).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        return to_json_value(value.item())
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        # JSON keys are strings; converting here also keeps sort_keys from failing on
        # mixed key types (id2label is sometimes keyed by int).
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist())
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [to_json_value(v) for v in value]
    raise TypeError(f"Cannot put a {type(value).__name__} into the report: {value!r}")


def canonical_json(value: Any) -> bytes:
    """The canonical form hashed for the manifest: sorted keys, no spaces, ASCII, strict."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def manifest_sha256(manifest: Mapping) -> str:
    """SHA-256 of the canonical JSON of the manifest, as stored in the report."""
    return hashlib.sha256(canonical_json(to_json_value(manifest))).hexdigest()


def report_json(document: Mapping) -> bytes:
    """report.json as written to disk and served by the API: compact (no indentation, no
    space after separators: an audit's explanation arrays run to megabytes otherwise),
    keys in document order, strict, UTF-8."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def report_json_layouts(document: Mapping) -> tuple[bytes, ...]:
    """Every byte layout the platform has written report.json in, newest first: compact,
    then the indented layout of reports signed before it (still verifiable)."""
    legacy = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return report_json(document), legacy


def check_verdict(statuses: Iterable[str]) -> str:
    """One check's verdict over its results (one per attribute): error, fail, warn, then
    pass; "inconclusive" when none of its results could be judged (all skipped, or
    resting only on groups too small to decide)."""
    statuses = set(statuses)
    return next((s for s in ("error", "fail", "warn", "pass") if s in statuses), "inconclusive")


def summarize(checks: Iterable[Mapping]) -> dict:
    """The verdict over all checks, and each check's own verdict.

    fail when a result fails the policy or errored (nothing was shown to be fair), warn
    when one warns; pass only when every check that ran has evidence and all of it is
    within policy. An audit with a check in which nothing could be assessed, or with no
    check at all, is "inconclusive": not a failure of the model, but not a pass either,
    so a release pipeline must not read it as one (the CLI exits 1, the gate answers 409).
    """
    counts = dict.fromkeys(STATUSES, 0)
    by_check: dict[str, list[str]] = {}
    for check in checks:
        status = check.get("status")
        if status not in counts:
            # A status outside the contract is a bug in a check; refusing to summarise
            # beats silently passing an audit.
            raise ValueError(f"Check {check.get('id')!r} has unknown status {status!r}.")
        counts[status] += 1
        by_check.setdefault(str(check.get("id")), []).append(status)
    verdicts = {check_id: check_verdict(statuses) for check_id, statuses in by_check.items()}
    if counts["fail"] or counts["error"]:
        status = "fail"
    elif counts["warn"]:
        status = "warn"
    elif verdicts and all(v == "pass" for v in verdicts.values()):
        status = "pass"
    else:
        status = "inconclusive"
    return {"status": status, "counts": counts, "checks": verdicts}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def report_build(
    *,
    audit: Any,
    checks: list[dict],
    manifest: dict,
    policy: dict,
    platform_version: str,
    explanations: dict | None = None,
    runtime_facts: dict | None = None,
) -> dict:
    """The report.json document of one audit (DESIGN.md, schema_version 1).

    `audit` is an Audit (or anything with the same attributes: pk or id, status,
    created_at, finished_at, config, model, dataset). `explanations` is explain_merge's
    dict (or {"error": ...}); without it the section stays [] as in schema_version 1.
    `runtime_facts` (runtime.prediction_facts) says how the model ran: rows cut to its
    token limit, and whether predictions were batched or run one text at a time.
    """
    config = audit.config or {}
    model, dataset = audit.model, audit.dataset
    clean_checks = to_json_value(checks)
    clean_manifest = to_json_value(manifest)
    document = {
        "schema_version": SCHEMA_VERSION,
        "audit": {
            "id": getattr(audit, "pk", None) or getattr(audit, "id", None),
            "status": str(audit.status),
            "created_at": _iso(audit.created_at),
            "finished_at": _iso(getattr(audit, "finished_at", None)),
            "platform_version": platform_version,
            "seed": to_json_value(config.get("seed")),
        },
        "model": {
            "name": model.name,
            "sha256": model.sha256,
            "architecture": model.architecture,
            "num_parameters": to_json_value(model.num_parameters),
            "labels": to_json_value(model.labels or {}),
        },
        "dataset": {
            "name": dataset.name,
            "sha256": dataset.sha256,
            "rows": to_json_value(dataset.rows),
            "text_column": config.get("text_column"),
            "label_column": config.get("label_column"),
            # attribute -> privileged values: the privileged values decide every
            # difference in the report, so a reader needs them next to the names.
            "protected_attributes": to_json_value(config.get("protected") or {}),
            "favorable_label": to_json_value(config.get("favorable_label")),
        },
        "manifest_sha256": hashlib.sha256(canonical_json(clean_manifest)).hexdigest(),
        "manifest": clean_manifest,
        "policy": {
            "name": policy.get("name"),
            "version": to_json_value(policy.get("version")),
            "thresholds": to_json_value(policy.get("thresholds") or {}),
        },
        "summary": summarize(clean_checks),
        "checks": clean_checks,
        "explanations": to_json_value(explanations) if explanations else [],
        "mitigation": None,
    }
    if runtime_facts:
        document["runtime"] = to_json_value(runtime_facts)
    document["regulatory"] = to_json_value(regulatory_section(document))  # from the checks above only
    return document
