"""The last stage of an audit: the checks' results kept until the report, then the report.

Between the checks stage and the report stage an audit may wait on its explanation
chunks, run by other workers (audits.services.explain_chunks); the check results wait
in storage, and whichever process finishes the audit builds its report from them.
"""
from __future__ import annotations

import ctypes
import gc
import json

from django.core.files.storage import default_storage
from django.utils import timezone

import auditplatform
import runtime
from audits.models import Audit
from audits.reports import report_build, report_files
from audits.reports.document import to_json_value
from audits.services.audit_inputs import AuditInputs, audit_inputs, predictions_frame
from audits.services.explanations import explanations_merge
from audits.services.job_claims import job_is_ours
from audits.services.jobs import job_fail, job_progress
from audits.services.manifest import audit_manifest
from audits.services.signing import audit_is_frozen
from audits.services.stored import stored_read, stored_write


def _pending_path(audit: Audit) -> str:
    return f"{audit.artifacts_prefix}/pending-checks.json"


def pending_checks_save(*, audit: Audit, checks: list[dict], explanations: dict | None = None) -> None:
    """Keep the check results between the checks stage and the report stage, which may
    run in another worker after the explanation chunks."""
    payload = {"checks": checks, "explanations": explanations}
    stored_write(_pending_path(audit), json.dumps(to_json_value(payload)).encode())


def _compression_path(audit: Audit) -> str:
    return f"{audit.artifacts_prefix}/pending-compression.json"


def pending_compression_save(*, audit: Audit, section: dict) -> None:
    """Keep the compression stage's section (audits.services.compressions) until the report."""
    stored_write(_compression_path(audit), json.dumps(to_json_value(section)).encode())


def _pending_compression(audit: Audit) -> dict | None:
    content = stored_read(_compression_path(audit))
    return None if content is None else json.loads(content)


def _heap_release() -> None:
    """Hand the heap pages the explanations freed back to the system before the PDF, the
    stage's largest allocation: glibc keeps freed pages for reuse, so without this the
    report's memory came on top of Integrated Gradients' (bench/audit_10k.py)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to hand back this way
        pass


def audit_finish(*, audit_id: int, inputs: AuditInputs | None = None, attempt: int | None = None) -> Audit:
    """The report stage: merge the explanations, build and store the report files. It can
    be entered again after a kill: the files are written afresh, and the audit is marked
    done, by `attempt` only while it still holds the audit, before the stored check
    results are removed."""
    audit = Audit.objects.select_related("model", "dataset", "organisation", "policy").get(pk=audit_id)
    if audit.status != Audit.Status.RUNNING or audit_is_frozen(audit_id):
        return audit  # ended (a late duplicate), or signed: a signed report never changes
    try:
        job_progress(job=Audit, job_id=audit_id, stage="report")
        _heap_release()
        with default_storage.open(_pending_path(audit), "rb") as fh:
            pending = json.load(fh)
        explanations = pending["explanations"]
        if explanations is None and int(audit.config.get("explain") or 0) > 0:
            explanations = explanations_merge(audit=audit)
        inputs = inputs or audit_inputs(audit=audit)
        policy = audit.policy.as_dict()
        audit.status = Audit.Status.DONE
        audit.finished_at = timezone.now()
        document = report_build(
            audit=audit, checks=pending["checks"], policy=policy, platform_version=auditplatform.__version__,
            manifest=audit_manifest(audit=audit, policy=policy), explanations=explanations,
            runtime_facts=runtime.prediction_facts(
                inputs.loaded, inputs.frame[audit.config["text_column"]].astype(str).tolist()),
        )
        if audit.config.get("compress"):
            document["compression"] = _pending_compression(audit)
        files = report_files(document, predictions_frame(audit=audit, inputs=inputs))
        for name, content in files.items():
            stored_write(f"{audit.artifacts_prefix}/{name}", content)
        # The progress the report stage found (the explained rows) stays on show.
        marked = job_is_ours(job=Audit, job_id=audit_id, attempt=attempt).update(
            status=Audit.Status.DONE, finished_at=audit.finished_at, report=document,
            verdict=document["summary"]["status"], stage="done",
            progress_done=audit.progress_done, progress_total=audit.progress_total)
        if marked:
            default_storage.delete(_pending_path(audit))
            if default_storage.exists(_compression_path(audit)):
                default_storage.delete(_compression_path(audit))
    except Exception as exc:
        job_fail(job=Audit, job_id=audit_id, exc=exc, attempt=attempt)
    return Audit.objects.get(pk=audit_id)
