"""An audit's inputs: its data joined with its model's predictions, and the checks' context.

A leaf of the audit services: the run, the explanation chunks, the report stage and
debiasing runs all read an audit through here, and it imports none of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings

import runtime
from audits.checks import CheckContext
from audits.identity import lexicon_for
from audits.models import Audit
from audits.services.columns import value_strings
from audits.services.datasets import dataset_frame, dataset_groups, labels_match
from audits.services.mapping_extras import annotator_frame
from audits.services.model_uploads import model_local_folder
from audits.services.predictions import predictions_cached
from audits.services.twins import twin_texts


@dataclass
class AuditInputs:
    """An audit's data joined with its model's predictions: what every check reads."""

    frame: pd.DataFrame
    groups: pd.DataFrame
    privileged: dict[str, list[str]]
    probs: np.ndarray
    favourable_id: int
    label_to_id: dict[str, int]
    id2label: dict[str, str]
    loaded: runtime.LoadedModel


def audit_inputs(*, audit: Audit, progress=None) -> AuditInputs:
    """Read the audit's dataset, its groups and the model's (cached) predictions for every row."""
    config = audit.config
    frame = dataset_frame(dataset=audit.dataset)
    labels = value_strings(frame[config["label_column"]])
    label_to_id = labels_match(label_values=sorted(labels.unique()), id2label=audit.model.labels)
    groups, privileged = dataset_groups(
        frame=frame, mapping=config, lexicon=lexicon_for(audit.organisation)
    )
    loaded = runtime.load_model(model_local_folder(model=audit.model))
    texts = frame[config["text_column"]].astype(str).tolist()
    probs = predictions_cached(
        model=audit.model, dataset=audit.dataset, loaded=loaded, texts=texts, progress=progress
    )
    return AuditInputs(
        frame=frame, groups=groups, privileged=privileged, probs=probs,
        favourable_id=label_to_id[str(config["favorable_label"])],
        label_to_id=label_to_id, id2label=audit.model.labels, loaded=loaded,
    )


def check_context(*, audit: Audit, inputs: AuditInputs, policy: dict, resamples: int) -> CheckContext:
    """What every check reads, from the audit's inputs and configuration."""
    config = audit.config
    labels = value_strings(inputs.frame[config["label_column"]])
    predicted = inputs.probs.argmax(axis=1)
    return CheckContext(
        y_true=(labels == str(config["favorable_label"])).to_numpy(),
        y_pred=predicted == inputs.favourable_id,
        prob=inputs.probs[:, inputs.favourable_id],
        groups=inputs.groups,
        privileged=inputs.privileged,
        policy=policy,
        seed=int(config["seed"]),
        resamples=resamples,
        # Groups under this size are carried as too small to judge (the mapping accepts them).
        min_group_rows=settings.MIN_GROUP_ROWS,
        texts=inputs.frame[config["text_column"]].astype(str).tolist(),
        annotators=annotator_frame(frame=inputs.frame, mapping=config),
        reference_shares=config.get("reference_shares") or None,
        lexicon=lexicon_for(audit.organisation),
        predict=favourable_predictor(inputs.loaded, inputs.favourable_id),
        counterfactual_texts=(
            twin_texts(dataset=audit.dataset, frame=inputs.frame, spec=config["counterfactual"],
                       text_column=config["text_column"]) if config.get("counterfactual") else None
        ),
    )


def favourable_predictor(loaded: runtime.LoadedModel, favourable_id: int):
    """Probability of the favourable label for new texts (counterfactual variants)."""

    def predict(texts: list[str]) -> np.ndarray:
        return runtime.predict_proba(loaded, texts)[:, favourable_id]

    return predict


def predictions_frame(*, audit: Audit, inputs: AuditInputs) -> pd.DataFrame:
    """The rows of predictions.csv: `row` is the 0-based row of the uploaded file."""
    config = audit.config
    id_to_label = {v: k for k, v in inputs.label_to_id.items()}
    predicted = inputs.probs.argmax(axis=1)
    frame = pd.DataFrame({
        "row": np.arange(len(inputs.frame)),
        "label": value_strings(inputs.frame[config["label_column"]]).to_numpy(),
        "prediction": [id_to_label.get(int(i), inputs.id2label.get(str(int(i)), str(i))) for i in predicted],
        "probability": inputs.probs[:, inputs.favourable_id],
    })
    for column in inputs.groups.columns:
        frame[column] = inputs.groups[column].to_numpy()
    return frame
