"""Safe unpacking of an uploaded model archive (.zip, .tar.gz, .tgz) into an empty folder.

An archive is hostile until proven otherwise: entry names can escape the folder, links
can point anywhere, and a few kilobytes can inflate to terabytes. Every entry is checked
before a byte of it is written, and the caps are enforced again while streaming because
sizes in headers are claims, not facts. Entries are written one by one with our own
checks; `extractall` is never used.
"""
from __future__ import annotations

import os
import shutil
import stat
import tarfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from audits.errors import BadInput

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
CHUNK = 1024 * 1024
# Below this size an entry cannot be a meaningful bomb (the file count and total caps
# bound the sum), while tiny JSON files legitimately compress very well.
RATIO_FLOOR_BYTES = 1024 * 1024
MAX_NAME_CHARS = 1024
# Folders and files that operating systems add when zipping; never part of a model.
OS_LITTER_DIRS = {"__MACOSX"}
OS_LITTER_FILES = {".DS_Store", "Thumbs.db"}


@dataclass
class Unpacked:
    files: list[str] = field(default_factory=list)  # relative POSIX names, after flattening
    notes: list[str] = field(default_factory=list)


def is_archive_name(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack_archive(fileobj: BinaryIO, *, name: str, dest: Path) -> Unpacked:
    """Unpack `fileobj` (a seekable binary file whose upload name is `name`) into `dest`.

    `dest` must be empty or absent. On BadInput the caller removes `dest`; nothing
    outside it is ever touched.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"unpack destination {dest} is not empty")
    fileobj.seek(0, os.SEEK_END)
    archive_size = fileobj.tell()
    fileobj.seek(0)
    magic = fileobj.read(4)
    fileobj.seek(0)
    lower = name.lower()
    if lower.endswith(".zip"):
        if magic[:2] != b"PK":
            raise BadInput(f"{name}: not a zip archive")
        unpacker = _ZipUnpacker(fileobj, name, dest, archive_size)
    elif lower.endswith((".tar.gz", ".tgz")):
        if magic[:2] != b"\x1f\x8b":
            raise BadInput(f"{name}: not a gzip-compressed tar archive")
        unpacker = _TarUnpacker(fileobj, name, dest, archive_size)
    else:
        raise BadInput(f"{name}: upload a .zip, .tar.gz or .tgz archive")
    result = unpacker.run()
    if not result.files:
        raise BadInput(f"{name}: the archive contains no files")
    result.files = _flatten_single_top_folder(dest, result.files)
    return result


class _Unpacker:
    def __init__(self, fileobj: BinaryIO, name: str, dest: Path, archive_size: int):
        self.fileobj = fileobj
        self.name = name
        self.dest = dest
        self.archive_size = max(archive_size, 1)
        self.result = Unpacked()
        self.seen: set[str] = set()
        self.file_names: set[str] = set()
        self.dir_names: set[str] = set()
        self.declared_total = 0
        self.written_total = 0
        self.max_files = settings.MAX_MODEL_FILES
        self.max_bytes = settings.MAX_MODEL_UNPACKED_BYTES
        self.max_ratio = settings.MAX_COMPRESSION_RATIO

    def refuse(self, entry: str, why: str) -> BadInput:
        return BadInput(f"{self.name}: entry {entry!r} refused: {why}")

    def clean_name(self, raw: str, *, is_dir: bool) -> list[str] | None:
        """The entry's path components, or None for OS litter that is skipped."""
        if not raw or len(raw) > MAX_NAME_CHARS:
            raise self.refuse(raw[:80], "empty or overlong name")
        if "\\" in raw:
            raise self.refuse(raw, "backslash in name (Windows path tricks are not accepted)")
        if any(ord(c) < 32 or c == "\x7f" for c in raw):
            raise self.refuse(raw, "control character in name")
        if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
            raise self.refuse(raw, "absolute path")
        name = raw[:-1] if raw.endswith("/") else raw
        # `tar -C folder .` writes "./config.json"; a leading "./" is harmless.
        while name.startswith("./"):
            name = name[2:]
        if name in ("", "."):
            if is_dir:
                return None
            raise self.refuse(raw, "empty name")
        parts = name.split("/")
        if any(part == ".." for part in parts):
            raise self.refuse(raw, "'..' path component")
        if any(part in ("", ".") for part in parts):
            raise self.refuse(raw, "empty or '.' path component")
        if raw.endswith("/") and not is_dir:
            raise self.refuse(raw, "file name ends with '/'")
        # Names that differ only in case or Unicode form collide on some filesystems.
        key = unicodedata.normalize("NFC", name).casefold()
        if key in self.seen:
            raise self.refuse(raw, "duplicate name")
        self.seen.add(key)
        if parts[0] in OS_LITTER_DIRS or parts[-1] in OS_LITTER_FILES:
            if not is_dir:
                self.result.notes.append(f"{self.name}: skipped {raw} (operating-system metadata)")
            return None
        return parts

    def check_declared(self, entry: str, size: int, compressed: int | None) -> None:
        if len(self.file_names) >= self.max_files:
            raise self.refuse(entry, f"more than {self.max_files} files in the archive")
        self.declared_total += size
        self.check_amounts(entry, size, compressed, self.declared_total)

    def check_amounts(self, entry: str, size: int, compressed: int | None, total: int) -> None:
        """Caps on one entry's and the archive's unpacked bytes, and their ratios."""
        if size > self.max_bytes or total > self.max_bytes:
            raise self.refuse(entry, f"unpacked size over {self.max_bytes} bytes")
        for out, into, what in ((size, compressed, "compression ratio"),
                                (total, self.archive_size, "archive compression ratio")):
            if into is not None and out > RATIO_FLOOR_BYTES and out > self.max_ratio * max(into, 1):
                raise self.refuse(entry, f"{what} over {self.max_ratio} (a zip bomb?)")

    def target(self, entry: str, parts: list[str], *, is_dir: bool) -> Path:
        rel = "/".join(parts)
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.file_names:
                raise self.refuse(entry, "a file and a folder share a name")
        if rel in self.file_names or (not is_dir and rel in self.dir_names):
            raise self.refuse(entry, "a file and a folder share a name")
        path = self.dest.joinpath(*parts)
        # Belt and braces: the component checks above already exclude escapes.
        if not path.resolve().is_relative_to(self.dest.resolve()):
            raise self.refuse(entry, "path escapes the destination")
        for depth in range(1, len(parts) + (1 if is_dir else 0)):
            self.dir_names.add("/".join(parts[:depth]))
        return path

    def write(self, entry: str, path: Path, read: Callable[[int], bytes], declared: int,
              compressed_so_far: Callable[[], int]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL and O_NOFOLLOW: never overwrite, never write through a link.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := read(CHUNK):
                written += len(chunk)
                self.written_total += len(chunk)
                if written > declared:
                    raise self.refuse(entry, "more data than its header declares")
                self.check_amounts(entry, written, compressed_so_far(), self.written_total)
                out.write(chunk)
        if written != declared:
            raise self.refuse(entry, f"holds {written} bytes but its header declares {declared}")

    def add_file(self, parts: list[str]) -> None:
        rel = "/".join(parts)
        self.file_names.add(rel)
        self.result.files.append(rel)


class _ZipUnpacker(_Unpacker):
    def run(self) -> Unpacked:
        try:
            zf = zipfile.ZipFile(self.fileobj)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise BadInput(f"{self.name}: not a readable zip archive ({exc})") from exc
        with zf:
            infos = zf.infolist()
            if len(infos) > 4 * self.max_files:
                raise BadInput(f"{self.name}: more than {self.max_files} files in the archive")
            # First pass: every entry's name, type and declared sizes, before writing.
            plan = [(info, self._check(info)) for info in infos]
            for info, parts in plan:
                if parts is None or info.is_dir():
                    continue
                self._extract(zf, info, parts)
        return self.result

    def _check(self, info: zipfile.ZipInfo) -> list[str] | None:
        entry = info.filename
        is_dir = info.is_dir()
        parts = self.clean_name(entry, is_dir=is_dir)
        if info.flag_bits & 0x1:
            raise self.refuse(entry, "encrypted entries are not accepted")
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if info.create_system == 3 and kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            what = "a symbolic link" if kind == stat.S_IFLNK else "a special file (device, fifo or socket)"
            raise self.refuse(entry, f"{what}; only regular files are accepted")
        if parts is None:
            return None
        if is_dir:
            if info.file_size:
                raise self.refuse(entry, "a folder entry with data")
            self.target(entry, parts, is_dir=True)
            return parts
        self.check_declared(entry, info.file_size, info.compress_size)
        self.target(entry, parts, is_dir=False)
        self.add_file(parts)
        return parts

    def _extract(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, parts: list[str]) -> None:
        path = self.dest.joinpath(*parts)
        # A zip entry's compressed bytes are known exactly, so the streaming ratio
        # check compares against them rather than against the stream position.
        try:
            with zf.open(info) as src:
                self.write(info.filename, path, src.read, info.file_size, lambda: info.compress_size)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
            raise self.refuse(info.filename, f"cannot be read ({exc})") from exc


class _CountingReader:
    """Counts the compressed bytes the gzip layer has pulled, to measure live ratios."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        return data


class _TarUnpacker(_Unpacker):
    def run(self) -> Unpacked:
        counter = _CountingReader(self.fileobj)
        try:
            # Stream mode ("r|gz"): headers are read in order and never revisited, so
            # each member is checked from its header before its data is written.
            with tarfile.open(fileobj=counter, mode="r|gz") as tf:
                while True:
                    member = tf.next()
                    if member is None:
                        break
                    self._member(tf, member, counter)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise BadInput(f"{self.name}: not a readable tar.gz archive ({exc})") from exc
        return self.result

    def _member(self, tf: tarfile.TarFile, member: tarfile.TarInfo, counter: _CountingReader) -> None:
        entry = member.name
        if member.issym() or member.islnk():
            raise self.refuse(entry, f"a {'symbolic' if member.issym() else 'hard'} link; only regular files are accepted")
        if member.ischr() or member.isblk() or member.isfifo():
            raise self.refuse(entry, "a special file (device or fifo); only regular files are accepted")
        if member.issparse() or not (member.isreg() or member.isdir()):
            raise self.refuse(entry, "unsupported entry type; only regular files are accepted")
        if len(self.seen) >= 4 * self.max_files:
            raise BadInput(f"{self.name}: more than {self.max_files} files in the archive")
        parts = self.clean_name(entry + ("/" if member.isdir() and not entry.endswith("/") else ""),
                                is_dir=member.isdir())
        if parts is None:
            return
        if member.isdir():
            self.target(entry, parts, is_dir=True)
            return
        # Per-entry compressed size is not in a tar header; the live check below covers it.
        self.check_declared(entry, member.size, None)
        path = self.target(entry, parts, is_dir=False)
        self.add_file(parts)
        src = tf.extractfile(member)
        if src is None:
            raise self.refuse(entry, "cannot be read")
        start = counter.count
        self.write(entry, path, src.read, member.size, lambda: counter.count - start)


def _flatten_single_top_folder(dest: Path, files: list[str]) -> list[str]:
    """If every file sits under one top-level folder, move its contents up to `dest`."""
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) != 1 or any("/" not in name for name in files):
        return files
    top = tops.pop()
    if any(p.name != top for p in dest.iterdir()):
        return files
    # Rename first: the folder may contain an entry with its own name ("m/m/...").
    staging = dest / f".flatten-{uuid.uuid4().hex}"
    (dest / top).rename(staging)
    for child in staging.iterdir():
        child.rename(dest / child.name)
    shutil.rmtree(staging)
    return [name.split("/", 1)[1] for name in files]
