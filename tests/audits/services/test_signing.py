"""Signed reports: sign and verify PDF and JSON, any changed byte fails, wrong keys fail,
the verify command, the key file, and a frozen report that never changes (the verify and
key pages: tests/audits/web/test_signing_views.py)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction

from audits.models import Audit, SignedReport
from audits.reports.signature import PDF_MARKER
from audits.services import signing
from audits.signals import FrozenReport
from tests.factories import flip_byte, people_audit, signed_files

pytestmark = pytest.mark.usefixtures("signing_key")


def test_signed_pdf_and_json_verify(frozen, finished):
    files = signed_files(frozen)
    assert hashlib.sha256(files["json"]).hexdigest() == frozen.json_sha256
    assert hashlib.sha256(files["pdf"]).hexdigest() == frozen.pdf_sha256
    for kind, data in files.items():
        result = signing.report_verify(data=data)
        assert result.valid, result.reason
        assert (result.kind, result.audit_id, result.key_id) == (kind, finished.pk, signing.key_id())
        assert result.manifest == finished.report["manifest"] == frozen.manifest
        assert result.signed_at == frozen.signed_at.isoformat()
        assert result.signed_by == "alice"
    assert files["pdf"].startswith(b"%PDF-") and files["pdf"].endswith(b"\n")
    document = json.loads(files["json"])
    assert document["signed"]["manifest_sha256"] == document["manifest_sha256"]
    assert frozen.signature == document["signature"]["value"]
    assert "regulatory" in document


def test_any_changed_byte_fails(frozen):
    files = signed_files(frozen)
    data = files["json"]
    # Content, manifest and signature regions, and a sweep over the whole file.
    positions = set(range(0, len(data), max(1, len(data) // 300)))
    for needle in (b'"manifest":{', b'"value":"', b'"signed":{', b'"checks"'):  # report.json is compact
        start = data.index(needle)
        positions.update(range(start, min(len(data), start + 120)))
    for i in sorted(positions):
        assert not signing.report_verify(data=flip_byte(data, i)).valid, f"JSON byte {i} changed but still valid"
    pdf = files["pdf"]
    line = pdf.rindex(PDF_MARKER)
    positions = set(range(0, len(pdf), max(1, len(pdf) // 300))) | set(range(line - 200, len(pdf)))
    for i in sorted(positions):
        assert not signing.report_verify(data=flip_byte(pdf, i)).valid, f"PDF byte {i} changed but still valid"


def test_layout_changes_and_additions_fail(frozen):
    files = signed_files(frozen)
    document = json.loads(files["json"])
    reindented = json.dumps(document, indent=4, ensure_ascii=False).encode()
    result = signing.report_verify(data=reindented)
    assert not result.valid and "bytes differ" in result.reason
    assert not signing.report_verify(data=files["json"] + b"\n").valid
    assert not signing.report_verify(data=files["pdf"] + b"%").valid
    assert not signing.report_verify(data=files["pdf"][: files["pdf"].rindex(PDF_MARKER)]).valid
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    result = signing.report_verify(data=json.dumps(unsigned).encode())
    assert not result.valid and "No platform signature" in result.reason


def test_hostile_json_is_invalid_not_an_error():
    for data in (b'{"a":' + b"[" * 100_000, b'{"a": 1' + b"1" * 5000 + b"}", b'{"a": NaN}', b'{"a": 1, "a": 2}',
                 b"\xff\xfe{", b"[1]", b""):
        result = signing.report_verify(data=data)
        assert not result.valid and result.reason


def test_a_changed_figure_fails_with_the_signature_reason(frozen):
    document = json.loads(signed_files(frozen)["json"])
    document["checks"][0]["metrics"]["disparate_impact"]["value"] = 0.95
    result = signing.report_verify(data=json.dumps(document, indent=2, ensure_ascii=False).encode())
    assert not result.valid and "does not match" in result.reason


def test_wrong_key_fails_and_the_published_key_alone_verifies(frozen, settings, tmp_path):
    files = signed_files(frozen)
    other = Ed25519PrivateKey.generate().public_key()
    for data in files.values():
        result = signing.report_verify(data=data, public_keys=[other])
        assert not result.valid and "not a trusted platform key" in result.reason
    published = signing.public_key_from_pem(signing.public_key_pem().encode())
    # Another platform key (say, after a key loss) did not sign these files.
    settings.SIGNING_KEY_PATH = tmp_path / "elsewhere" / "key.pem"
    assert signing.key_id() != frozen.key_id
    for data in files.values():
        assert not signing.report_verify(data=data).valid
        assert signing.report_verify(data=data, public_keys=[published]).valid


def test_verify_report_command_exit_codes(frozen, tmp_path, capsys):
    files = signed_files(frozen)
    good, bad = tmp_path / "report.pdf", tmp_path / "bad.json"
    good.write_bytes(files["pdf"])
    bad.write_bytes(flip_byte(files["json"], len(files["json"]) // 2))
    call_command("verify_report", str(good))
    assert capsys.readouterr().out.startswith("Valid (pdf)")
    with pytest.raises(SystemExit) as exit_bad:
        call_command("verify_report", str(bad))
    assert exit_bad.value.code == 1 and capsys.readouterr().out.startswith("Invalid (json)")
    with pytest.raises(SystemExit) as exit_missing:
        call_command("verify_report", str(tmp_path / "missing.pdf"))
    assert exit_missing.value.code == 2
    pem = tmp_path / "published.pem"
    pem.write_text(signing.public_key_pem())
    call_command("verify_report", str(good), "--public-key", str(pem))


def test_key_file_is_made_once_with_mode_0600_outside_the_repository(settings):
    path = settings.SIGNING_KEY_PATH
    assert not path.exists()
    assert signing.report_verify(data=b"{}").valid is False and not path.exists()  # verifying creates no key
    first = signing.key_id()
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert signing.key_id() == first  # loaded, not regenerated
    os.chmod(path, 0o644)
    with pytest.raises(Exception, match="chmod 600"):
        signing.key_id()
    # The default location is under VAR_DIR, which git ignores.
    default = django_settings.VAR_DIR / "signing_key.pem"
    if shutil.which("git"):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(default)], cwd=django_settings.BASE_DIR)
        assert ignored.returncode == 0


def test_key_from_the_environment_wins_and_writes_no_file(settings):
    key = Ed25519PrivateKey.generate()
    settings.SIGNING_KEY = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    assert signing.key_id() == hashlib.sha256(key.public_key().public_bytes_raw()).hexdigest()
    assert not settings.SIGNING_KEY_PATH.exists()


def test_freeze_is_idempotent_and_refuses_unfinished_audits(frozen, finished, user, org, model):
    assert signing.report_freeze(audit=finished, user=user).pk == frozen.pk
    assert SignedReport.objects.filter(audit=finished).count() == 1
    running = people_audit(org, user, model, finished.dataset)
    with pytest.raises(Exception, match="no finished report"):
        signing.report_freeze(audit=running, user=user)


def test_frozen_report_never_changes(frozen, finished, client_in):
    from audits.services.audits import audit_run

    before = signed_files(frozen)
    audit = Audit.objects.get(pk=finished.pk)
    signed_document = audit.report
    assert signed_document["signed"]["key_id"] == frozen.key_id
    # A re-render attempt: audit_run leaves a finished audit alone; a save with a new
    # report is refused; the record itself cannot be changed or deleted.
    audit_run(audit_id=audit.pk)
    audit.report = {**audit.report, "summary": {"status": "pass", "counts": {}}}
    with pytest.raises(FrozenReport):
        audit.save()
    audit.review_status = Audit.ReviewStatus.APPROVED
    audit.save(update_fields=["review_status"])  # other fields may still change
    with pytest.raises(FrozenReport):
        frozen.save()
    with pytest.raises(FrozenReport), transaction.atomic():  # delete runs in the caller's transaction
        frozen.delete()
    assert Audit.objects.get(pk=audit.pk).report == signed_document
    assert signed_files(SignedReport.objects.get(pk=frozen.pk)) == before
    for kind in ("json", "pdf"):
        download = client_in.get(f"/audits/{audit.pk}/download/{kind}/")
        assert b"".join(download.streaming_content) == before[kind]
    assert "Signed" in client_in.get(f"/audits/{audit.pk}/report/").content.decode()
