"""Fault injection for the integration tests, never part of the application.

Python imports this module at start-up in every process the integration tests start
with this folder on PYTHONPATH; it acts only in Celery pool processes, and only with
FAULT_DIR set. FAULT_PLAN lists "seed:stage:seconds" entries: the first time a pool
process reaches `stage` of an audit whose seed is `seed`, it writes its pid to
FAULT_DIR/<audit id>-<stage>.pid and sleeps `seconds`, still beating for its job, so a
test can kill it there, or hold the stage open while it stops the broker. Stages:
predict, checks and report (an audit's progress writes) and explain (a chunk's rows).
"""
import os

if os.environ.get("FAULT_DIR"):
    from celery.signals import worker_process_init

    @worker_process_init.connect(weak=False)
    def _install_faults(**kwargs):
        import sys
        import time
        from pathlib import Path

        import audits.services.explain_chunks as chunks
        import audits.services.jobs as jobs
        from audits.models import Audit

        plan = {}
        for item in filter(None, os.environ.get("FAULT_PLAN", "").split(",")):
            seed, stage, seconds = item.split(":")
            plan[(int(seed), stage)] = float(seconds)
        folder = Path(os.environ["FAULT_DIR"])

        def pause(audit_id, stage):
            config = Audit.objects.filter(pk=audit_id).values_list("config", flat=True).first() or {}
            seconds = plan.get((int(config.get("seed", -1)), stage))
            if seconds is None:
                return
            try:  # once per audit and stage, in whichever process gets there first
                marker = os.open(folder / f"{audit_id}-{stage}.pid", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.write(marker, str(os.getpid()).encode())
            os.close(marker)
            time.sleep(seconds)

        real_progress, real_explain = jobs.job_progress, chunks._explain

        def job_progress(*, job, job_id, stage, done=0, total=0):
            real_progress(job=job, job_id=job_id, stage=stage, done=done, total=total)
            if job is Audit and done == 0:
                pause(job_id, stage)

        def explain(chunk):
            pause(chunk.audit_id, "explain")
            return real_explain(chunk)

        for name, module in list(sys.modules.items()):
            if name.startswith("audits.") and getattr(module, "job_progress", None) is real_progress:
                module.job_progress = job_progress
        chunks._explain = explain
