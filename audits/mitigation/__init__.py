"""Mitigation: adversarial debiasing, reweighing and threshold post-processing.

Pure computation (no Django models or views): `mitigation_compute` takes the audit's
texts, labels and groups and returns the report's "mitigation" section and, where the
weights changed, a new Hugging Face folder to register.
"""
from .adversarial import MitigationCancelled, projected_update
from .compute import MitigationOutcome, mitigation_compute
from .options import OPTION_DEFAULTS, options_validate

__all__ = ["OPTION_DEFAULTS", "MitigationCancelled", "MitigationOutcome", "mitigation_compute",
           "options_validate", "projected_update"]
