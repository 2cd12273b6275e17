"""The checks by id: each check module registers its entry point here when imported.

Its own module, below the check modules, so that they import it and the package
(which imports them to fill the registry) imports both without a cycle.
"""
from __future__ import annotations

from collections.abc import Callable

from .context import CheckContext

CheckFn = Callable[[CheckContext], list[dict]]
REGISTRY: dict[str, CheckFn] = {}


def register(check_id: str) -> Callable[[CheckFn], CheckFn]:
    def wrap(fn: CheckFn) -> CheckFn:
        REGISTRY[check_id] = fn
        return fn

    return wrap
