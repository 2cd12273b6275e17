"""read_table's budgets (decoded bytes, rows, columns, value size, JSON depth) and its
removal of NUL and bidi controls, each refusal naming the file, row and column."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audits.errors import BadInput
from audits.uploads.tables import read_table


def refused(path: Path) -> str:
    with pytest.raises(BadInput) as caught:
        read_table(path, filename=path.name)
    message = str(caught.value)
    assert path.name in message and "\n" not in message
    return message


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- CSV -------------------------------------------------------------------------------------

def test_csv_value_over_the_cell_limit_names_row_and_column(tmp_path, settings):
    settings.MAX_DATASET_CELL_BYTES = 100
    # 40 characters of 3 bytes each: within the csv module's character cap, over the byte cap.
    path = write(tmp_path, "wide.csv", "text,label\nshort,0\n" + "€" * 40 + ",1\n")
    message = refused(path)
    assert "row 1 (line 3 of the file), column 'text'" in message and "120 bytes" in message


def test_csv_value_past_the_csv_modules_cap_still_names_its_column(tmp_path, settings):
    settings.MAX_DATASET_CELL_BYTES = 100
    path = write(tmp_path, "long.csv", 'label,text\n0,ok\n1,"' + "x" * 500 + '"\n')
    message = refused(path)
    assert "row 1" in message and "column 'text'" in message and "100 bytes per value" in message


def test_csv_header_past_the_cap(tmp_path, settings):
    settings.MAX_DATASET_CELL_BYTES = 10
    assert "the header" in refused(write(tmp_path, "h.csv", "a," + "b" * 50 + "\n1,2\n"))


def test_csv_columns_and_decoded_bytes(tmp_path, settings):
    settings.MAX_DATASET_COLUMNS = 3
    assert "4 columns; the limit is 3" in refused(write(tmp_path, "c.csv", "a,b,c,d\n1,2,3,4\n"))
    settings.MAX_DATASET_COLUMNS = 10
    settings.MAX_DATASET_DECODED_BYTES = 200
    message = refused(write(tmp_path, "d.csv", "a,b\n" + "xxxxxxxxxx,1\n" * 30))
    assert "decodes to more than 200 bytes" in message and "row " in message


# --- JSONL -----------------------------------------------------------------------------------

def test_jsonl_nested_past_the_recursion_limit_is_refused_by_name(tmp_path, settings):
    deep = "[" * 200_000 + "]" * 200_000
    path = write(tmp_path, "deep.jsonl", '{"text": "fine", "label": 1}\n{"text": "x", "meta": ' + deep + "}\n")
    message = refused(path)
    assert "row 1 (line 2 of the file), column 'meta'" in message
    assert f"{settings.MAX_DATASET_JSON_DEPTH} levels" in message


def test_jsonl_depth_ignores_brackets_inside_strings(tmp_path, settings):
    settings.MAX_DATASET_JSON_DEPTH = 3
    brackets = "[{" * 50
    frame = read_table(write(tmp_path, "s.jsonl", json.dumps({"text": brackets, "v": [[1]]}) + "\n"),
                       filename="s.jsonl")
    assert frame["text"].tolist() == [brackets]
    assert "column 'v'" in refused(write(tmp_path, "n.jsonl", json.dumps({"text": "a", "v": [[[1]]]}) + "\n"))


def test_jsonl_unterminated_strings_are_one_pass(tmp_path, settings):
    settings.MAX_DATASET_JSON_DEPTH = 2
    line = '{"a": [[[' + '\\"' * 50_000 + "\n"
    assert "nested more than 2 levels" in refused(write(tmp_path, "u.jsonl", line))


def test_jsonl_huge_integer_value_cells_and_columns(tmp_path, settings):
    message = refused(write(tmp_path, "i.jsonl", '{"n": ' + "9" * 5000 + "}\n"))
    assert "row 0 (line 1 of the file) holds a number of more than 4,300 digits" in message
    settings.MAX_DATASET_CELL_BYTES = 50
    message = refused(write(tmp_path, "c.jsonl", '{"a": "x"}\n{"a": "y", "b": "' + "z" * 60 + '"}\n'))
    assert "row 1 (line 2 of the file), column 'b'" in message
    settings.MAX_DATASET_COLUMNS = 2
    rows = "".join(json.dumps({f"k{i}": 1}) + "\n" for i in range(3))
    assert "3 columns; the limit is 2" in refused(write(tmp_path, "k.jsonl", rows))


# --- Parquet ---------------------------------------------------------------------------------

def test_parquet_dictionary_bomb_refused_before_it_is_expanded(tmp_path, settings):
    settings.MAX_DATASET_DECODED_BYTES = 5 * 1024**2
    value = "x" * 1000
    pd.DataFrame({"text": [value] * 50_000, "label": [0, 1] * 25_000}).to_parquet(
        tmp_path / "bomb.parquet", compression="zstd")
    assert (tmp_path / "bomb.parquet").stat().st_size < 100_000  # 50 MB of text in a few kB
    message = refused(tmp_path / "bomb.parquet")
    # The first batch of 4,096 rows counts 4,096 x 1,008 bytes of text (the value and a cell's
    # slot) and 4,096 x 16 of labels (an int64 and a slot): 4,194,304. The remaining
    # 1,048,576 bytes last 1,040 rows of the second batch's text: row 4,096 + 1,040.
    assert "decodes to more than 5,242,880 bytes (the limit), reached at row 5136, column 'text'" in message


def test_parquet_footer_checked_before_reading(tmp_path, settings, monkeypatch):
    table = pa.table({"text": ["a" * 100] * 1000})
    pq.write_table(table, tmp_path / "f.parquet", use_dictionary=False)
    settings.MAX_DATASET_DECODED_BYTES = 50_000

    def never(*args, **kwargs):
        raise AssertionError("decoded although the footer is over the budget")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", never)
    assert "decodes to more than 50,000 bytes (the limit), reached at row group 0 (rows 0 to 999)" in refused(
        tmp_path / "f.parquet")


def test_parquet_cell_columns_and_nesting(tmp_path, settings):
    settings.MAX_DATASET_CELL_BYTES = 10
    pd.DataFrame({"text": ["ok", "far too long a value"], "label": [0, 1]}).to_parquet(tmp_path / "c.parquet")
    assert "row 1, column 'text' holds a value of 20 bytes" in refused(tmp_path / "c.parquet")
    settings.MAX_DATASET_COLUMNS = 2
    pd.DataFrame({"a": [1], "b": [2], "c": [3]}).to_parquet(tmp_path / "w.parquet", index=False)
    assert "3 columns; the limit is 2" in refused(tmp_path / "w.parquet")
    settings.MAX_DATASET_JSON_DEPTH = 2
    pq.write_table(pa.table({"v": [[[1]]]}), tmp_path / "n.parquet")
    assert "column 'v' is nested more than 2 levels" in refused(tmp_path / "n.parquet")


def test_parquet_categorical_and_text_read_as_before(tmp_path):
    original = pd.DataFrame({"text": ["a", "b", "a"], "group": pd.Categorical(["x", "y", "x"]), "n": [1, 2, 3]})
    original.to_parquet(tmp_path / "d.parquet", index=False)
    frame = read_table(tmp_path / "d.parquet", filename="d.parquet")
    assert frame["text"].tolist() == ["a", "b", "a"] and frame["group"].astype(str).tolist() == ["x", "y", "x"]


# --- control characters ----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_nul_and_bidi_removed_with_a_warning(tmp_path, suffix):
    frame = pd.DataFrame({"text": ["plain", "a\x00b", "x\u202eevil\u202c", "both\x00\u2066"], "label": [0, 1, 0, 1]})
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    warnings: list[str] = []
    read = read_table(path, filename=path.name, warnings=warnings)
    assert read["text"].tolist() == ["plain", "ab", "xevil", "both"]
    assert warnings == [
        "column 'text': NUL characters removed from 2 rows (0-based data rows 1, 3).",
        "column 'text': bidirectional override characters (U+202A-U+202E, U+2066-U+2069) removed from "
        "2 rows (0-based data rows 2, 3).",
    ]


def test_control_characters_in_column_names(tmp_path):
    warnings: list[str] = []
    frame = read_table(write(tmp_path, "n.csv", "te\u202ext,label\nhi,0\n"), filename="n.csv", warnings=warnings)
    assert list(frame.columns) == ["text", "label"] and "column name" in warnings[0]
    assert "appears more than once" in refused(write(tmp_path, "d.csv", "a\x00,a\nhi,0\n"))


@pytest.mark.django_db
def test_upload_keeps_the_warnings_and_the_mapping_page_shows_them(client_in, org, user):
    from django.core.files.base import ContentFile
    from django.urls import reverse

    from audits.services.datasets import dataset_upload

    upload = ContentFile("text,label\nfine,0\nsly\u202etxet,1\n".encode(), name="d\u202e.csv")
    dataset = dataset_upload(organisation=org, user=user, name="d", uploaded_file=upload)
    assert dataset.warnings == ["column 'text': bidirectional override characters (U+202A-U+202E, "
                                "U+2066-U+2069) removed from 1 row (0-based data row 1)."]
    page = client_in.get(reverse("audits:dataset_map", args=[dataset.pk])).content.decode()
    assert "removed from 1 row (0-based data row 1)" in page
