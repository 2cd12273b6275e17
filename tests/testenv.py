"""Test-only environment, loaded as a pytest plugin (-p) before Django reads settings."""
import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
os.environ.setdefault("VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
