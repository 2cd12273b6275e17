"""Signed report files: their byte formats, signing and verification, with no database.

Scheme "auditplatform-ed25519-v1". A verifier needs the file and the platform's public
key only (published at /signing-key/), so a report can be checked offline, years later.
`key_id` is the SHA-256 (hex) of the 32-byte raw Ed25519 public key.

JSON  report.json with two more top-level keys: `signed` ({"by", "at", "key_id",
      "manifest_sha256", "scheme"}, part of the signed content) and, last, `signature`
      ({"scheme", "algorithm": "Ed25519", "key_id", "value": base64}). The signature
      covers canonical_json(document without `signature`): sorted keys, separators ","
      and ":", ASCII, no NaN. Verification also requires the file to be byte-identical
      to report_json(document) (compact, UTF-8, keys in file order; or the indent-2
      layout files were signed in before, report_json_layouts) and the base64 to
      be canonical: a change that leaves the parsed content equal (whitespace, escapes,
      duplicate keys, base64 padding bits) is refused too, so any changed byte fails.
PDF   The rendered PDF (manifest and `signed` block embedded as the attachment
      report-manifest.json and shown on the page), then one line after its %%EOF:
      "\\n%AUDITPLATFORM-SIGNATURE " + canonical_json(payload) + "\\n", payload =
      {"scheme", "key_id", "audit_id", "signed_at", "manifest_sha256", "pdf_sha256":
      SHA-256 of every byte before that line, "signature": base64}. The signature covers
      canonical_json(payload without "signature"). PDF readers skip a comment after
      %%EOF; the line is short so readers still find %%EOF near the end. The line must
      be exactly canonical and the file's last bytes, so any changed byte fails.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .document import canonical_json, manifest_sha256, report_json, report_json_layouts

SCHEME = "auditplatform-ed25519-v1"
PDF_MARKER = b"\n%AUDITPLATFORM-SIGNATURE "
PDF_ATTACHMENT = "report-manifest.json"
JSON_SIGNATURE_KEYS = {"scheme", "algorithm", "key_id", "value"}
PDF_PAYLOAD_KEYS = {"scheme", "key_id", "audit_id", "signed_at", "manifest_sha256", "pdf_sha256", "signature"}


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    kind: str  # "pdf", "json", or "unknown" when the bytes are neither
    reason: str
    manifest: dict | None = None
    audit_id: int | None = None
    signed_at: str | None = None
    key_id: str | None = None
    signed_by: str | None = None
    manifest_sha256: str | None = None


class Invalid(Exception):
    """Why a file fails verification; the message is shown to the person verifying."""


def key_id_of(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _signature_bytes(value) -> bytes:
    """The 64 signature bytes, only from canonical base64: padding bits that decode to the
    same bytes would otherwise let a changed file still verify."""
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 64 or _b64(raw) != value:
        raise Invalid("The signature value is not a well-formed Ed25519 signature.")
    return raw


def _strict_object(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise Invalid("The JSON repeats a key; a signed report never does.")
    return dict(pairs)


def _reject_constant(name):
    raise Invalid(f"The JSON holds {name}, which strict JSON (and a signed report) never does.")


def _load_json(text: str):
    try:
        return json.loads(text, object_pairs_hook=_strict_object, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise Invalid(f"Not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from exc
    except ValueError as exc:  # e.g. an integer longer than Python will parse
        raise Invalid(f"Not a report: {exc}") from exc


def _trusted_key(key_id, trusted: dict[str, Ed25519PublicKey]) -> Ed25519PublicKey:
    if not isinstance(key_id, str) or key_id not in trusted:
        known = ", ".join(trusted) or "none"
        raise Invalid(f"Signed with key {str(key_id)[:64]!s}, which is not a trusted platform key ({known}).")
    return trusted[key_id]


def _check(public_key: Ed25519PublicKey, signature: bytes, message: bytes, what: str) -> None:
    try:
        public_key.verify(signature, message)
    except InvalidSignature as exc:
        raise Invalid(f"The signature does not match the {what}: it was changed after signing.") from exc


def _manifest_ok(manifest, claimed) -> dict:
    if not isinstance(manifest, dict) or not isinstance(claimed, str):
        raise Invalid("The signed content holds no manifest.")
    if not hmac.compare_digest(manifest_sha256(manifest), claimed):
        raise Invalid("The manifest does not match its signed SHA-256.")
    return manifest


# --- JSON -----------------------------------------------------------------------------

def json_sign(document: dict, *, private_key: Ed25519PrivateKey) -> bytes:
    """The signed report.json bytes of `document` (which must carry its `signed` block)."""
    body = {k: v for k, v in document.items() if k != "signature"}
    value = _b64(private_key.sign(canonical_json(body)))
    signature = {"scheme": SCHEME, "algorithm": "Ed25519", "key_id": key_id_of(private_key.public_key()),
                 "value": value}
    return report_json({**body, "signature": signature})


def _json_verify(data: bytes, trusted: dict[str, Ed25519PublicKey]) -> VerifyResult:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("Not UTF-8 text, so not a report.json written by the platform.") from exc
    document = _load_json(text)
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, dict) or set(signature) != JSON_SIGNATURE_KEYS:
        raise Invalid("No platform signature in this JSON (no well-formed `signature` block).")
    if signature["scheme"] != SCHEME or signature["algorithm"] != "Ed25519":
        raise Invalid(f"Unknown signature scheme {str(signature['scheme'])[:80]!s}.")
    public_key = _trusted_key(signature["key_id"], trusted)
    body = {k: v for k, v in document.items() if k != "signature"}
    _check(public_key, _signature_bytes(signature["value"]), canonical_json(body), "report's content")
    # The content is authentic; now the bytes: the file must be exactly as written.
    try:
        layouts = report_json_layouts(document)
    except (UnicodeEncodeError, ValueError) as exc:
        raise Invalid("The content cannot be written as the platform writes report.json.") from exc
    # Every layout is compared (no early exit), so timing says nothing about which matched.
    if not [layout for layout in layouts if hmac.compare_digest(layout, data)]:
        raise Invalid("The content is signed, but the file's bytes differ from the signed file"
                      " (whitespace, escapes or key order were changed).")
    signed = body.get("signed")
    if not isinstance(signed, dict) or signed.get("key_id") != signature["key_id"]:
        raise Invalid("The signed block does not name the signing key.")
    manifest = _manifest_ok(body.get("manifest"), body.get("manifest_sha256"))
    if signed.get("manifest_sha256") != body.get("manifest_sha256"):
        raise Invalid("The signed block and the report name different manifests.")
    audit = body.get("audit") if isinstance(body.get("audit"), dict) else {}
    return VerifyResult(
        valid=True, kind="json", reason=_valid_reason(signature["key_id"], signed.get("at")),
        manifest=manifest, audit_id=audit.get("id"), signed_at=signed.get("at"),
        key_id=signature["key_id"], signed_by=signed.get("by"), manifest_sha256=body["manifest_sha256"])


# --- PDF ------------------------------------------------------------------------------

def pdf_attachment(document: dict) -> bytes:
    """What the PDF embeds: the manifest and the `signed` block, as canonical JSON."""
    return canonical_json({"manifest": document["manifest"], "signed": document["signed"]})


def pdf_sign(pdf: bytes, document: dict, *, private_key: Ed25519PrivateKey) -> bytes:
    """`pdf` (rendered from `document`, with pdf_attachment embedded) plus its signature line."""
    signed = document["signed"]
    payload = {"scheme": SCHEME, "key_id": key_id_of(private_key.public_key()),
               "audit_id": document["audit"]["id"], "signed_at": signed["at"],
               "manifest_sha256": signed["manifest_sha256"], "pdf_sha256": hashlib.sha256(pdf).hexdigest()}
    payload["signature"] = _b64(private_key.sign(canonical_json(payload)))
    return pdf + PDF_MARKER + canonical_json(payload) + b"\n"


def _pdf_verify(data: bytes, trusted: dict[str, Ed25519PublicKey]) -> VerifyResult:
    at = data.rfind(PDF_MARKER)
    if at < 0:
        raise Invalid("No platform signature in this PDF: it was not signed by the platform,"
                      " or its signature line was removed.")
    prefix, line = data[:at], data[at + len(PDF_MARKER):]
    if not line.endswith(b"\n") or b"\n" in line[:-1] or b"\r" in line:
        raise Invalid("The PDF's signature line is not the end of the file: bytes were added or changed.")
    try:
        payload = _load_json(line[:-1].decode("ascii"))
    except UnicodeDecodeError as exc:
        raise Invalid("The PDF's signature line is not ASCII: it was changed.") from exc
    if not isinstance(payload, dict) or set(payload) != PDF_PAYLOAD_KEYS or payload["scheme"] != SCHEME:
        raise Invalid("The PDF's signature line is not a platform signature.")
    if not hmac.compare_digest(canonical_json(payload), line[:-1]):
        raise Invalid("The PDF's signature line is not in its signed form: it was changed.")
    public_key = _trusted_key(payload["key_id"], trusted)
    claimed = payload["pdf_sha256"] if isinstance(payload["pdf_sha256"], str) else ""
    if not hmac.compare_digest(hashlib.sha256(prefix).hexdigest(), claimed):
        raise Invalid("The PDF's content was changed after signing: its SHA-256 is not the signed one.")
    message = canonical_json({k: v for k, v in payload.items() if k != "signature"})
    _check(public_key, _signature_bytes(payload["signature"]), message, "PDF")
    embedded = _embedded(prefix)
    manifest = _manifest_ok(embedded.get("manifest"), payload["manifest_sha256"])
    signed = embedded.get("signed") if isinstance(embedded.get("signed"), dict) else {}
    return VerifyResult(
        valid=True, kind="pdf", reason=_valid_reason(payload["key_id"], payload["signed_at"]),
        manifest=manifest, audit_id=payload["audit_id"], signed_at=payload["signed_at"],
        key_id=payload["key_id"], signed_by=signed.get("by"), manifest_sha256=payload["manifest_sha256"])


def _embedded(pdf: bytes) -> dict:
    """The signed PDF's attachment. Only read once the signature holds, so the parser
    only ever sees bytes the platform wrote."""
    from pypdf import PdfReader

    try:
        content = PdfReader(io.BytesIO(pdf)).attachments.get(PDF_ATTACHMENT) or []
        value = json.loads(content[0]) if content else None
    except Exception as exc:  # noqa: BLE001 - any parser failure means the same to the reader
        raise Invalid(f"The PDF is signed but its embedded manifest cannot be read ({type(exc).__name__}).") from exc
    if not isinstance(value, dict):
        raise Invalid(f"The PDF is signed but carries no {PDF_ATTACHMENT}.")
    return value


# --- Both -----------------------------------------------------------------------------

def _valid_reason(key_id: str, signed_at) -> str:
    return (f"Signature valid: signed with the platform key {key_id} at {signed_at}; "
            "every byte of the file is as signed.")


def file_kind(data: bytes) -> str:
    if data.startswith(b"%PDF-") or PDF_MARKER in data[-2048:]:
        return "pdf"
    if data.lstrip()[:1] == b"{":
        return "json"
    return "unknown"


def verify_bytes(data: bytes, *, trusted: dict[str, Ed25519PublicKey]) -> VerifyResult:
    """Verify a signed report file against the trusted public keys (key_id -> key)."""
    kind = file_kind(data)
    if kind == "unknown":
        return VerifyResult(valid=False, kind=kind, reason="Neither a PDF nor a JSON report.")
    try:
        return (_pdf_verify if kind == "pdf" else _json_verify)(data, trusted)
    except Invalid as exc:
        return VerifyResult(valid=False, kind=kind, reason=str(exc))
    except RecursionError:
        return VerifyResult(valid=False, kind=kind, reason="The JSON is nested too deeply to be a report.")
