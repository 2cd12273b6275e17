"""Read an uploaded data table (CSV, JSONL, Parquet) into a pandas DataFrame, or refuse it.

Reading stays within the budget of audits.uploads.table_budget (decoded bytes, rows,
columns, value size, JSON depth), counted while the file is read; NUL and bidi controls
are removed from text, with a warning (audits.uploads.table_text). A CSV file's encoding
and separator are guessed first (audits.uploads.csv_sniff).

Every refusal is a BadInput whose message names the file and, where there is one, the
place: "row N (line M of the file)", where `row` is the 0-based data row (the header
is not a row), the numbering the rest of the platform uses (predictions.csv), and
`line` the 1-based line a text editor shows.
The frame returned can always be written to Parquet: columns holding a mix of types
are turned into text, so storing the normalised copy never fails half-way.
"""
from __future__ import annotations

import codecs
import csv
import json
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
from django.conf import settings

from audits.errors import BadInput
from audits.uploads.csv_sniff import Reading, sniff_csv
from audits.uploads.parquet import read_parquet
from audits.uploads.table_budget import (
    Budget,
    check_columns,
    json_depth_check,
    text_bytes,
    too_many_rows,
    where,
)
from audits.uploads.table_text import clean_cells, clean_names

FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def table_format(filename: str) -> str:
    """The format ("csv", "jsonl", "parquet") named by the file's extension."""
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise BadInput(f"{filename}: unknown file type {suffix or '(no extension)'!r}; use one of {known}.")
    return FORMATS[suffix]


def read_table(path: Path, *, filename: str, warnings: list[str] | None = None,
               reading: dict | None = None) -> pd.DataFrame:
    """The table in `path`, read according to `filename`'s extension; what was changed
    on the way (control characters removed) is appended to `warnings`, and how a CSV
    file was read (its guessed encoding and separator) is put in `reading`."""
    fmt = table_format(filename)
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{filename}: the file is empty.")
    if size > settings.MAX_DATASET_BYTES:
        raise BadInput(
            f"{filename}: the file is {size:,} bytes; the limit is {settings.MAX_DATASET_BYTES:,} bytes."
        )
    reading = reading if reading is not None else {}
    frame = _read_csv(path, filename, reading) if fmt == "csv" else (
        _read_jsonl(path, filename) if fmt == "jsonl" else read_parquet(path, filename))
    if len(frame) == 0:
        raise BadInput(f"{filename}: the file has no data rows.")
    warnings = warnings if warnings is not None else []
    frame.columns = clean_names(list(frame.columns), warnings)
    check_columns(list(frame.columns), filename)  # names may coincide once cleaned
    return _storable(clean_cells(frame, warnings))


# --- CSV ---------------------------------------------------------------------------------

def _read_csv(path: Path, filename: str, reading: dict) -> pd.DataFrame:
    guess = sniff_csv(path, filename)
    reading.update(guess.as_dict())
    _check_csv_shape(path, filename, guess)
    # Only an empty field is missing: a comment reading "NA" or "null" is text.
    return pd.read_csv(
        path, encoding=guess.encoding, sep=guess.delimiter, keep_default_na=False, na_values=[""],
        low_memory=False,
    )


def _check_csv_shape(path: Path, filename: str, guess: Reading) -> None:
    """Header names, ragged rows, the row cap and the budget, before pandas (which pads
    short rows silently and would read a field of any size)."""
    # The csv module's cap counts characters, so a value within the byte cap is always
    # read; the exact check, in bytes, is the budget's.
    csv.field_size_limit(settings.MAX_DATASET_CELL_BYTES + 1)
    budget = Budget(filename)
    header: list[str] = []
    row = -1
    with path.open(encoding=guess.encoding, newline="") as handle:
        lines = _RecordLines(handle)
        reader = csv.reader(lines, delimiter=guess.delimiter)
        try:
            header = next(reader, None)
            while header == []:  # blank lines before the header, as pandas skips them
                header = next(reader, None)
            if header is None:
                raise BadInput(f"{filename}: the file has no header and no rows.")
            check_columns(header, filename)
            lines.record_read()
            for record in reader:
                lines.record_read()
                if not record:
                    continue
                row += 1
                if row >= settings.MAX_DATASET_ROWS:
                    raise too_many_rows(filename)
                if len(record) != len(header):
                    raise BadInput(
                        f"{filename}: row {row} (line {reader.line_num} of the file) has "
                        f"{len(record)} fields; the header has {len(header)}."
                    )
                budget.texts(record, header, row=row, line=reader.line_num)
        except csv.Error as exc:
            if "field limit" not in str(exc):
                raise BadInput(f"{filename}: line {reader.line_num} of the file is not valid CSV: {exc}.") from None
            index = _overlong_field("".join(lines.current), settings.MAX_DATASET_CELL_BYTES, guess.delimiter)
            names = header or []
            column = f", column {names[index]!r}" if index is not None and index < len(names) else ""
            place = where(row + 1, reader.line_num) if names else f"the header (line {reader.line_num} of the file)"
            raise BadInput(f"{filename}: {place}{column} holds a value over the limit of "
                           f"{settings.MAX_DATASET_CELL_BYTES:,} bytes per value.") from None


class _RecordLines:
    """The file's lines for csv.reader, keeping those of the record being read, so that a
    refusal in the middle of a record can still say which column was too long."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.current: list[str] = []

    def __iter__(self):
        for line in self.handle:
            self.current.append(line)
            yield line

    def record_read(self) -> None:
        self.current = []


def _overlong_field(text: str, cap: int, delimiter: str = ",") -> int | None:
    """The 0-based field of a CSV record's start whose text runs past `cap` characters."""
    index, length, quoted = 0, 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
            continue
        if char == delimiter and not quoted:
            index, length = index + 1, 0
            continue
        if char in "\r\n" and not quoted:  # blank lines before the record
            index, length = 0, 0
            continue
        length += 1
        if length > cap:
            return index
    return None


# --- JSONL -------------------------------------------------------------------------------

def _read_jsonl(path: Path, filename: str) -> pd.DataFrame:
    records: list[dict] = []
    names: dict[str, None] = {}  # every field seen, in order: the columns
    budget = Budget(filename)
    with path.open("rb") as handle:
        offset = 0
        for line_no, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, start = raw[len(codecs.BOM_UTF8):], start + len(codecs.BOM_UTF8)
            if not raw.strip():
                continue
            if len(records) >= settings.MAX_DATASET_ROWS:
                raise too_many_rows(filename)
            value = _jsonl_record(raw, start, filename=filename, row=len(records), line=line_no)
            check_columns(list(value), filename)
            names.update(dict.fromkeys(value))
            if len(names) > settings.MAX_DATASET_COLUMNS:
                check_columns(list(names), filename)
            _count_values(value, raw, budget, row=len(records), line=line_no)
            records.append(value)
    if not records:
        raise BadInput(f"{filename}: the file has no data rows.")
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        # Nested values are kept as their JSON text: the platform reads plain values only.
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
    return frame


def _jsonl_record(raw: bytes, start: int, *, filename: str, row: int, line: int) -> dict:
    """One line's object; its depth is checked before it is parsed, so the parser
    never recurses past the limit."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{filename}: {where(row, line)} has a byte that is not UTF-8 (byte offset {start + exc.start}); "
            "save the file as UTF-8 and upload it again."
        ) from None
    json_depth_check(raw, filename=filename, row=row, line=line)
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise BadInput(f"{filename}: {where(row, line)} names the field {exc.args[0]!r} twice.") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{filename}: line {line} of the file is not valid JSON: {exc.msg}.") from None
    except ValueError as exc:
        if "digits" in str(exc):  # an integer longer than Python converts (sys.get_int_max_str_digits)
            raise BadInput(f"{filename}: {where(row, line)} holds a number of more than "
                           f"{sys.get_int_max_str_digits():,} digits; store it as text.") from None
        raise BadInput(f"{filename}: line {line} of the file cannot be read: {exc}.") from None
    if not isinstance(value, dict):
        raise BadInput(
            f"{filename}: line {line} of the file holds a JSON {type(value).__name__}; "
            "each line must be one JSON object."
        )
    return value


def _count_values(value: dict, raw: bytes, budget: Budget, *, row: int, line: int) -> None:
    """The record's size against the budget; each value's only when the line is long
    enough for one to be over the limit (a value is never longer than its line)."""
    if len(raw) > budget.cell_limit:
        for name, item in value.items():
            text = json.dumps(item) if isinstance(item, dict | list) else item
            if isinstance(text, str):
                budget.cell(text_bytes(text), row=row, column=name, line=line)
    budget.add(len(raw), row=row, line=line)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


# --- normalisation -----------------------------------------------------------------------

def _storable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every column Arrow can store; a column of mixed types becomes text."""
    frame.columns = [str(c) for c in frame.columns]
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        try:
            pa.array(frame[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            frame[column] = frame[column].map(lambda v: v if _missing(v) else str(v)).astype("str")
    return frame


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)
