"""Registry of checks. Each check is a module with one entry point `run(ctx)`.

A check reads the audit's cached predictions from the context (it never loads a
model) and returns one result per protected attribute in the report.json shape.
"""
from __future__ import annotations

from .context import MIN_GROUP_ROWS, CheckContext
from .registry import REGISTRY, CheckFn, register

__all__ = ["MIN_GROUP_ROWS", "REGISTRY", "CheckContext", "CheckFn", "available_checks", "get_check", "register"]


def available_checks() -> list[str]:
    _load_all()
    return sorted(REGISTRY)


def get_check(check_id: str) -> CheckFn:
    _load_all()
    return REGISTRY[check_id]


def _load_all() -> None:
    # Imported here so that registering a check is a matter of adding its module.
    from . import (  # noqa: F401
        automation_bias,
        counterfactual,
        group_fairness,
        labelling_bias,
        proxy_leakage,
        sampling_bias,
        stereotype_pairs,
        subgroup_auc,
    )
