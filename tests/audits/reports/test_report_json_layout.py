"""report.json is compact (no indentation: an audit's explanation arrays ran to megabytes
indented), keeps the contract's keys, and a report signed in the earlier indented layout
still verifies while any other change to its bytes does not."""
from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audits.reports import signature
from audits.reports.document import manifest_sha256, report_json

MANIFEST = {"model_sha256": "a" * 64, "dataset_sha256": "b" * 64}


def _document() -> dict:
    return {
        "schema_version": 1, "audit": {"id": 3}, "manifest_sha256": manifest_sha256(MANIFEST), "manifest": MANIFEST,
        "summary": {"status": "pass", "counts": {"pass": 1}}, "checks": [],
        "explanations": {"examples": [{"words": ["naïve", "text"], "methods": {"lime": {"scores": [0.5, -0.25]}}}]},
    }


def test_report_json_is_compact_and_round_trips():
    data = report_json(_document())
    assert b"\n" not in data and b": " not in data and b", " not in data
    assert b'"scores":[0.5,-0.25]' in data and "naïve".encode() in data  # UTF-8, not \\u escapes
    assert json.loads(data) == _document()
    assert len(data) < len(json.dumps(_document(), indent=2, ensure_ascii=False).encode())


def test_a_report_signed_in_the_indented_layout_still_verifies():
    key = Ed25519PrivateKey.generate()
    trusted = {signature.key_id_of(key.public_key()): key.public_key()}
    signed = {**_document(), "signed": {"by": "olga", "at": "2025-01-01T00:00:00+00:00",
                                        "key_id": signature.key_id_of(key.public_key()),
                                        "manifest_sha256": manifest_sha256(MANIFEST), "scheme": signature.SCHEME}}
    compact = signature.json_sign(signed, private_key=key)
    assert signature.verify_bytes(compact, trusted=trusted).valid
    indented = json.dumps(json.loads(compact), indent=2, ensure_ascii=False).encode()
    assert signature.verify_bytes(indented, trusted=trusted).valid
    # Any other layout of the same content is refused, naming the bytes.
    spaced = json.dumps(json.loads(compact), indent=1, ensure_ascii=False).encode()
    result = signature.verify_bytes(spaced, trusted=trusted)
    assert not result.valid and "bytes differ" in result.reason
