"""The API lets an audit name its worker class (device): cpu, gpu or auto by model size."""
from __future__ import annotations

import pytest
from django.urls import reverse

from auditplatform.celery import app
from audits.models import Audit
from tests.factories import people_dataset


@pytest.mark.django_db
def test_an_api_audit_can_ask_for_a_gpu_worker(api, org, user, model, settings, monkeypatch,
                                               django_capture_on_commit_callbacks):
    settings.GPU_MIN_PARAMETERS = 0  # by size, the tiny model would stay on the default queue
    sent = []
    monkeypatch.setattr(app.tasks["audits.tasks.audit_run_task"], "apply_async",
                        lambda args, queue=None, **kw: sent.append((args[0], queue)))
    dataset = people_dataset(org, user)
    url = reverse("api:audit-list")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"model": model.pk, "dataset": dataset.pk, "device": "gpu"}, format="json")
    assert response.status_code == 201, response.content
    audit = Audit.objects.get(pk=response.json()["id"])
    assert audit.config["device"] == "gpu" and sent == [(audit.pk, settings.GPU_QUEUE)]
    refused = api.post(url, {"model": model.pk, "dataset": dataset.pk, "device": "tpu"}, format="json")
    assert refused.status_code == 400 and "device" in refused.json()
