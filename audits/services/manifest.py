"""The audit manifest: what a report's figures depend on, hashed into the report."""
from __future__ import annotations

from importlib import metadata

import auditplatform
from audits.models import Audit
from audits.services.model_prompts import model_prompt

LIBRARIES = ("torch", "transformers", "tokenizers", "aif360", "numpy", "pandas", "scikit-learn", "django")


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def audit_manifest(*, audit: Audit, policy: dict) -> dict:
    manifest = {
        "model_sha256": audit.model.sha256,
        "dataset_sha256": audit.dataset.sha256,
        "config": audit.config,
        "policy": {"name": policy["name"], "version": policy["version"], "thresholds": policy["thresholds"]},
        "libraries": library_versions(),
        "platform_version": auditplatform.__version__,
    }
    prompt = model_prompt(model=audit.model)
    if prompt is not None:
        # Already covered by model_sha256 (prompt.json is one of the model's files); spelt
        # out so a reader of the report sees which prompt the figures are about.
        manifest["model_prompt"] = prompt
    return manifest
