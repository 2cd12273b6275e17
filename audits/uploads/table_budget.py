"""Limits on what reading an uploaded table may decode, checked while it is read.

A table that is small on disk can decode to gigabytes (a compressed Parquet column, a
dictionary of one long value repeated), and a deeply nested JSON line makes the parser
recurse. Each reader counts here as it goes and stops at the first limit crossed, with
a message naming the file, the row and the column. The limits come from settings
(environment-driven): MAX_DATASET_DECODED_BYTES, MAX_DATASET_ROWS, MAX_DATASET_COLUMNS,
MAX_DATASET_CELL_BYTES, MAX_DATASET_JSON_DEPTH.
"""
from __future__ import annotations

import json
import re

from django.conf import settings

from audits.errors import BadInput

# Every cell costs at least a slot of this many bytes in the decoded frame, whatever it
# holds, so a table of millions of empty cells is counted too.
CELL_SLOT_BYTES = 8
# A UTF-8 character is at most this many bytes: a text no longer than cap / 4 characters
# cannot be over the cap, and only longer ones need encoding to be measured.
_UTF8_MAX = 4
# One JSON token at a time: a string (an unterminated one runs to the end of the line,
# so a malformed line costs one pass, never one per quote), a bracket, or a colon.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\\n]|\\.)*"?|[\[\]{}:]')


def where(row: int, line: int | None = None) -> str:
    """'row N (line M of the file)': the 0-based data row and the editor's line."""
    return f"row {row}" + (f" (line {line} of the file)" if line is not None else "")


def check_columns(names: list, filename: str) -> None:
    """Every column named, once, and no more columns than the limit."""
    limit = settings.MAX_DATASET_COLUMNS
    if len(names) > limit:
        raise BadInput(f"{filename}: the file has {len(names):,} columns; the limit is {limit:,}.")
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        text = "" if name is None else str(name)
        if not text.strip():
            raise BadInput(f"{filename}: column {position} has no name; every column needs one.")
        if text in seen:
            raise BadInput(f"{filename}: the column name {text!r} appears more than once.")
        seen.add(text)


def too_many_rows(filename: str) -> BadInput:
    return BadInput(f"{filename}: the file has more than {settings.MAX_DATASET_ROWS:,} data rows (the limit).")


def text_bytes(value: str) -> int:
    """The UTF-8 size of a text, encoding it only when its length alone cannot decide."""
    if len(value) * _UTF8_MAX <= settings.MAX_DATASET_CELL_BYTES:
        return len(value)
    return len(value.encode("utf-8", "surrogatepass"))


class Budget:
    """What one read has decoded so far, against the limits of the settings."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.decoded = 0
        self.limit = settings.MAX_DATASET_DECODED_BYTES
        self.cell_limit = settings.MAX_DATASET_CELL_BYTES

    def add(self, size: int, *, row: int, column: str | None = None, line: int | None = None,
            place: str | None = None) -> None:
        """Count `size` decoded bytes read at `row` (and `column`), or at `place` when a
        whole block is counted at once; refuse past the limit."""
        self.decoded += size
        if self.decoded > self.limit:
            at = (place or where(row, line)) + (f", column {column!r}" if column is not None else "")
            raise BadInput(
                f"{self.filename}: the data decodes to more than {self.limit:,} bytes (the limit), "
                f"reached at {at}; upload a smaller table."
            )

    def cell(self, size: int, *, row: int, column: str, line: int | None = None) -> None:
        """Refuse one value over the per-value limit."""
        if size > self.cell_limit:
            raise BadInput(
                f"{self.filename}: {where(row, line)}, column {column!r} holds a value of {size:,} bytes; "
                f"the limit is {self.cell_limit:,} bytes per value."
            )

    def texts(self, values: list, names: list, *, row: int, line: int | None = None) -> None:
        """One record of texts (a CSV row): each value's size, then the record's."""
        longest = max(map(len, values), default=0)
        if longest * _UTF8_MAX > self.cell_limit:
            for name, value in zip(names, values, strict=False):
                self.cell(text_bytes(value), row=row, column=str(name), line=line)
        self.add(sum(map(len, values)) + CELL_SLOT_BYTES * len(values), row=row, line=line)


def json_depth_check(raw: bytes, *, filename: str, row: int, line: int) -> None:
    """Refuse a JSON line nested deeper than the limit, without parsing it recursively.

    A line cannot be deeper than its number of opening brackets, so only lines with
    more of them than the limit are scanned, token by token, tracking the top-level
    field that holds the deepest part so the message can name it.
    """
    limit = settings.MAX_DATASET_JSON_DEPTH
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    depth, field, last_string = 0, None, None
    for match in _JSON_TOKENS.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                column = f", column {field!r}" if field is not None else ""
                raise BadInput(
                    f"{filename}: {where(row, line)}{column} is nested more than {limit} levels deep "
                    "(the limit); flatten the value or store it as text."
                )
        elif token in (b"]", b"}"):
            depth -= 1
        elif token == b":":
            if depth == 1 and last_string is not None:
                field = _key_text(last_string)
        else:
            last_string = token


def _key_text(token: bytes) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token.decode("utf-8", "replace").strip('"')
