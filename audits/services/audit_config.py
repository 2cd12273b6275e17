"""An audit's settings, built in one place from what a person chose in the web form, the
API or the CLI: the dataset's column mapping, the checks, the seed, how many rows to
explain, an optional counterfactual twin and optional compression recipes (with a
training dataset for distillation). audit_config_validate (services/audits.py)
then checks them against the data and the model.

DEFAULT_CHECKS is what runs when a caller names no checks (the API and the CLI allow
that; the API documents it in its schema, the CLI in `--checks`): group fairness, the
check every audit of a classifier with protected groups can answer. The web form asks
for a choice and offers every check ticked; that is its starting selection, not a default.
"""
from __future__ import annotations

from collections.abc import Sequence

from audits.errors import BadInput
from audits.models import Dataset
from audits.services.pairs_mapping import is_pairs_mapping

DEFAULT_CHECKS: tuple[str, ...] = ("group_fairness",)


def audit_config_build(
    *, dataset: Dataset, checks: Sequence[str] | None = None, seed: int = 0, explain: int | None = 0,
    counterfactual_dataset: Dataset | None = None, counterfactual_id_column: str = "", device: str = "auto",
    compress: str | list[str] | None = None, train_dataset: Dataset | None = None,
) -> dict:
    """The settings of an audit of `dataset` (mapped): its mapping plus the choices.
    `checks` empty or None: DEFAULT_CHECKS; ["all"] is resolved when validated. `device`
    "cpu" or "gpu" sends the audit to that class of worker (services/routing.py)."""
    # Sentence pairs have one check of their own (services/lm_probes.py) in place of the default.
    default = ("stereotype_pairs",) if is_pairs_mapping(dataset.mapping) else DEFAULT_CHECKS
    config = {**(dataset.mapping or {}), "checks": list(checks or default), "seed": seed,
              "explain": explain or 0}
    if device and device != "auto":
        config["device"] = device
    if counterfactual_dataset is not None:
        config["counterfactual"] = {"dataset": counterfactual_dataset.pk,
                                    "id_column": counterfactual_id_column or ""}
    if compress:  # compression recipes, checked by audit_config_validate (services/compressions.py)
        config["compress"] = compress
        if train_dataset is not None:
            config["train_dataset"] = train_dataset.pk
    return config


def seed_validate(value) -> int:
    """The audit's seed as given (form, API, CLI, a stored config): a whole number."""
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"The seed must be a whole number, not {value!r}.") from exc
