"""Signed reports: the platform key, freezing an approved audit's report, verifying files.

The key: one Ed25519 private key per platform, from the environment (SIGNING_KEY, a
PEM) or else the file settings.SIGNING_KEY_PATH (default VAR_DIR/signing_key.pem),
generated there on first use with mode 0600. It never lives in code or in the repository.
Its public half is published at /signing-key/ and /signing-key.pem.

Freezing (report_freeze, run by the sign-off job of an approval) adds a `signed` block
(with the approval: comment and meaning) and the regulatory section to the report
document, renders report.json, .pdf and .html once, signs the JSON and the PDF (scheme
in audits/reports/signature.py and the README) and stores them in a fresh folder that nothing ever writes again. From then on
the audit's report is frozen: downloads serve those files, and the audit's `report`
cannot be saved with other content (audits/signals.py). A re-run is a new audit.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from weasyprint import Attachment

from audits.errors import BadInput
from audits.models import Audit, SignedReport
from audits.reports.approval import approval_block
from audits.reports.document import manifest_sha256
from audits.reports.pdf import StaticOnlyFetcher, pdf_write
from audits.reports.regulatory import regulatory_section
from audits.reports.render import render_html
from audits.reports.signature import (
    PDF_ATTACHMENT,
    SCHEME,
    VerifyResult,
    json_sign,
    key_id_of,
    pdf_attachment,
    pdf_sign,
    verify_bytes,
)

log = logging.getLogger(__name__)
FROZEN_NAMES = ("report.json", "report.pdf", "report.html")

__all__ = ["VerifyResult", "key_id", "public_key_pem", "report_freeze", "report_verify", "signed_file_path"]


# --- The key --------------------------------------------------------------------------

def _load_private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"The signing key in {where} is not an unencrypted PEM private key.") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"The signing key in {where} is not an Ed25519 key.")
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key with mode 0600, atomically: a second process racing us either
    links first (and we keep its key) or finds ours complete, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")  # mkstemp opens with 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if the file exists: an existing key is never replaced
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    log.warning("Generated the platform signing key %s; back it up, its loss makes new signatures"
                " unverifiable with the published key.", path)


def private_key(*, create: bool = True) -> Ed25519PrivateKey | None:
    """The platform key; made on first use unless `create` is off (then None if absent)."""
    if settings.SIGNING_KEY:
        return _load_private(settings.SIGNING_KEY.encode("ascii"), "SIGNING_KEY")
    path = Path(settings.SIGNING_KEY_PATH)
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Like ssh: a private key others can read is no longer the platform's alone.
        raise ImproperlyConfigured(f"The signing key {path} has mode {mode:o}; run chmod 600 on it.")
    return _load_private(path.read_bytes(), str(path))


def public_key() -> Ed25519PublicKey:
    return private_key().public_key()  # type: ignore[union-attr] - create=True never returns None


def public_key_pem() -> str:
    return public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_id() -> str:
    """SHA-256 (hex) of the raw 32-byte public key: what signed files name."""
    return key_id_of(public_key())


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise BadInput("The public key is not a PEM public key.") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise BadInput("The public key is not an Ed25519 key.")
    return key


# --- Freezing -------------------------------------------------------------------------

def _signer(user) -> str:
    if user is None:
        return "unknown"
    name = user.get_full_name().strip() if hasattr(user, "get_full_name") else ""
    return f"{name} ({user.get_username()})" if name else user.get_username()


def frozen_document(*, report: dict, signer: str, signed_at: str, key: str, comment: str = "") -> dict:
    """The document as signed: the audit's report, its regulatory section and a `signed`
    block holding the approval (the approver's comment and what approving means)."""
    document = {k: v for k, v in report.items() if k not in ("signed", "signature")}
    digest = manifest_sha256(document.get("manifest") or {})
    if document.get("manifest") is None or digest != document.get("manifest_sha256"):
        # Signing a report whose manifest hash does not add up would certify a lie.
        raise BadInput("The report's manifest does not match its manifest SHA-256; it cannot be signed.")
    if "regulatory" not in document:  # reports made before the section existed
        document["regulatory"] = regulatory_section(document)
    document["signed"] = {"scheme": SCHEME, "by": signer, "at": signed_at, "key_id": key,
                          "manifest_sha256": digest, "approval": approval_block(report=document, comment=comment)}
    return document


def _signed_pdf(document: dict, key: Ed25519PrivateKey) -> bytes:
    attachment = Attachment(string=pdf_attachment(document), name=PDF_ATTACHMENT, url_fetcher=StaticOnlyFetcher(),
                            description="Manifest and signature block of this report (canonical JSON)")
    return pdf_sign(pdf_write(document, attachments=(attachment,)), document, private_key=key)


def report_freeze(*, audit: Audit, user, comment: str = "") -> SignedReport:
    """Freeze and sign an approved audit's report, with the approver's `comment`; a
    second call returns the first record.

    Renders before taking its lock on the audit (rendering takes seconds); if another
    call froze the audit meanwhile, its record wins and this call's files are removed
    again. Approvals run it from a sign-off job (audits/services/signoffs.py), at most
    one active per audit; the check here guards other callers.
    """
    existing = SignedReport.objects.filter(audit_id=audit.pk).first()
    if existing is not None:
        return existing
    if audit.status != Audit.Status.DONE or not audit.report:
        raise BadInput(f"Audit {audit.pk} has no finished report to sign.")
    key = private_key()
    signed_at = timezone.now()
    document = frozen_document(report=audit.report, signer=_signer(user), signed_at=signed_at.isoformat(),
                               key=key_id_of(key.public_key()), comment=comment)
    files = {"report.json": json_sign(document, private_key=key), "report.pdf": _signed_pdf(document, key),
             "report.html": render_html(document).encode("utf-8")}
    # A fresh folder per attempt: no earlier file is ever overwritten or reused.
    folder = f"{audit.artifacts_prefix or f'audits/{audit.pk}'}/signed-{secrets.token_hex(8)}"
    saved: dict[str, str] = {}
    try:
        with transaction.atomic():
            Audit.objects.select_for_update().filter(pk=audit.pk).first()
            existing = SignedReport.objects.filter(audit_id=audit.pk).first()
            if existing is not None:
                raise _AlreadyFrozen(existing)
            for name, content in files.items():
                saved[name] = default_storage.save(f"{folder}/{name}", ContentFile(content))
            Audit.objects.filter(pk=audit.pk).update(report=document)
            record = SignedReport.objects.create(
                audit_id=audit.pk, manifest=document["manifest"], json_path=saved["report.json"],
                pdf_path=saved["report.pdf"],
                json_sha256=hashlib.sha256(files["report.json"]).hexdigest(),
                pdf_sha256=hashlib.sha256(files["report.pdf"]).hexdigest(),
                signature=document_signature(files["report.json"]), key_id=document["signed"]["key_id"],
                signed_by=user, signed_at=signed_at)
    except _AlreadyFrozen as race:
        _discard(saved)
        return race.record
    except Exception:
        _discard(saved)
        raise
    audit.report = document
    return record


class _AlreadyFrozen(Exception):
    def __init__(self, record: SignedReport):
        super().__init__(record.pk)
        self.record = record


def _discard(paths: dict[str, str]) -> None:
    for path in paths.values():
        try:
            default_storage.delete(path)
        except OSError:
            log.warning("Could not remove %s after a failed freeze", path)


def document_signature(signed_json: bytes) -> str:
    return json.loads(signed_json)["signature"]["value"]


def signed_file_path(signed: SignedReport, name: str) -> str | None:
    """The storage path of one frozen file, or None for files that are not frozen."""
    if name == "report.json":
        return signed.json_path
    if name == "report.pdf":
        return signed.pdf_path
    if name == "report.html":
        return signed.json_path.rsplit("/", 1)[0] + "/report.html"
    return None


def audit_is_frozen(audit_id: int) -> bool:
    return SignedReport.objects.filter(audit_id=audit_id).exists()


# --- Verifying ------------------------------------------------------------------------

def report_verify(*, data: bytes, public_keys: list[Ed25519PublicKey] | None = None) -> VerifyResult:
    """Verify a downloaded signed PDF or JSON with the platform key (or `public_keys`).

    Needs no database: the file and the public key decide validity.
    """
    if public_keys is None:
        # Verifying must not create a key as a side effect: with none here, nothing is trusted.
        key = private_key(create=False)
        public_keys = [key.public_key()] if key is not None else []
    return verify_bytes(data, trusted={key_id_of(k): k for k in public_keys})


def verify_record_note(result: VerifyResult, data: bytes) -> str | None:
    """What this platform's records say about a valid file (never consulted for invalid
    ones, so crafted files cannot probe which audits exist). Validity never depends on it."""
    if not result.valid or not isinstance(result.audit_id, int):
        return None
    record = SignedReport.objects.filter(audit_id=result.audit_id, key_id=result.key_id).first()
    if record is None:
        return (f"This platform holds no signed report for audit {result.audit_id}; the signature alone "
                "shows the file is authentic.")
    stored = record.pdf_sha256 if result.kind == "pdf" else record.json_sha256
    same = hmac.compare_digest(hashlib.sha256(data).hexdigest(), stored)
    return (f"This platform's records hold the signed report of audit {result.audit_id}, signed at "
            f"{record.signed_at.isoformat()}; this file is {'byte-identical to' if same else 'not'} the stored "
            f"{result.kind.upper()}.")
