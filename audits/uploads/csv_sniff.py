"""How a CSV file is written: its encoding and its separator, guessed from its bytes.

Spreadsheets save "CSV" in many ways: semicolons where the decimal mark is a comma,
tabs, Windows-1252 or Latin-1 instead of UTF-8. The guess is what the preview shows
(Dataset.reading), so a wrong one is seen before any column is mapped.

Encoding: a byte-order mark decides (UTF-8, UTF-16); else UTF-8 when every byte decodes
as UTF-8; else, when the file holds no valid multi-byte UTF-8 sequence at all, a
single-byte encoding: Windows-1252 when every byte is defined there, else Latin-1
(ISO 8859-1). A file that mixes valid UTF-8 with bytes that are not is broken UTF-8 and
is refused, naming the row, the line and the byte offset of the first bad byte.
Separator: of comma, semicolon, tab and pipe, the one that splits the first records
into the same number (more than one) of fields; comma when none does.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from audits.errors import BadInput

SEPARATORS = (",", ";", "\t", "|")
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (with byte-order mark)", "utf-16": "UTF-16",
                  "cp1252": "Windows-1252", "latin-1": "Latin-1 (ISO 8859-1)"}
_SAMPLE = 64 * 1024  # bytes read to guess the separator
_RECORDS = 50  # records compared to guess the separator
_CHUNK = 1024 * 1024
# A lead byte and its continuation bytes: one well-formed multi-byte UTF-8 character.
_UTF8_MULTI = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


@dataclass(frozen=True)
class Reading:
    encoding: str
    delimiter: str

    def as_dict(self) -> dict:
        return {"encoding": self.encoding, "delimiter": self.delimiter}


def reading_text(reading: dict) -> str:
    """The guess in words, for the preview: "Windows-1252, separated by semicolons (;)"."""
    if not reading:
        return ""
    encoding = ENCODING_NAMES.get(reading.get("encoding", ""), reading.get("encoding", ""))
    delimiter = reading.get("delimiter", ",")
    shown = "\\t" if delimiter == "\t" else delimiter
    return f"{encoding}, separated by {SEPARATOR_NAMES.get(delimiter, 'the character')}s ({shown})"


def sniff_csv(path: Path, filename: str) -> Reading:
    encoding = sniff_encoding(path, filename)
    with path.open(encoding=encoding, newline="", errors="replace") as handle:
        sample = handle.read(_SAMPLE)
    return Reading(encoding=encoding, delimiter=sniff_delimiter(sample))


def sniff_encoding(path: Path, filename: str) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _whole_file_decodes(path, filename, "utf-16")
    else:
        encoding = "utf-8"
    bad = _first_undecodable(path, encoding)
    if bad is None:
        return encoding
    data = path.read_bytes()
    if encoding == "utf-8" and not _UTF8_MULTI.search(data):
        return "latin-1" if _CP1252_UNDEFINED.intersection(data) else "cp1252"
    raise BadInput(_decode_message(path, filename, bad))


def _whole_file_decodes(path: Path, filename: str, encoding: str) -> str:
    if (bad := _first_undecodable(path, encoding)) is not None:
        raise BadInput(f"{filename}: the file starts as {ENCODING_NAMES[encoding]} but byte offset {bad} is not; "
                       "save the file as UTF-8 and upload it again.")
    return encoding


def _first_undecodable(path: Path, encoding: str) -> int | None:
    """The byte offset of the first byte that does not decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    consumed = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.start counts from the bytes held back from the previous chunk.
                return consumed - pending + exc.start
            if not chunk:
                return None
            consumed += len(chunk)


def _decode_message(path: Path, filename: str, offset: int) -> str:
    with path.open("rb") as handle:
        prefix = handle.read(offset).decode("utf-8-sig")
    line = prefix.count("\n") + 1
    place = f"line {line} of the file"
    try:
        # Records rather than lines: a quoted field may span several lines. The
        # sentinel makes the record holding the bad byte the last one read.
        records = sum(1 for record in csv.reader(io.StringIO(prefix + "x")) if record)
    except csv.Error:
        records = 0
    if records == 1:
        place = f"the header ({place})"
    elif records > 1:
        place = f"row {records - 2} ({place})"
    return (
        f"{filename}: {place} has a byte that is not UTF-8 (byte offset {offset}), in a file that is "
        "otherwise UTF-8; save the file as UTF-8 and upload it again."
    )


def sniff_delimiter(sample: str) -> str:
    """The separator that splits the sample's records alike; the last record may be cut
    off by the sample's end, so it is not compared."""
    best, best_fields = ",", 1
    for delimiter in SEPARATORS:
        try:
            records = [r for r in _records(sample, delimiter) if r]
        except csv.Error:
            continue
        if not records:
            continue
        fields = len(records[0])
        body = records[1:-1] if len(records) > 2 else records[1:]
        if fields > best_fields and all(len(r) == fields for r in body):
            best, best_fields = delimiter, fields
    return best


def _records(sample: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter)
    out = []
    for record in reader:
        out.append(record)
        if len(out) >= _RECORDS:
            break
    return out
