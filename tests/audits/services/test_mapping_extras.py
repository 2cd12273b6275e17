"""Annotator columns, reference shares and counterfactual twins in the mapping."""
from __future__ import annotations

import pandas as pd
import pytest
from django.core.files.base import ContentFile

from audits.errors import BadInput
from audits.identity import default_lexicon
from audits.services.datasets import dataset_upload, mapping_validate
from audits.services.mapping_extras import annotator_frame, parse_reference_lines
from audits.services.twins import twin_texts, twin_validate

FRAME = pd.DataFrame({
    "text": [f"text {i}" for i in range(40)], "label": [i % 2 for i in range(40)],
    "sex": ["m", "f"] * 20, "a1": [i % 2 for i in range(40)], "a2": [None] + [1] * 39,
})
BASE = {"text_column": "text", "label_column": "label", "favorable_label": "1", "protected": {"sex": ["m"]}}


def _validate(**extra):
    return mapping_validate(frame=FRAME, mapping={**BASE, **extra}, filename="f.csv", lexicon=default_lexicon())


def test_annotators_and_shares_are_normalised():
    mapping = _validate(annotator_columns=["a1", "a2"], reference_shares={"sex": {"m": "49", "f": "51"}})
    assert mapping["annotator_columns"] == ["a1", "a2"]
    assert mapping["reference_shares"] == {"sex": {"m": pytest.approx(0.49), "f": pytest.approx(0.51)}}
    annotators = annotator_frame(frame=FRAME, mapping=mapping)
    assert annotators["a2"].iloc[0] is None and annotators["a2"].iloc[1] == "1"


@pytest.mark.parametrize(("extra", "fragment"), [
    ({"annotator_columns": ["a1"]}, "at least two"),
    ({"annotator_columns": ["a1", "zz"]}, "'zz'"),
    ({"annotator_columns": ["a1", "label"]}, "already mapped"),
    ({"reference_shares": {"age": {"old": 1}}}, "'age'"),
    ({"reference_shares": {"sex": {"m": -1, "f": 2}}}, "positive"),
])
def test_bad_extras_are_named(extra, fragment):
    with pytest.raises(BadInput, match=fragment):
        _validate(**extra)


def test_reference_lines():
    assert parse_reference_lines("sex,m,0.5\n\nsex,f,0.5") == {"sex": {"m": "0.5", "f": "0.5"}}
    with pytest.raises(BadInput, match="line 1"):
        parse_reference_lines("sex=m")


def _upload(org, name, frame):
    return dataset_upload(organisation=org, user=None, name=name,
                          uploaded_file=ContentFile(frame.to_csv(index=False).encode(), name=name))


def test_twins_align_by_id(org, other_org):
    original = pd.DataFrame({"rev_id": [3, 1, 2], "text": ["a gay man", "hi", "a muslim"], "label": [1, 0, 1]})
    fuzzed = pd.DataFrame({"rev_id": [1, 2, 3], "text": ["hi", "a jewish", "a straight man"], "label": [0, 1, 1]})
    ds, twin = _upload(org, "o.csv", original), _upload(org, "t.csv", fuzzed)
    spec = twin_validate(dataset=ds, frame=original, spec={"dataset": twin.pk, "id_column": "rev_id"},
                         text_column="text")
    assert twin_texts(dataset=ds, frame=original, spec=spec, text_column="text") == [
        "a straight man", "hi", "a jewish"]
    with pytest.raises(BadInput, match="id column 'nope'"):
        twin_validate(dataset=ds, frame=original, spec={"dataset": twin.pk, "id_column": "nope"}, text_column="text")
    foreign = _upload(other_org, "x.csv", fuzzed)
    with pytest.raises(BadInput, match="not one of your organisation"):
        twin_validate(dataset=ds, frame=original, spec={"dataset": foreign.pk, "id_column": "rev_id"},
                      text_column="text")
