"""`manage.py verify_report FILE`: check a signed report PDF or report.json.

Exit status: 0 the signature is valid and every byte is as signed, 1 it is not, 2 the
file (or the --public-key file) cannot be read. With --public-key (the PEM published at
/signing-key.pem) it needs neither this platform's key nor its database.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from audits.errors import BadInput
from audits.services.signing import public_key_from_pem, report_verify


class Command(BaseCommand):
    help = "Verify a signed report (PDF or JSON): exit 0 valid, 1 invalid, 2 unreadable."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the downloaded report.pdf or report.json")
        parser.add_argument("--public-key", metavar="PEM", help="the published public key, instead of this platform's")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            keys = None
            if options["public_key"]:
                keys = [public_key_from_pem(Path(options["public_key"]).read_bytes())]
            if path.stat().st_size > settings.VERIFY_MAX_UPLOAD_BYTES:
                raise BadInput(f"{path} is larger than {settings.VERIFY_MAX_UPLOAD_BYTES} bytes; no signed report is.")
            data = path.read_bytes()
        except (OSError, BadInput) as exc:
            self.stderr.write(f"Cannot read: {exc}")
            raise SystemExit(2) from exc
        result = report_verify(data=data, public_keys=keys)
        heading = "Valid" if result.valid else "Invalid"
        self.stdout.write(f"{heading} ({result.kind}): {result.reason}")
        if result.valid:
            for label, value in (("audit", result.audit_id), ("signed by", result.signed_by),
                                 ("signed at", result.signed_at), ("key id", result.key_id),
                                 ("manifest sha256", result.manifest_sha256)):
                self.stdout.write(f"  {label}: {value}")
        if not result.valid:
            raise SystemExit(1)
