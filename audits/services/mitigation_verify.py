"""A debiasing run checked by the ordinary audit.

The run's before/after figures are computed by the mitigation code on its held-out
rows. Here those rows become a dataset of their own, and the parent model (before) and
the new model (after) are audited on it with the parent audit's checks, seed and
policy. `verification_rows` then sets each figure of the run's report beside the same
figure in the audits' reports, so a reader sees the agreement instead of taking it on
trust.
"""
from __future__ import annotations

import io
import logging

import numpy as np
from django.core.files.base import ContentFile

from audits.errors import BadInput
from audits.models import Audit, Dataset, MitigationRun, ModelArtifact
from audits.services.audits import audit_config_validate, audit_create, audit_run
from audits.services.cleanup import uploads_discard
from audits.services.datasets import dataset_frame, dataset_map, dataset_upload

log = logging.getLogger(__name__)
# mitigation_run(verify=...): True queues the two audits once the run is committed,
# INLINE runs them in the caller's process (the demo, tests), False makes none.
INLINE = "inline"
# The same rows and the same formulas: anything beyond float rounding is a real difference.
AGREES_WITHIN = 1e-9
# Said in the run's report when the check cannot be made; the run and its model are kept.
CANNOT_AUDIT = "The held-out rows could not be audited on their own:"


def held_out_prepare(*, run: MitigationRun, audit: Audit, rows: np.ndarray) -> tuple[Dataset | None, str]:
    """The audit's dataset rows `rows` stored as a new dataset of the same organisation
    (through the ordinary upload), mapped as the audit read its rows and validated for the
    two audits. Or None and the reason when the rows cannot be audited on their own (a
    protected group too small among them, say): the run is still good then, only its
    check by the ordinary audit is missing. Nothing is left behind on any refusal."""
    frame = dataset_frame(dataset=audit.dataset).iloc[np.asarray(rows, dtype=np.int64)]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)  # Parquet keeps the column types (a boolean label stays boolean)
    suffix = f" (held-out rows of debiasing run {run.pk})"
    name = audit.dataset.name[: max(200 - len(suffix), 1)] + suffix
    upload = ContentFile(buffer.getvalue(), name=held_out_filename(run))
    try:
        dataset = dataset_upload(organisation=audit.organisation, user=run.created_by, name=name,
                                 uploaded_file=upload)
    except BadInput as exc:
        return None, f"{CANNOT_AUDIT} {exc}"
    try:
        # The audit's config holds the mapping its checks used (extra keys are ignored).
        dataset = dataset_map(dataset=dataset, mapping=audit.config)
        audit_config_validate(model=audit.model, dataset=dataset, config=verification_config(audit))
    except BadInput as exc:
        held_out_discard(dataset)
        return None, f"{CANNOT_AUDIT} {exc}"
    except BaseException:
        held_out_discard(dataset)
        raise
    return dataset, ""


def held_out_filename(run: MitigationRun) -> str:
    """The file name a run's held-out dataset is uploaded under (and found by again)."""
    return f"held-out-rows-run-{run.pk}.parquet"


def verification_config(audit: Audit) -> dict:
    # Explanations add nothing to the comparison and take most of an audit's time.
    return {**audit.config, "explain": 0}


def verification_audits_create(*, run: MitigationRun, audit: Audit, dataset: Dataset, model: ModelArtifact,
                               enqueue: bool) -> tuple[Audit, Audit]:
    """Audits of the parent (before) and of `model` (after) on `dataset`. Call it inside
    the transaction that marks the run done: a rollback then removes them with their
    trail entries, which an append-only trail would otherwise keep pointing at them."""
    config = verification_config(audit)
    try:
        made = [audit_create(organisation=audit.organisation, user=run.created_by, model=m, dataset=dataset,
                             config=config, enqueue=enqueue) for m in (audit.model, model)]
    except BadInput as exc:
        raise BadInput(f"{CANNOT_AUDIT} {exc}") from exc
    if audit.policy_id is not None:
        # audit_create takes the current policy; the figures must be judged as the parent's were.
        Audit.objects.filter(pk__in=[a.pk for a in made]).update(policy_id=audit.policy_id)
    return made[0], made[1]


def verification_run_inline(*, audits: list[Audit]) -> None:
    """Run the audits here, one after another; each records its own failure."""
    for audit in audits:
        try:
            audit_run(audit_id=audit.pk, inline=True)
        except Exception:  # the run is done and stays so; the audit page shows what happened
            log.exception("verification audit %s could not run", audit.pk)


def held_out_discard(dataset: Dataset | None) -> None:
    if dataset is None:
        return
    try:
        uploads_discard(objects=[dataset])
    except Exception:  # the run's own failure is what the user must see
        log.exception("could not remove held-out dataset %s of a failed run", dataset.pk)


def verification_rows(run_result: dict, after_report: dict | None, before_report: dict | None = None) -> list[dict]:
    """Each figure the run's report and an audit's report both state, side by side:
    {"side", "figure", "group", "run", "audit", "difference", "agrees"}. A missing report
    (audit not done) gives no rows; so do groups the audit skipped (under its
    min_group_rows) and checks it did not run."""
    if not isinstance(run_result, dict):
        return []
    attribute = str(run_result.get("attribute"))
    rows: list[dict] = []
    for side, report in (("before", before_report), ("after", after_report)):
        figures = run_result.get(side)
        if not isinstance(figures, dict) or not isinstance(report, dict):
            continue
        checks = [c for c in report.get("checks") or [] if isinstance(c, dict)]
        for figure, audit_value in _overall_figures(report, checks).items():
            entry = figures.get(figure)
            if isinstance(entry, dict) and "value" in entry:
                rows.append(_row(side, figure, "", entry["value"], audit_value))
        rows.extend(_group_rows(side, figures.get("groups"), checks, attribute))
    return rows


def _overall_figures(report: dict, checks: list[dict]) -> dict:
    """Accuracy and ROC AUC on all rows, where a check states them."""
    out = {}
    for check_id, key, figure in (("automation_bias", "accuracy", "accuracy"),
                                  ("subgroup_auc", "overall_auc", "roc_auc")):
        for check in checks:
            every_row = (check.get("groups") or {}).get("all rows") if check.get("id") == check_id else None
            if isinstance(every_row, dict) and key in every_row:
                out[figure] = every_row[key]
                break
    labels = (report.get("model") or {}).get("labels") or {}
    if len(labels) != 2:
        # automation_bias reads favourable-vs-rest at probability 0.5: the run's (argmax)
        # accuracy only with two labels.
        out.pop("accuracy", None)
    return out


def _group_rows(side: str, run_groups, checks: list[dict], attribute: str) -> list[dict]:
    check = next((c for c in checks if c.get("id") == "group_fairness" and str(c.get("attribute")) == attribute),
                 None)
    audit_groups = (check or {}).get("groups") or {}
    rows = []
    for group, values in sorted((run_groups or {}).items()):
        theirs = audit_groups.get(group)
        if not isinstance(values, dict) or not isinstance(theirs, dict):
            continue
        rows.extend(_row(side, figure, group, value, theirs[figure])
                    for figure, value in values.items() if figure in theirs)
    return rows


def _row(side: str, figure: str, group: str, run_value, audit_value) -> dict:
    numbers = [v if isinstance(v, int | float) and not isinstance(v, bool) else None for v in (run_value, audit_value)]
    if None in numbers:
        # No value on both sides (a ratio over an empty rate) agrees; on one side only, not.
        difference, agrees = None, numbers[0] is None and numbers[1] is None
    else:
        difference = abs(float(numbers[0]) - float(numbers[1]))
        agrees = difference <= AGREES_WITHIN
    return {"side": side, "figure": figure, "group": group, "run": numbers[0], "audit": numbers[1],
            "difference": difference, "agrees": agrees}
