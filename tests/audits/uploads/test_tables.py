"""read_table: each format read right, and each bad file refused with a message that names the place."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from audits.errors import BadInput
from audits.uploads.tables import read_table, table_format

WIKI = Path("/work/shared/data/wiki_toxicity.csv")


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def refused(path: Path, filename: str | None = None) -> str:
    with pytest.raises(BadInput) as caught:
        read_table(path, filename=filename or path.name)
    return str(caught.value)


# --- CSV -------------------------------------------------------------------------------------

def test_csv_types_and_missing_values(tmp_path):
    path = write(tmp_path, "d.csv", "text,label,score\nhello,True,1\nNA,False,\n\"multi\nline\",True,3\n")
    frame = read_table(path, filename="d.csv")
    assert list(frame.columns) == ["text", "label", "score"]
    assert frame["text"].tolist() == ["hello", "NA", "multi\nline"]  # "NA" is text, not missing
    assert frame["label"].dtype == bool
    assert frame["score"].isna().tolist() == [False, True, False]


def test_csv_with_bom(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbftext,label\nhi,1\n")
    assert list(read_table(path, filename="bom.csv").columns) == ["text", "label"]


def test_real_wiki_csv():
    frame = read_table(WIKI, filename="wiki_toxicity.csv")
    assert frame.shape == (1492, 3)
    assert int(frame["toxic"].sum()) == 248


def test_csv_bad_byte_names_row_line_and_offset(tmp_path):
    # UTF-8 ("café") with one byte that is not: broken UTF-8, not a single-byte encoding.
    content = b"text,label\ncaf\xc3\xa9,0\n\"two\nlines\",1\nbad \xff here,0\n"
    path = write(tmp_path, "latin.csv", content)
    message = refused(path)
    assert "latin.csv" in message
    assert "row 2 (line 5 of the file)" in message
    offset = content.index(b"\xff")
    assert f"byte offset {offset}" in message


def test_csv_bad_byte_in_header(tmp_path):
    message = refused(write(tmp_path, "h.csv", b"te\xe9xt,label\nx\xc3\xa9,1\n"))
    assert "the header (line 1 of the file)" in message


def test_csv_single_byte_encodings_and_separators_are_guessed(tmp_path):
    reading: dict = {}
    text = "text;label;note\ncafé crème;1;a, b\nnaïve € price;0;c\n"
    frame = read_table(write(tmp_path, "semi.csv", text.encode("cp1252")), filename="semi.csv", reading=reading)
    assert reading == {"encoding": "cp1252", "delimiter": ";"}
    assert frame["text"].tolist() == ["café crème", "naïve € price"] and frame["note"].tolist() == ["a, b", "c"]
    # 0x81 is not a Windows-1252 character: Latin-1 reads every byte.
    latin = "text\tlabel\nÀ bientôt\t1\nok\t0\n".encode("latin-1") + b"x\x81y\t1\n"
    frame = read_table(write(tmp_path, "tab.tsv", latin), filename="tab.tsv", reading=reading)
    assert reading == {"encoding": "latin-1", "delimiter": "\t"} and frame["text"].iloc[0] == "À bientôt"
    frame = read_table(write(tmp_path, "pipe.csv", "text|label\nhello, world|1\n"), filename="pipe.csv",
                       reading=reading)
    assert reading == {"encoding": "utf-8", "delimiter": "|"} and frame["text"].tolist() == ["hello, world"]
    # Commas stay the separator when a semicolon only appears inside the text.
    frame = read_table(write(tmp_path, "c.csv", "text,label\nsee; here,1\nfine,0\n"), filename="c.csv",
                       reading=reading)
    assert reading["delimiter"] == "," and frame.shape == (2, 2)


def test_csv_bad_byte_across_chunk_boundary(tmp_path):
    # The incremental decoder holds back a partial character; the offset must still be exact.
    head = b"text\n" + b"a" * (1024 * 1024 - 7) + b"\n"  # 1 MiB less one byte: the read size
    content = head + b"\xc3\xa9\xff\n"  # "é" split across the two reads, then a bad byte
    message = refused(write(tmp_path, "big.csv", content))
    assert f"byte offset {len(head) + 2}" in message
    assert "row 1 (line 3 of the file)" in message


def test_csv_ragged_rows_named(tmp_path):
    long_row = refused(write(tmp_path, "r1.csv", "a,b\n1,2\n3,4,5\n"))
    assert "row 1 (line 3 of the file) has 3 fields; the header has 2" in long_row
    short_row = refused(write(tmp_path, "r2.csv", "a,b\n1,2\n3,4\n5\n"))
    assert "row 2 (line 4 of the file) has 1 fields" in short_row


def test_csv_duplicate_and_empty_column_names(tmp_path):
    assert "'a' appears more than once" in refused(write(tmp_path, "dup.csv", "a,b,a\n1,2,3\n"))
    assert "column 2 has no name" in refused(write(tmp_path, "empty.csv", "a, ,c\n1,2,3\n"))


def test_csv_empty_and_header_only(tmp_path):
    assert "is empty" in refused(write(tmp_path, "e.csv", b""))
    assert "no data rows" in refused(write(tmp_path, "h.csv", "a,b\n"))
    assert "no header" in refused(write(tmp_path, "blank.csv", "\n\n"))


def test_caps_on_rows_and_bytes(tmp_path, settings):
    settings.MAX_DATASET_ROWS = 2
    assert "more than 2 data rows" in refused(write(tmp_path, "many.csv", "a\n1\n2\n3\n"))
    assert read_table(write(tmp_path, "two.csv", "a\n1\n2\n"), filename="two.csv").shape == (2, 1)
    settings.MAX_DATASET_BYTES = 10
    assert "the limit is 10 bytes" in refused(write(tmp_path, "big.csv", "a\n1\n2\n3\n4\n5\n"))


def test_unknown_extension(tmp_path):
    assert "unknown file type '.xlsx'" in refused(write(tmp_path, "d.xlsx", "a\n1\n"))
    assert "(no extension)" in refused(write(tmp_path, "data", "a\n1\n"))
    assert table_format("X.PARQUET") == "parquet"


# --- JSONL -----------------------------------------------------------------------------------

def test_jsonl_good(tmp_path):
    lines = [{"text": "a", "label": 1}, {"text": "b", "label": 0, "extra": {"k": 1}}]
    path = write(tmp_path, "d.jsonl", "\ufeff" + "\n".join(json.dumps(x) for x in lines) + "\n\n")
    frame = read_table(path, filename="d.jsonl")
    assert frame["text"].tolist() == ["a", "b"]
    assert frame["label"].tolist() == [1, 0]
    assert frame["extra"].iloc[1] == '{"k": 1}'  # nested values kept as JSON text


def test_jsonl_bad_line_named(tmp_path):
    message = refused(write(tmp_path, "d.jsonl", '{"a": 1}\n\n{"a": 2,}\n'))
    assert "line 3 of the file is not valid JSON" in message
    assert "d.jsonl" in message


def test_jsonl_not_an_object_and_duplicate_key(tmp_path):
    assert "line 2 of the file holds a JSON list" in refused(write(tmp_path, "l.jsonl", '{"a": 1}\n[1, 2]\n'))
    message = refused(write(tmp_path, "k.jsonl", '{"a": 1}\n{"a": 1, "a": 2}\n'))
    assert "row 1 (line 2 of the file) names the field 'a' twice" in message


def test_jsonl_bad_byte(tmp_path):
    message = refused(write(tmp_path, "b.jsonl", b'{"a": "x"}\n{"a": "\xff"}\n'))
    assert "row 1 (line 2 of the file)" in message
    assert "byte offset 18" in message


def test_jsonl_mixed_types_become_text(tmp_path):
    frame = read_table(write(tmp_path, "m.jsonl", '{"v": 1}\n{"v": "x"}\n{"v": null}\n'), filename="m.jsonl")
    assert frame["v"].tolist()[:2] == ["1", "x"]
    assert frame["v"].isna().tolist() == [False, False, True]
    frame.to_parquet(tmp_path / "out.parquet")  # storable


# --- Parquet ---------------------------------------------------------------------------------

def test_parquet_roundtrip(tmp_path):
    original = pd.DataFrame(
        {"text": ["a", "b", None], "label": [True, False, True], "group": ["x", "y", "x"], "n": [1.5, 2.0, None]}
    )
    original.to_parquet(tmp_path / "d.parquet", index=False)
    frame = read_table(tmp_path / "d.parquet", filename="d.parquet")
    pd.testing.assert_frame_equal(frame, original, check_dtype=False)


def test_parquet_row_cap_and_garbage(tmp_path, settings):
    pd.DataFrame({"a": range(5)}).to_parquet(tmp_path / "d.parquet")
    settings.MAX_DATASET_ROWS = 4
    assert "more than 4 data rows" in refused(tmp_path / "d.parquet")
    assert "not a readable Parquet file" in refused(write(tmp_path, "junk.parquet", b"not parquet at all"))


def test_parquet_named_index_kept_as_column(tmp_path):
    pd.DataFrame({"a": [1, 2], "rev_id": [10, 20]}).set_index("rev_id").to_parquet(tmp_path / "i.parquet")
    frame = read_table(tmp_path / "i.parquet", filename="i.parquet")
    assert frame["rev_id"].tolist() == [10, 20]
    assert list(frame.index) == [0, 1]
