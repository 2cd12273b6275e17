"""Audits go to the Celery queue of the worker class that should run their model:
GPU workers for models above GPU_MIN_PARAMETERS, the default queue otherwise, unless
the audit names its device class; its explanation chunks follow it."""
from __future__ import annotations

import pytest

from auditplatform.celery import app
from audits.errors import BadInput
from audits.models import Audit, ModelArtifact
from audits.services.audits import audit_create, audit_run
from audits.services.routing import audit_queue, device_choice_validate
from tests.factories import PEOPLE_MAPPING, people_audit, people_dataset


@pytest.fixture
def gpu_above_1000(settings):
    settings.GPU_MIN_PARAMETERS = 1000
    settings.GPU_QUEUE = "gpu"
    settings.CELERY_TASK_DEFAULT_QUEUE = "celery"


def test_large_models_go_to_the_gpu_queue_unless_the_audit_says_otherwise(gpu_above_1000):
    small, large = ModelArtifact(num_parameters=1000), ModelArtifact(num_parameters=1001)
    assert audit_queue(model=small) == "celery"
    assert audit_queue(model=large) == "gpu"
    assert audit_queue(model=large, device="cpu") == "celery"
    assert audit_queue(model=small, device="gpu") == "gpu"


def test_without_a_threshold_everything_stays_on_the_default_queue(settings):
    settings.GPU_MIN_PARAMETERS = 0
    assert audit_queue(model=ModelArtifact(num_parameters=10**12)) == settings.CELERY_TASK_DEFAULT_QUEUE


def test_device_choice_is_checked():
    assert device_choice_validate(None) == device_choice_validate("") == "auto"
    assert device_choice_validate(" GPU ") == "gpu"
    with pytest.raises(BadInput, match="'tpu'"):
        device_choice_validate("tpu")


@pytest.fixture
def sent(monkeypatch):
    """The (task, id, queue) of every task sent, instead of running it."""
    calls = []
    for name in ("audit_run_task", "explain_chunk_task"):
        task = app.tasks[f"audits.tasks.{name}"]
        monkeypatch.setattr(task, "apply_async",
                            lambda args, queue=None, _name=name, **kw: calls.append((_name, args[0], queue)))
    return calls


def test_audits_are_sent_to_the_queue_their_model_needs(org, user, model, gpu_above_1000, sent,
                                                        django_capture_on_commit_callbacks):
    dataset = people_dataset(org, user)
    assert model.num_parameters > 1000
    def start(**config):
        return audit_create(organisation=org, user=user, model=model, dataset=dataset,
                            config={**PEOPLE_MAPPING, "checks": ["group_fairness"], **config})

    with django_capture_on_commit_callbacks(execute=True):
        big = start()
        pinned = start(device="cpu")
    assert sent == [("audit_run_task", big.pk, "gpu"), ("audit_run_task", pinned.pk, "celery")]
    assert "device" not in big.config and pinned.config["device"] == "cpu"
    with pytest.raises(BadInput, match="device"):
        people_audit(org, user, model, dataset, device="fast")


def test_explanation_chunks_follow_their_audit(org, user, model, gpu_above_1000, sent,
                                               django_capture_on_commit_callbacks):
    audit = people_audit(org, user, model, people_dataset(org, user), explain=2)
    with django_capture_on_commit_callbacks(execute=True):
        audit = audit_run(audit_id=audit.pk, inline=False)
    assert audit.status == Audit.Status.RUNNING
    assert sent and {(name, queue) for name, _, queue in sent} == {("explain_chunk_task", "gpu")}
