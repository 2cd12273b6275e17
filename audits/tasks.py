"""Celery tasks: take an id, call a service. Retries live here, logic in services."""
from celery import shared_task
from django.db import OperationalError

from audits.services.audits import audit_run


@shared_task(bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def audit_run_task(self, audit_id: int) -> None:
    audit_run(audit_id=audit_id)
