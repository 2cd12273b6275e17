"""The pages of signed reports, open to everyone: verify a downloaded report (valid,
tampered, escaped, CSRF, size limits) and the published public key."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audits.services import signing
from tests.factories import flip_byte, signed_files

pytestmark = pytest.mark.usefixtures("signing_key")


def test_verify_page_anonymous_valid_invalid_and_escaped(frozen, client):
    page = client.get("/verify/")
    assert page.status_code == 200 and b'type="file" name="file"' in page.content
    files = signed_files(frozen)
    valid = client.post("/verify/", {"file": SimpleUploadedFile("r.json", files["json"])})
    text = valid.content.decode()
    assert valid.status_code == 200 and ">Valid<" in text and "Invalid" not in text
    assert "byte-identical to the stored JSON" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert(1)</script>" not in text
    invalid = client.post("/verify/", {"file": SimpleUploadedFile("r.pdf", flip_byte(files["pdf"], 100))})
    assert ">Invalid<" in invalid.content.decode() and "SHA-256" in invalid.content.decode()


def test_verify_page_needs_csrf_and_refuses_oversized_files(frozen, settings):
    strict = Client(enforce_csrf_checks=True)
    data = signed_files(frozen)["pdf"]
    assert strict.post("/verify/", {"file": SimpleUploadedFile("r.pdf", data)}).status_code == 403
    settings.VERIFY_MAX_UPLOAD_BYTES = 1000
    response = Client().post("/verify/", {"file": SimpleUploadedFile("r.pdf", data * 3)})  # refused by its header
    assert response.status_code == 400 and b"The upload is" in response.content
    assert b"files up to 0.0 MB can be verified" in response.content
    settings.VERIFY_MAX_UPLOAD_BYTES = len(data) + 100 * 1024  # the body fits, the file does not
    response = Client().post("/verify/", {"file": SimpleUploadedFile("r.pdf", data + b"\0" * 120 * 1024)})
    assert response.status_code == 400 and b"The file is" in response.content


def test_public_key_pages(client):
    page = client.get("/signing-key/").content.decode()
    assert signing.key_id() in page and "BEGIN PUBLIC KEY" in page
    pem = client.get("/signing-key.pem")
    assert pem.content.decode() == signing.public_key_pem()
