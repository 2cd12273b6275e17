"""Which Celery queue runs an audit: GPU workers take large models, CPU workers the rest.

A worker serves the queues it is started with and runs models on its MODEL_DEVICE
(runtime.device): CPU workers on the default queue, GPU workers with
`MODEL_DEVICE=cuda celery -A auditplatform worker -Q gpu`. An audit goes to the GPU
queue when its model has more than GPU_MIN_PARAMETERS parameters (0, the default, means
no GPU workers: everything stays on the default queue), unless the audit names its
device class ("cpu" or "gpu"); its explanation chunks follow it.
"""
from __future__ import annotations

from django.conf import settings

from audits.errors import BadInput
from audits.models import ModelArtifact

DEVICE_CHOICES = ("auto", "cpu", "gpu")


def device_choice_validate(value: object) -> str:
    """An audit's device choice: "auto" (by parameter count), "cpu" or "gpu"."""
    choice = "auto" if value in (None, "") else str(value).strip().lower()
    if choice not in DEVICE_CHOICES:
        raise BadInput(f"The device must be one of {', '.join(DEVICE_CHOICES)}, not {value!r}.")
    return choice


def audit_queue(*, model: ModelArtifact, device: str = "auto") -> str:
    """The queue for a job that runs `model`: the audit's choice, else by its size."""
    if device == "gpu":
        return settings.GPU_QUEUE
    if device == "cpu":
        return settings.CELERY_TASK_DEFAULT_QUEUE
    threshold = settings.GPU_MIN_PARAMETERS
    if threshold > 0 and (model.num_parameters or 0) > threshold:
        return settings.GPU_QUEUE
    return settings.CELERY_TASK_DEFAULT_QUEUE
