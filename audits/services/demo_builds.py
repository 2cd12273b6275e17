"""The demo, built by the worker in the background so `make run` serves at once.

`demo_build_queue` (from `manage.py demo --background`) records a build and queues it;
`demo_build_run` (the task) does its next step and queues itself again until the demo
is complete: training the model (in the task), then registering it with the held-out
comments and starting its audit, then the debiasing run. The audit and the run are
ordinary jobs on the worker (with their heartbeats and the reconciler); while one works,
the build looks again every WAIT_SECONDS. Each step finds what an earlier run finished
(audits/demo.py is idempotent), so a build cut short by a restart simply goes on. The home page shows the build's stage and
progress (`demo_build_status`) and, while the audit or the debiasing run works, theirs.
"""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audits import demo
from audits.errors import BadInput
from audits.models import Audit, DemoBuild, MitigationRun, Organisation
from audits.services.jobs import job_enqueue, job_fail, job_progress

STEPS = ("train", "audit", "debias")
WAIT_SECONDS = 15  # between looks at the demo's audit or debiasing run while the worker runs it


class BuildProgress:
    """What audits/demo.py reports, written to the build's row for the home page."""

    def __init__(self, build_id: int):
        self.build_id = build_id

    def stage(self, text: str, done: int = 0, total: int = 0) -> None:
        job_progress(job=DemoBuild, job_id=self.build_id, stage=text, done=done, total=total)

    def made(self, *, audit: Audit | None = None, mitigation: MitigationRun | None = None) -> None:
        fields = {"audit": audit} if audit is not None else {"mitigation": mitigation}
        DemoBuild.objects.filter(pk=self.build_id).update(**fields)


def demo_build_current(*, organisation: Organisation) -> DemoBuild | None:
    """The organisation's latest demo build while it is not done (queued, running or failed)."""
    build = DemoBuild.objects.for_org(organisation).select_related("audit", "mitigation").order_by("-pk").first()
    return build if build is not None and build.status != DemoBuild.Status.DONE else None


def demo_build_queue(*, seed: int = 0) -> tuple[DemoBuild | None, dict]:
    """Set up the demo's people now and queue the rest; returns (the build, or None when
    the demo is complete already, and the logins). An unfinished build (a server stopped
    mid-way) is queued again; a failed one is replaced by a new one."""
    people = demo.demo_people_setup()
    organisation = people["organisation"]
    build = DemoBuild.objects.for_org(organisation).filter(seed=seed).order_by("-pk").first()
    if build is not None and build.status == DemoBuild.Status.DONE and build.audit_id and build.mitigation_id:
        return None, people
    with transaction.atomic():
        if build is None or build.status == DemoBuild.Status.FAILED:
            build = DemoBuild.objects.create(organisation=organisation, seed=seed, created_by=people["user"],
                                             stage="waiting for the worker")
        job_enqueue(task="demo_build_task", ids=[build.pk])
    return build, people


def _next_step(build: DemoBuild) -> str | None:
    if not demo.demo_trained(seed=build.seed):
        return "train"
    if build.audit is None or build.audit.status != Audit.Status.DONE:
        return "audit"
    if build.mitigation is None or build.mitigation.status != MitigationRun.Status.DONE:
        return "debias"
    return None


def demo_build_run(*, build_id: int, inline: bool = False) -> DemoBuild:
    """Do the build's next step and queue the build again: at once for the next step, or in
    WAIT_SECONDS while its audit or debiasing run works on the worker. With `inline`
    (tests), every step runs here, the audit and the run too."""
    progress = BuildProgress(build_id)
    while True:
        build = DemoBuild.objects.select_related("organisation", "audit", "mitigation", "created_by").get(pk=build_id)
        if build.is_finished:
            return build
        step = _next_step(build)
        try:
            if step is None:
                DemoBuild.objects.filter(pk=build_id).update(status=DemoBuild.Status.DONE, stage="ready",
                                                             finished_at=timezone.now())
                continue
            DemoBuild.objects.filter(pk=build_id, started_at__isnull=True).update(started_at=timezone.now())
            DemoBuild.objects.filter(pk=build_id).update(status=DemoBuild.Status.RUNNING)
            complete = _run_step(build, step, progress, queued=not inline)
        except Exception as exc:
            job_fail(job=DemoBuild, job_id=build_id, exc=exc)
            continue
        if not inline:
            job_enqueue(task="demo_build_task", ids=[build_id], countdown=0 if complete else WAIT_SECONDS)
            return DemoBuild.objects.get(pk=build_id)


def _run_step(build: DemoBuild, step: str, progress: BuildProgress, *, queued: bool) -> bool:
    """Run or start one step; whether it is complete (a queued audit or run may not be)."""
    if step == "train":
        metrics = demo.demo_train(out_dir=demo.demo_folder(), seed=build.seed, progress=progress)
        DemoBuild.objects.filter(pk=build.pk).update(metrics={k: v for k, v in metrics.items() if k != "recipe"})
        return True
    for job in (build.audit, build.mitigation):
        if job is not None and job.is_finished and job.status != job.Status.DONE:
            # The build's own audit or run ended without a result: the demo stops with why.
            raise BadInput(f"{job._meta.verbose_name.capitalize()} {job.pk} of the demo {job.status}: {job.error}")
    if step == "audit":
        audit = demo.demo_audited(organisation=build.organisation, user=build.created_by, seed=build.seed,
                                  progress=progress, queued=queued)
        return audit.status == Audit.Status.DONE
    run = demo.demo_debiased(audit=build.audit, user=build.created_by, progress=progress, queued=queued)
    return run.status == MitigationRun.Status.DONE


def demo_build_status(*, build: DemoBuild) -> dict:
    """The build's state for the home page: its own stage, or that of the audit or the
    debiasing run it is waiting for, and what to reload on (the audit appearing)."""
    stage, done, total = build.stage, build.progress_done, build.progress_total
    for job in (build.mitigation, build.audit):
        if job is not None and not job.is_finished:
            stage = f"{build.stage}: {job.stage}"
            done, total = job.progress_done, job.progress_total
            break
    return {"status": build.status, "stage": stage, "done": done, "total": total, "error": build.error,
            "reload_key": f"{build.audit_id}-{build.mitigation_id}-{build.status}"}
