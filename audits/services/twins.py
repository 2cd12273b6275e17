"""Counterfactual twins: a second dataset with the same rows, identity terms swapped.

Rows meet by an id column (as wiki_toxicity_fuzzed.csv meets wiki_toxicity.csv by
rev_id); the twin's text for each row of the audited dataset, or None without a twin.
"""
from __future__ import annotations

import pandas as pd

from audits.errors import BadInput
from audits.models import Dataset


def twin_validate(*, dataset: Dataset, frame: pd.DataFrame, spec: dict, text_column: str) -> dict:
    from audits.services.datasets import dataset_frame

    twin = Dataset.objects.filter(organisation=dataset.organisation, pk=spec.get("dataset")).first()
    if twin is None:
        raise BadInput("The counterfactual twin dataset is not one of your organisation's datasets.")
    id_column = str(spec.get("id_column") or "")
    twin_frame = dataset_frame(dataset=twin)
    for name, table in ((dataset.original_filename, frame), (twin.original_filename, twin_frame)):
        if id_column not in table.columns:
            raise BadInput(f"{name}: the id column {id_column!r} is not in the file.")
        duplicated = table[id_column].duplicated()
        if duplicated.any():
            raise BadInput(f"{name}: the id column {id_column!r} repeats values, e.g. {table[id_column][duplicated].iloc[0]!r}.")
    if text_column not in twin_frame.columns:
        raise BadInput(f"{twin.original_filename}: the text column {text_column!r} is not in the twin.")
    return {"dataset": twin.pk, "id_column": id_column}


def twin_texts(*, dataset: Dataset, frame: pd.DataFrame, spec: dict, text_column: str) -> list[str | None]:
    from audits.services.datasets import dataset_frame

    twin = Dataset.objects.get(organisation=dataset.organisation, pk=spec["dataset"])
    twin_frame = dataset_frame(dataset=twin)
    key = spec["id_column"]
    lookup = dict(zip(twin_frame[key].astype(str), twin_frame[text_column], strict=True))
    return [lookup.get(str(k)) for k in frame[key]]
