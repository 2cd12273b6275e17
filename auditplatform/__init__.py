"""auditplatform: fairness and explainability audits of small language models."""
import os

# Before torch loads (libgomp reads it once): OpenMP threads that spin between operations
# take the core their partner thread needs when the machine is shared (a worker beside the
# web server, two worker processes on two cores). Measured on 2 shared cores: a forward
# pass's CPU per token halved and its wall time 2-2.5x shorter with PASSIVE (bench/audit_10k.py).
# An operator who owns the cores may set OMP_WAIT_POLICY=ACTIVE in the environment.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .celery import app as celery_app  # noqa: E402

__version__ = "0.1.0"
__all__ = ["celery_app", "__version__"]
