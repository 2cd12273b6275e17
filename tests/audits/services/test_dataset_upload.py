"""Dataset services: upload and storage, preview, column mapping and its messages, groups, labels."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from audits.errors import BadInput
from audits.identity import default_lexicon
from audits.models import Dataset
from audits.services.columns import value_strings
from audits.services.datasets import (
    dataset_frame,
    dataset_groups,
    dataset_map,
    dataset_preview,
    dataset_upload,
    labels_match,
    mapping_validate,
)

WIKI = Path("/work/shared/data/wiki_toxicity.csv")


def stored_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(org, user, name: str, content: bytes) -> Dataset:
    return dataset_upload(organisation=org, user=user, name="Wiki", uploaded_file=SimpleUploadedFile(name, content))


# --- upload --------------------------------------------------------------------------------

def test_upload_stores_parquet_hash_and_row(org, user, settings):
    content = WIKI.read_bytes()
    dataset = upload(org, user, "wiki_toxicity.csv", content)
    assert dataset.sha256 == hashlib.sha256(content).hexdigest()
    assert (dataset.rows, dataset.file_format, dataset.original_filename) == (1492, "csv", "wiki_toxicity.csv")
    assert dataset.columns == [
        {"name": "rev_id", "dtype": "int64"}, {"name": "comment", "dtype": "str"}, {"name": "toxic", "dtype": "bool"}
    ]
    assert dataset.parquet_path == f"datasets/{dataset.uid}.parquet"
    assert default_storage.exists(dataset.parquet_path)
    assert stored_files(settings) == [Path(settings.MEDIA_ROOT) / dataset.parquet_path]
    assert Dataset.objects.for_org(org).get() == dataset
    frame = dataset_frame(dataset=dataset)
    pd.testing.assert_frame_equal(frame, pd.read_csv(WIKI), check_dtype=False)


def test_upload_jsonl_and_name_default(org, user):
    dataset = dataset_upload(
        organisation=org, user=user, name="  ",
        uploaded_file=SimpleUploadedFile("d.jsonl", b'{"t": "a", "y": 1}\n{"t": "b", "y": 0}\n'),
    )
    assert (dataset.name, dataset.file_format, dataset.rows) == ("d.jsonl", "jsonl", 2)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("bad.csv", b"a,b\n1,2\n3\n", "row 1 (line 3 of the file)"),
        ("bad.csv", b"a,b\n1,2,3\n", "row 0 (line 2 of the file)"),
        ("bad.xlsx", b"a\n1\n", "unknown file type"),
        ("empty.csv", b"", "is empty"),
    ],
)
def test_failed_upload_leaves_nothing(org, user, settings, name, content, fragment):
    with pytest.raises(BadInput, match=name.replace(".", r"\.")) as caught:
        upload(org, user, name, content)
    assert fragment in str(caught.value)
    assert Dataset.objects.count() == 0
    assert stored_files(settings) == []


def test_failure_after_storing_removes_the_file(org, user, settings, monkeypatch):
    def broken_create(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Dataset.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        upload(org, user, "wiki.csv", WIKI.read_bytes())
    assert stored_files(settings) == []


def test_size_cap_counts_received_bytes(org, user, settings):
    settings.MAX_DATASET_BYTES = 100
    with pytest.raises(BadInput, match="limit of 100 bytes|the limit is 100 bytes"):
        upload(org, user, "big.csv", b"a\n" + b"1\n" * 100)
    assert Dataset.objects.count() == 0
    assert stored_files(settings) == []


def test_preview_values_are_strings(org, user):
    dataset = upload(org, user, "d.csv", b"text,label,score\n<b>hi</b>,True,1.5\nx,False,\n")
    preview = dataset_preview(dataset=dataset, rows=5)
    assert [c["name"] for c in preview["columns"]] == ["text", "label", "score"]
    assert preview["rows"] == [["<b>hi</b>", "True", "1.5"], ["x", "False", ""]]
    assert preview["total_rows"] == 2
    assert len(dataset_preview(dataset=dataset, rows=1)["rows"]) == 1


# --- mapping -------------------------------------------------------------------------------

def frame_for_mapping(n: int = 30) -> pd.DataFrame:
    return pd.DataFrame({
        "text": [f"comment {i} by a gay person" if i % 3 == 0 else f"comment {i}" for i in range(n)],
        "label": [i % 2 == 0 for i in range(n)],
        "group": ["a" if i < n // 2 else "b" for i in range(n)],
        "score": [float(i) for i in range(n)],
    })


GOOD = {"text_column": "text", "label_column": "label", "favorable_label": "False", "protected": {"group": ["a"]}}


def validate(frame: pd.DataFrame, **changes) -> dict:
    return mapping_validate(frame=frame, mapping={**GOOD, **changes}, filename="d.csv", lexicon=default_lexicon())


def refused(frame: pd.DataFrame, **changes) -> str:
    with pytest.raises(BadInput) as caught:
        validate(frame, **changes)
    message = str(caught.value)
    assert message.startswith("d.csv: ")
    return message


def test_mapping_normalised():
    mapping = validate(frame_for_mapping(), favorable_label=False, protected={"group": "a"}, identity_terms="on")
    assert mapping == {
        "text_column": "text", "label_column": "label", "favorable_label": "False",
        "protected": {"group": ["a"]}, "identity_terms": True, "annotator_columns": [], "reference_shares": {},
    }
    assert validate(frame_for_mapping(), favorable_label="true")["favorable_label"] == "True"


def test_mapping_errors_name_column_and_rows():
    frame = frame_for_mapping()
    assert "no column 'body' (for the text column)" in refused(frame, text_column="body")
    assert "'score' holds float64 values, not text" in refused(frame, text_column="score")
    assert "cannot be both" in refused(frame, label_column="text")

    blank = frame.copy()
    blank.loc[[2, 7], "text"] = ["   ", None]
    assert "column 'text' has no text in 2 rows (0-based data rows 2, 7)" in refused(blank)

    unlabelled = frame.copy()
    unlabelled["label"] = unlabelled["label"].astype(object)
    unlabelled.loc[list(range(3, 10)), "label"] = None
    message = refused(unlabelled)
    assert "column 'label' has no label in 7 rows (0-based data rows 3, 4, 5, 6, 7 and 2 more)" in message

    single = frame.assign(label=True)
    assert "column 'label' has only one label ('True')" in refused(single)
    assert "favourable label 'maybe' is not a value of column 'label'; its values are" in refused(
        frame, favorable_label="maybe"
    )
    assert "choose at least one protected column" in refused(frame, protected={})


def test_mapping_protected_errors():
    frame = frame_for_mapping()
    assert "no column 'gender' (for the protected column)" in refused(frame, protected={"gender": ["f"]})
    message = refused(frame, protected={"group": ["c"]})
    assert "privileged value 'c' is not in column 'group'; its values are 'a', 'b'" in message
    assert "choose the privileged value of column 'group'" in refused(frame, protected={"group": []})
    assert "every value of column 'group' is privileged" in refused(frame, protected={"group": ["a", "b"]})



def test_mapping_accepts_small_groups_the_checks_carry_as_too_small():
    frame = frame_for_mapping()
    frame.loc[:2, "group"] = "c"
    frame.loc[[4, 20], "group"] = None
    assert validate(frame)["protected"] == {"group": ["a"]}


def test_mapping_identity_terms_without_mentions():
    frame = frame_for_mapping().assign(text=[f"plain comment {i}" for i in range(30)])
    message = refused(frame, protected={}, identity_terms=True)
    assert "no text in column 'text' mentions any of the 50 identity terms" in message


def test_dataset_map_saves_normalised_mapping(org, user):
    dataset = upload(org, user, "wiki.csv", WIKI.read_bytes())
    dataset_map(
        dataset=dataset,
        mapping={"text_column": "comment", "label_column": "toxic", "favorable_label": "false", "identity_terms": True},
    )
    dataset.refresh_from_db()
    assert dataset.mapping == {
        "text_column": "comment", "label_column": "toxic", "favorable_label": "False",
        "protected": {}, "identity_terms": True, "annotator_columns": [], "reference_shares": {},
    }


# --- groups and labels ---------------------------------------------------------------------

def test_dataset_groups_with_columns_and_identity_terms():
    frame = frame_for_mapping(40)
    frame.loc[:9, "group"] = None  # ten rows without a value: enough to be a group of their own
    mapping = validate(frame, protected={"group": ["a"]}, identity_terms=True)
    groups, privileged = dataset_groups(frame=frame, mapping=mapping, lexicon=default_lexicon())
    # Only "sexuality" varies ("gay" or "none"); the other categories are "none" everywhere.
    assert list(groups.columns) == ["group", "sexuality"]
    assert privileged == {"group": ["a"], "sexuality": ["none"]}
    assert groups.loc[0, "group"] == "(missing)"
    assert set(groups["sexuality"]) == {"gay", "none"}
    assert groups.attrs["identity_attributes"] == ["sexuality"]


def test_dataset_groups_name_clash_and_real_data():
    frame = pd.read_csv(WIKI)
    frame["religion"] = ["x" if i % 2 else "y" for i in range(len(frame))]
    mapping = mapping_validate(
        frame=frame, filename="wiki.csv", lexicon=default_lexicon(),
        mapping={"text_column": "comment", "label_column": "toxic", "favorable_label": "False",
                 "protected": {"religion": ["x"]}, "identity_terms": True},
    )
    groups, privileged = dataset_groups(frame=frame, mapping=mapping, lexicon=default_lexicon())
    assert "religion_terms" in groups.columns and privileged["religion_terms"] == ["none"]
    assert (groups["religion_terms"] == "jewish").sum() > 100
    assert all(pd.api.types.is_string_dtype(groups[c]) for c in groups.columns)


def test_value_strings():
    assert value_strings(pd.Series([1.0, 0.0, None])).tolist() == ["1", "0", "(missing)"]
    assert value_strings(pd.Series([0.5, 1.0])).tolist() == ["0.5", "1.0"]
    assert value_strings(pd.Series([True, False])).tolist() == ["True", "False"]


def test_labels_match_by_name_and_id():
    assert labels_match(label_values=["False", "True"], id2label={"0": "False", "1": "True"}) == {"False": 0, "True": 1}
    assert labels_match(label_values=["true", "false"], id2label={"0": "FALSE", "1": "TRUE"}) == {"true": 1, "false": 0}
    assert labels_match(label_values=["0", "1"], id2label={"0": "LABEL_0", "1": "LABEL_1"}) == {"0": 0, "1": 1}
    assert labels_match(label_values=["pos"], id2label={0: "neg", 1: "pos"}) == {"pos": 1}


def test_labels_match_failure_names_labels():
    with pytest.raises(BadInput) as caught:
        labels_match(label_values=["True", "False", "maybe"], id2label={"0": "False", "1": "True"})
    message = str(caught.value)
    assert "cannot produce the dataset label 'maybe'" in message
    assert "its labels are 0: 'False', 1: 'True'" in message
    with pytest.raises(BadInput, match="'True', 'False'"):
        labels_match(label_values=["True", "False"], id2label={"0": "LABEL_0", "1": "LABEL_1"})
