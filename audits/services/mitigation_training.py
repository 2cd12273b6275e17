"""A debiasing run's training dataset: any uploaded dataset read with the audit's mapping.

The run trains on these rows only and measures every figure on all of the audit's rows,
which it never trains on. The dataset must carry the audit's text, label and protected
columns (the same names), labels the model knows, and the attribute being debiased; a
mismatch is refused with a message naming the file and the column.
"""
from __future__ import annotations

import numpy as np

from audits.errors import BadInput
from audits.identity import lexicon_for
from audits.models import Audit, Dataset
from audits.services.columns import value_strings
from audits.services.datasets import dataset_frame, dataset_groups, labels_match, mapping_validate

# The parts of an audit's configuration that say how a dataset is read.
MAPPING_KEYS = ("text_column", "label_column", "favorable_label", "protected", "identity_terms")


def training_mapping(audit: Audit) -> dict:
    return {key: audit.config[key] for key in MAPPING_KEYS if key in audit.config}


def training_dataset_check(*, audit: Audit, dataset: Dataset, attribute: str) -> None:
    """BadInput unless `dataset` can train a run of `audit` for `attribute`."""
    mitigation_training_data(audit=audit, dataset=dataset, attribute=attribute)


def mitigation_training_data(*, audit: Audit, dataset: Dataset, attribute: str) -> dict:
    """{"texts", "labels", "group", "privileged"} of the training dataset, read as the audit
    reads its own rows (mitigation_compute's train_data)."""
    if dataset.organisation_id != audit.organisation_id:
        raise BadInput("The training dataset is not your organisation's data.")
    if dataset.pk == audit.dataset_id:
        raise BadInput(f"{dataset.original_filename} is the audit's own dataset; the training dataset must be"
                       " another one (the audit's rows are where the figures are measured).")
    name = dataset.original_filename
    frame = dataset_frame(dataset=dataset)
    mapping = training_mapping(audit)
    lexicon = lexicon_for(audit.organisation)
    # Names the file and the column at fault: a missing column, a text column without text...
    mapping_validate(frame=frame, mapping=mapping, filename=name, lexicon=lexicon)
    labels = value_strings(frame[mapping["label_column"]])
    try:
        label_to_id = labels_match(label_values=sorted(labels.unique()), id2label=audit.model.labels)
    except BadInput as exc:
        raise BadInput(f"{name}: column {mapping['label_column']!r}: {exc}") from exc
    groups, privileged = dataset_groups(frame=frame, mapping=mapping, lexicon=lexicon)
    if attribute not in groups.columns:
        raise BadInput(f"{name}: the attribute {attribute!r} is not among its protected attributes "
                       f"({', '.join(map(str, groups.columns)) or 'none'}); it needs the audit's column "
                       f"{attribute!r} or texts with its identity terms.")
    group = groups[attribute].astype(str)
    chosen = privileged.get(attribute, [])
    mask = group.isin(chosen).to_numpy(dtype=bool)
    if mask.all() or not mask.any():
        raise BadInput(f"{name}: column {attribute!r} needs both privileged ({', '.join(chosen)}) and other rows "
                       "to train against.")
    return {
        "texts": frame[mapping["text_column"]].astype(str).tolist(),
        "labels": labels.map(label_to_id).to_numpy(dtype=np.int64),
        "group": group.to_numpy(dtype=object),
        "privileged": mask,
        "filename": name,
    }
