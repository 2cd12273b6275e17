"""Celery tasks: take an id, call a service. Retries live here, logic in services.

A task in a worker asks its service to beat for its job (audits.services.job_claims);
an eager one, run in-process inside a caller's transaction, does not."""
from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from audits.services.audits import audit_run
from audits.services.demo_builds import demo_build_run
from audits.services.explain_chunks import explain_chunk_run
from audits.services.mitigations import mitigation_run
from audits.services.signoffs import signoff_run


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def audit_run_task(self, audit_id: int) -> None:
    audit_run(audit_id=audit_id, heartbeat=not self.request.is_eager)


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def explain_chunk_task(self, chunk_id: int) -> None:
    explain_chunk_run(chunk_id=chunk_id, heartbeat=not self.request.is_eager)


# The run stops itself at MITIGATION_TIME_LIMIT (any pool); the soft limit is the
# backstop for the stages after training, and the hard limit for a stuck process.
@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=settings.MITIGATION_TIME_LIMIT + 60, time_limit=settings.MITIGATION_TIME_LIMIT + 120)
def mitigation_run_task(self, run_id: int) -> None:
    mitigation_run(run_id=run_id, heartbeat=not self.request.is_eager)


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def signoff_run_task(self, signoff_id: int) -> None:
    signoff_run(signoff_id=signoff_id, heartbeat=not self.request.is_eager)


# One step of the demo per task; training, the longest, may take DEMO_TRAIN_TIME_LIMIT.
@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3,
             soft_time_limit=settings.DEMO_TRAIN_TIME_LIMIT, time_limit=settings.DEMO_TRAIN_TIME_LIMIT + 60)
def demo_build_task(self, build_id: int) -> None:
    demo_build_run(build_id=build_id)
