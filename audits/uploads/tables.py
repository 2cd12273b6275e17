"""Read an uploaded data table (CSV, JSONL, Parquet) into a pandas DataFrame, or refuse it.

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
import io
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from audits.errors import BadInput

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_CHUNK = 1024 * 1024
# The csv module refuses fields over 128 KiB by default; a long document is a
# legitimate text field, and the byte cap already bounds the size.
csv.field_size_limit(2**31 - 1)


def table_format(filename: str) -> str:
    """The format ("csv", "jsonl", "parquet") named by the file's extension."""
    suffix = Path(filename).suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise BadInput(f"{filename}: unknown file type {suffix or '(no extension)'!r}; use one of {known}.")
    return FORMATS[suffix]


def read_table(path: Path, *, filename: str) -> pd.DataFrame:
    """The table in `path`, read according to `filename`'s extension."""
    fmt = table_format(filename)
    size = path.stat().st_size
    if size == 0:
        raise BadInput(f"{filename}: the file is empty.")
    if size > settings.MAX_DATASET_BYTES:
        raise BadInput(
            f"{filename}: the file is {size:,} bytes; the limit is {settings.MAX_DATASET_BYTES:,} bytes."
        )
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[fmt]
    frame = reader(path, filename)
    if len(frame) == 0:
        raise BadInput(f"{filename}: the file has no data rows.")
    return _storable(frame)


def _check_columns(names: list, filename: str) -> None:
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        text = "" if name is None else str(name)
        if not text.strip():
            raise BadInput(f"{filename}: column {position} has no name; every column needs one.")
        if text in seen:
            raise BadInput(f"{filename}: the column name {text!r} appears more than once.")
        seen.add(text)


def _too_many_rows(filename: str) -> BadInput:
    return BadInput(f"{filename}: the file has more than {settings.MAX_DATASET_ROWS:,} data rows (the limit).")


# --- CSV ---------------------------------------------------------------------------------

def _read_csv(path: Path, filename: str) -> pd.DataFrame:
    _check_utf8(path, filename)
    _check_csv_shape(path, filename)
    # Only an empty field is missing: a comment reading "NA" or "null" is text.
    return pd.read_csv(
        path, encoding="utf-8-sig", keep_default_na=False, na_values=[""], low_memory=False
    )


def _check_utf8(path: Path, filename: str) -> None:
    """Decode the whole file in chunks; name the row, line and byte of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes held back from the previous chunk.
                offset = consumed - pending + exc.start
                raise BadInput(_decode_message(path, filename, offset)) from None
            if not chunk:
                return
            consumed += len(chunk)


def _decode_message(path: Path, filename: str, offset: int) -> str:
    with path.open("rb") as handle:
        prefix = handle.read(offset).decode("utf-8-sig")
    line = prefix.count("\n") + 1
    where = f"line {line} of the file"
    try:
        # Records rather than lines: a quoted field may span several lines. The
        # sentinel makes the record holding the bad byte the last one read.
        records = sum(1 for record in csv.reader(io.StringIO(prefix + "x")) if record)
    except csv.Error:
        records = 0
    if records == 1:
        where = f"the header ({where})"
    elif records > 1:
        where = f"row {records - 2} ({where})"
    return (
        f"{filename}: {where} has a byte that is not UTF-8 (byte offset {offset}); "
        "save the file as UTF-8 and upload it again."
    )


def _check_csv_shape(path: Path, filename: str) -> None:
    """Header names, ragged rows and the row cap, before pandas (which pads short rows silently)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            while header == []:  # blank lines before the header, as pandas skips them
                header = next(reader, None)
            if header is None:
                raise BadInput(f"{filename}: the file has no header and no rows.")
            _check_columns(header, filename)
            row = -1
            for record in reader:
                if not record:
                    continue
                row += 1
                if row >= settings.MAX_DATASET_ROWS:
                    raise _too_many_rows(filename)
                if len(record) != len(header):
                    raise BadInput(
                        f"{filename}: row {row} (line {reader.line_num} of the file) has "
                        f"{len(record)} fields; the header has {len(header)}."
                    )
        except csv.Error as exc:
            raise BadInput(f"{filename}: line {reader.line_num} of the file is not valid CSV: {exc}.") from None


# --- JSONL -------------------------------------------------------------------------------

def _read_jsonl(path: Path, filename: str) -> pd.DataFrame:
    records: list[dict] = []
    with path.open("rb") as handle:
        offset = 0
        for line_no, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
                raw, start = raw[len(codecs.BOM_UTF8):], start + len(codecs.BOM_UTF8)
            where = f"row {len(records)} (line {line_no} of the file)"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadInput(
                    f"{filename}: {where} has a byte that is not UTF-8 (byte offset {start + exc.start}); "
                    "save the file as UTF-8 and upload it again."
                ) from None
            if not text.strip():
                continue
            if len(records) >= settings.MAX_DATASET_ROWS:
                raise _too_many_rows(filename)
            try:
                value = json.loads(text, object_pairs_hook=_unique_keys)
            except _DuplicateKey as exc:
                raise BadInput(f"{filename}: {where} names the field {exc.args[0]!r} twice.") from None
            except json.JSONDecodeError as exc:
                raise BadInput(f"{filename}: line {line_no} of the file is not valid JSON: {exc.msg}.") from None
            if not isinstance(value, dict):
                raise BadInput(
                    f"{filename}: line {line_no} of the file holds a JSON {type(value).__name__}; "
                    "each line must be one JSON object."
                )
            _check_columns(list(value), filename)
            records.append(value)
    if not records:
        raise BadInput(f"{filename}: the file has no data rows.")
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        # Nested values are kept as their JSON text: the platform reads plain values only.
        if frame[column].map(lambda v: isinstance(v, dict | list)).any():
            frame[column] = frame[column].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
    return frame


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


# --- Parquet -----------------------------------------------------------------------------

def _read_parquet(path: Path, filename: str) -> pd.DataFrame:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{filename}: not a readable Parquet file ({exc}).") from None
    # The footer knows the row count, so an oversized table is refused before it is read.
    if parquet.metadata.num_rows > settings.MAX_DATASET_ROWS:
        raise _too_many_rows(filename)
    _check_columns(parquet.schema_arrow.names, filename)
    try:
        table = parquet.read()
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{filename}: the Parquet data cannot be read ({exc}).") from None
    frame = table.to_pandas()
    # A pandas index saved in the file comes back as the index: a named one is data
    # (an id column), an unnamed one a leftover; rows are counted from 0 either way.
    named = [name for name in frame.index.names if name is not None]
    try:
        frame = frame.reset_index(level=named) if named else frame
    except ValueError:
        raise BadInput(f"{filename}: the index {named!r} has the name of a column; rename one of them.") from None
    frame = frame.reset_index(drop=True)
    _check_columns(list(frame.columns), filename)
    return frame


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
