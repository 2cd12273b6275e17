"""Safe unpacking of model archives: traversal, links, bombs, caps, duplicates, flattening."""
from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from audits.errors import BadInput
from audits.uploads.archive import is_archive_name, unpack_archive


def make_zip(entries: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    buf.seek(0)
    return buf


def make_targz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def reg(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_archive_names():
    assert is_archive_name("m.zip") and is_archive_name("M.TAR.GZ") and is_archive_name("m.tgz")
    assert not is_archive_name("config.json") and not is_archive_name("m.tar")


def test_zip_single_top_folder_is_flattened(tmp_path):
    dest = tmp_path / "out"
    result = unpack_archive(make_zip([("model/config.json", b"{}"), ("model/vocab.txt", b"a\nb"),
                                      ("model/1_Pooling/config.json", b"{}")]), name="m.zip", dest=dest)
    assert sorted(result.files) == ["1_Pooling/config.json", "config.json", "vocab.txt"]
    assert files_under(dest) == sorted(result.files)
    assert (dest / "vocab.txt").read_bytes() == b"a\nb"


def test_flattening_survives_a_child_named_like_its_folder(tmp_path):
    dest = tmp_path / "out"
    result = unpack_archive(make_zip([("m/m/config.json", b"1"), ("m/config.json", b"2")]), name="m.zip", dest=dest)
    assert sorted(result.files) == ["config.json", "m/config.json"]
    assert (dest / "config.json").read_bytes() == b"2" and (dest / "m" / "config.json").read_bytes() == b"1"


def test_files_at_top_level_are_not_moved(tmp_path):
    dest = tmp_path / "out"
    result = unpack_archive(make_zip([("config.json", b"{}"), ("sub/vocab.txt", b"x")]), name="m.zip", dest=dest)
    assert sorted(result.files) == ["config.json", "sub/vocab.txt"]


def test_targz_is_unpacked_and_flattened(tmp_path):
    dest = tmp_path / "out"
    folder = tarfile.TarInfo("model")
    folder.type = tarfile.DIRTYPE
    archive = make_targz([(folder, None), (reg("model/config.json"), b"{}"), (reg("model/vocab.txt"), b"abc")])
    for name in ("m.tar.gz", "m.tgz"):
        out = dest / name
        result = unpack_archive(archive, name=name, dest=out)
        assert sorted(result.files) == ["config.json", "vocab.txt"]
        assert (out / "vocab.txt").read_bytes() == b"abc"


def test_tar_of_dot_is_accepted(tmp_path):
    top = tarfile.TarInfo(".")
    top.type = tarfile.DIRTYPE
    archive = make_targz([(top, None), (reg("./config.json"), b"{}"), (reg("./vocab.txt"), b"x")])
    result = unpack_archive(archive, name="m.tgz", dest=tmp_path / "out")
    assert sorted(result.files) == ["config.json", "vocab.txt"]


def test_os_litter_is_skipped_with_a_note(tmp_path):
    dest = tmp_path / "out"
    result = unpack_archive(make_zip([("model/config.json", b"{}"), ("__MACOSX/model/._config.json", b"x"),
                                      ("model/.DS_Store", b"x")]), name="m.zip", dest=dest)
    assert result.files == ["config.json"]
    assert files_under(dest) == ["config.json"]
    assert any("__MACOSX" in note for note in result.notes)


@pytest.mark.parametrize("entry", ["../evil", "model/../../evil", "/abs/evil", "/etc/passwd", "C:/evil",
                                   "..\\evil", "model\\..\\..\\evil", "a/./b", "a//b"])
def test_zip_path_tricks_are_refused(tmp_path, entry):
    dest = tmp_path / "deep" / "out"
    with pytest.raises(BadInput) as exc:
        unpack_archive(make_zip([("config.json", b"{}"), (entry, b"pwned")]), name="evil.zip", dest=dest)
    assert "evil.zip" in str(exc.value) and repr(entry) in str(exc.value)
    assert not any(p.name in {"evil", "b"} for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("entry", ["../evil", "/abs/evil", "x/../../evil"])
def test_targz_path_tricks_are_refused(tmp_path, entry):
    dest = tmp_path / "deep" / "out"
    with pytest.raises(BadInput, match="evil.tar.gz"):
        unpack_archive(make_targz([(reg(entry), b"pwned")]), name="evil.tar.gz", dest=dest)
    assert not any(p.name == "evil" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("kind,why", [(tarfile.SYMTYPE, "symbolic link"), (tarfile.LNKTYPE, "hard link"),
                                      (tarfile.FIFOTYPE, "special file"), (tarfile.CHRTYPE, "special file"),
                                      (tarfile.BLKTYPE, "special file")])
def test_tar_links_and_special_files_are_refused(tmp_path, kind, why):
    archive = make_targz([(reg("model/config.json"), b"{}"), (special("model/vocab.txt", kind, "/etc/passwd"), None)])
    with pytest.raises(BadInput, match=why) as exc:
        unpack_archive(archive, name="links.tgz", dest=tmp_path / "out")
    assert "links.tgz" in str(exc.value) and "model/vocab.txt" in str(exc.value)
    assert not (tmp_path / "out" / "model" / "vocab.txt").exists()


@pytest.mark.parametrize("mode,why", [(stat.S_IFLNK | 0o777, "symbolic link"), (stat.S_IFCHR | 0o644, "special file"),
                                      (stat.S_IFIFO | 0o644, "special file")])
def test_zip_links_and_special_files_are_refused(tmp_path, mode, why):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("vocab.txt")
        info.create_system = 3
        info.external_attr = mode << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(BadInput, match=why):
        unpack_archive(buf, name="links.zip", dest=tmp_path / "out")


def test_zip_bomb_is_refused_by_ratio(tmp_path):
    bomb = make_zip([("model/model.safetensors", bytes(20 * 1024 * 1024))])
    assert bomb.getbuffer().nbytes < 100_000
    with pytest.raises(BadInput, match="compression ratio") as exc:
        unpack_archive(bomb, name="bomb.zip", dest=tmp_path / "out")
    assert "bomb.zip" in str(exc.value) and "model/model.safetensors" in str(exc.value)
    assert files_under(tmp_path / "out") == []  # refused from the declared sizes, before writing


def test_tar_bomb_is_stopped_while_streaming(tmp_path):
    # Incompressible padding keeps the archive-wide ratio low, so only the live
    # per-entry measurement can catch the compressible member.
    archive = make_targz([(reg("pad.bin"), os.urandom(1024 * 1024)), (reg("zeros.bin"), bytes(60 * 1024 * 1024))])
    with pytest.raises(BadInput, match="compression ratio") as exc:
        unpack_archive(archive, name="bomb.tgz", dest=tmp_path / "out")
    assert "zeros.bin" in str(exc.value)
    assert (tmp_path / "out" / "zeros.bin").stat().st_size < 60 * 1024 * 1024


def test_zip_header_understating_a_size_is_refused(tmp_path):
    data = bytearray(make_zip([("config.json", os.urandom(5000))], compression=zipfile.ZIP_STORED).getvalue())
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size in the central directory
    with pytest.raises(BadInput, match="config.json"):
        unpack_archive(io.BytesIO(bytes(data)), name="liar.zip", dest=tmp_path / "out")


def test_too_many_files_are_refused(tmp_path, settings):
    settings.MAX_MODEL_FILES = 3
    archive = make_zip([(f"f{i}.txt", b"x") for i in range(4)])
    with pytest.raises(BadInput, match="more than 3 files"):
        unpack_archive(archive, name="many.zip", dest=tmp_path / "out")


def test_unpacked_size_cap(tmp_path, settings):
    settings.MAX_MODEL_UNPACKED_BYTES = 1000
    archive = make_zip([("a.txt", os.urandom(600)), ("b.txt", os.urandom(600))])
    with pytest.raises(BadInput, match="unpacked size over 1000") as exc:
        unpack_archive(archive, name="big.zip", dest=tmp_path / "out")
    assert "'b.txt'" in str(exc.value)


@pytest.mark.parametrize("second", ["config.json", "CONFIG.json"])
def test_duplicate_names_are_refused(tmp_path, second):
    with pytest.warns(UserWarning) if second == "config.json" else contextlib.nullcontext():
        archive = make_zip([("config.json", b"{}"), (second, b"{}")])
    with pytest.raises(BadInput, match="duplicate name"):
        unpack_archive(archive, name="dup.zip", dest=tmp_path / "out")


def test_a_file_and_a_folder_with_one_name_are_refused(tmp_path):
    with pytest.raises(BadInput, match="share a name"):
        unpack_archive(make_zip([("a", b"1"), ("a/b", b"2")]), name="clash.zip", dest=tmp_path / "out")


def test_encrypted_zip_entries_are_refused(tmp_path):
    data = bytearray(make_zip([("config.json", b"{}")]).getvalue())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(sig) + offset
        data[at] |= 0x1
    with pytest.raises(BadInput, match="encrypted"):
        unpack_archive(io.BytesIO(bytes(data)), name="locked.zip", dest=tmp_path / "out")


def test_not_an_archive_and_empty_archive(tmp_path):
    with pytest.raises(BadInput, match="not a zip archive"):
        unpack_archive(io.BytesIO(b"hello"), name="fake.zip", dest=tmp_path / "a")
    with pytest.raises(BadInput, match="not a gzip"):
        unpack_archive(io.BytesIO(b"PK\x03\x04"), name="fake.tgz", dest=tmp_path / "b")
    with pytest.raises(BadInput, match="no files"):
        unpack_archive(make_zip([]), name="empty.zip", dest=tmp_path / "c")
    with pytest.raises(BadInput, match="not a readable"):
        unpack_archive(io.BytesIO(b"\x1f\x8b" + os.urandom(100)), name="junk.tar.gz", dest=tmp_path / "d")


def test_destination_must_be_empty(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        unpack_archive(make_zip([("a", b"1")]), name="m.zip", dest=tmp_path / "out")
