"""Celery worker hooks: when a worker starts, one round of the reconciler.

A worker that comes back after a crash, a deploy or a broker restart thereby sends
again the jobs the broker lost, without waiting for the periodic round
(`manage.py reconcile`). It runs in the worker's main process, before any task; its
database connection is closed after it, so no pool process inherits it.
"""
from __future__ import annotations

import logging

from celery.signals import worker_ready
from django.db import connections

log = logging.getLogger(__name__)


@worker_ready.connect(dispatch_uid="audits.reconcile_at_worker_start")
def _reconcile_at_start(**kwargs) -> None:
    from audits.services.reconcile import jobs_reconcile

    try:
        jobs_reconcile()
    except Exception:  # noqa: BLE001 - the periodic round tries again; the worker must start
        log.exception("reconciler round at worker start failed")
    finally:
        connections.close_all()
