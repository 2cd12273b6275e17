"""The demo's debiasing run: adversarial debiasing for the sexuality terms, trained on the
demo's training split (uploaded as a dataset of its own) and measured on the audited
held-out comments, which it never trains on (issue 16)."""
from __future__ import annotations

from audits.models import Audit, Dataset, MitigationRun

# The attribute with the largest gap (comments naming a sexuality are flagged far more
# often); equalised odds, because the gap is in harmless comments flagged toxic; the
# platform's default settings otherwise.
MITIGATION = {"method": "adversarial", "attribute": "sexuality", "options": {"goal": "equalised_odds"}}
TRAIN_FILE = "wiki_toxicity_train.csv"
TRAIN_NAME = "Wikipedia talk comments (training split)"


def demo_mitigation(audit: Audit, user, training: Dataset, progress, queued: bool = False) -> MitigationRun | None:
    """A debiasing run on the demo audit trained on `training`: found finished, or run here
    and now, checked by audits of the rows it measured; with `queued`, found or started on
    the worker (and returned unfinished)."""
    from audits.services.mitigations import mitigation_create, mitigation_run

    if audit.status != Audit.Status.DONE:
        return None
    # A run of an older demo (no training dataset) is not this one.
    runs = MitigationRun.objects.filter(audit=audit, method=MITIGATION["method"], attribute=MITIGATION["attribute"],
                                        options__train_dataset=training.pk)
    waiting = (MitigationRun.Status.DONE, MitigationRun.Status.QUEUED, MitigationRun.Status.RUNNING)
    run = runs.filter(status=MitigationRun.Status.DONE).first() or (
        runs.filter(status__in=waiting).first() if queued else None)
    if run is None:
        run = mitigation_create(audit=audit, user=user, enqueue=queued, train_dataset=training, **MITIGATION)
    progress.made(mitigation=run)
    if run.status != MitigationRun.Status.DONE:
        progress.stage(f"debiasing the demo model for the {MITIGATION['attribute']} terms (run {run.pk})")
        if not queued:
            run = mitigation_run(run_id=run.pk, verify="inline")
    return MitigationRun.objects.get(pk=run.pk)
