"""The command line's contract for bad input: one line on stderr, no traceback, no path
of the server's own folders, nothing stored (see `manage.py audit`).

`all_or_nothing` runs a block of work in one database transaction and, if anything in
it raises, rolls it back and deletes the files its models, datasets and audits wrote.
`one_line` makes any message safe to print: control and bidi characters escaped (a file
name may hold them), our own folders (temporary uploads, media, model cache) hidden,
bounded in length. `quiet` keeps library logging and warnings off stderr.
"""
from __future__ import annotations

import logging
import re
import tempfile
import unicodedata
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction

from audits.services.cleanup import StoredDuring, stored_files_discard

MAX_LINE = 2000
_PATH_CHARS = r"[^\s'\"()\[\],;]*"


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """Commit the block's rows only if it finishes; otherwise remove its rows and files."""
    stored = StoredDuring()
    try:
        with stored, transaction.atomic():
            yield
    except BaseException:
        stored_files_discard(objects=stored.objects)
        raise


@contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """No logging and no Python warnings while the block runs (they would print to stderr)."""
    if not enabled:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def one_line(message: str, *, user_paths: list[str] = ()) -> str:
    """`message` as one printable line: server folders hidden (paths the user gave are
    kept), control characters (line breaks among them) and bidi characters escaped."""
    text = _hide_server_paths(str(message), [p for p in user_paths if p])
    text = "".join(_visible(char) for char in text)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


def _visible(char: str) -> str:
    # Cc: controls (NUL, ESC, ...); Cf: formats, bidi overrides among them; Zl/Zp: separators.
    if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def _server_roots() -> list[str]:
    roots = [settings.MEDIA_ROOT, settings.MODEL_CACHE_DIR, getattr(settings, "VAR_DIR", None),
             settings.FILE_UPLOAD_TEMP_DIR, tempfile.gettempdir()]
    return sorted({str(r).rstrip("/") for r in roots if r and str(r).strip("/")}, key=len, reverse=True)


def _hide_server_paths(text: str, user_paths: list[str]) -> str:
    # The user's own paths are set aside first (they may hold spaces, or lie under /tmp).
    kept = sorted(set(user_paths), key=len, reverse=True)
    for index, path in enumerate(kept):
        text = text.replace(path, f"\ue000{index}\ue001")
    for root in _server_roots():
        text = re.sub(re.escape(root) + r"(?=/|\b)" + _PATH_CHARS, "<server folder>", text)
    for index, path in enumerate(kept):
        text = text.replace(f"\ue000{index}\ue001", path)
    return text
