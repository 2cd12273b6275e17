"""The device a worker runs models on: settings.MODEL_DEVICE ("cpu", "cuda", "cuda:N").

Each worker process has one; GPU workers listen on their own Celery queue (see
audits.services.routing), so a model is placed once, at load, and every input follows it.
"""
from __future__ import annotations

import re

import torch
from django.conf import settings

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


class DeviceError(RuntimeError):
    """The configured device is malformed or absent on this machine."""


def worker_device() -> torch.device:
    """settings.MODEL_DEVICE, checked against what this machine has."""
    name = str(settings.MODEL_DEVICE).strip().lower()
    if not _DEVICE.match(name):
        raise DeviceError(f"MODEL_DEVICE is {settings.MODEL_DEVICE!r}; use cpu, cuda or cuda:N.")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"MODEL_DEVICE is {name!r} but this worker has no CUDA device.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"MODEL_DEVICE is {name!r} but this worker has {torch.cuda.device_count()} CUDA device(s)."
            )
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """Where the model's weights are: its inputs must be moved there."""
    for param in model.parameters():
        return param.device
    return torch.device("cpu")
