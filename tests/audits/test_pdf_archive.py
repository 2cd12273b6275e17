"""The PDF a regulator keeps: text that extracts as the page reads in every script of the
data, fonts for each script embedded, PDF/A-3b with report.json as its associated file."""
from __future__ import annotations

import datetime as dt
import io
import unicodedata
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from audits.checks import CheckContext, get_check
from audits.checks.policy import DEFAULT_POLICY
from audits.reports.document import report_build, report_json
from audits.reports.pdf import render_pdf

# One name per script the platform promises to print: Latin (with an "fi" and an "ffi"
# that a ligature would fuse), Greek, Cyrillic, Arabic, Chinese, Japanese and Korean.
NAMES = ["official-profile", "Αλέξανδρος", "Дмитрий", "محمد", "王伟", "さくら", "김민준"]
ARCHITECTURE = "BertForSequenceClassification"


@pytest.fixture(scope="module")
def document():
    rng = np.random.default_rng(0)
    name = rng.choice(NAMES, size=700)
    y = rng.random(name.size) < 0.5
    prob = np.clip(0.5 + 0.3 * np.where(y, 1, -1) + rng.normal(0, 0.2, name.size), 0.01, 0.99)
    ctx = CheckContext(y_true=y, y_pred=prob >= 0.5, prob=prob, groups=pd.DataFrame({"name": name}),
                       privileged={"name": [NAMES[0]]}, policy=DEFAULT_POLICY, seed=0, resamples=100)
    checks = get_check("group_fairness")(ctx) + get_check("sampling_bias")(ctx)
    audit = SimpleNamespace(pk=3, status="done", created_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), finished_at=None,
                            config={"seed": 0, "protected": {"name": [NAMES[0]]}},
                            model=SimpleNamespace(name="classifier", sha256="a" * 64, architecture=ARCHITECTURE,
                                                  num_parameters=1, labels={"0": "no", "1": "yes"}),
                            dataset=SimpleNamespace(name="names.csv", sha256="b" * 64, rows=int(name.size)))
    return report_build(audit=audit, checks=checks, manifest={"model_sha256": "a" * 64}, policy=DEFAULT_POLICY,
                        platform_version="test")


@pytest.fixture(scope="module")
def pdf(document):
    return render_pdf(document)


def _text(reader: PdfReader) -> str:
    # NFKC folds Arabic presentation forms (what the shaped glyphs map to) back to letters.
    return unicodedata.normalize("NFKC", "\n".join(page.extract_text() for page in reader.pages))


def test_text_extracts_in_every_script_without_ligatures(pdf):
    text = _text(PdfReader(io.BytesIO(pdf)))
    assert ARCHITECTURE in text  # "...Classi fi cation" with an fi ligature would fail
    for name in NAMES:
        # Arabic is stored in visual order by some writers: either order reads the name.
        assert name in text or name[::-1] in text, name


def test_a_font_for_each_script_is_embedded(pdf):
    reader = PdfReader(io.BytesIO(pdf))
    fonts = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object().get("/BaseFont")))
    joined = " ".join(fonts)
    # DejaVu Sans covers Latin, Greek, Cyrillic and Arabic; Noto Sans CJK the rest.
    assert "DejaVu-Sans" in joined and "Noto-Sans-CJK" in joined, fonts


def test_pdf_a_3b_with_report_json_as_associated_file(pdf, document):
    reader = PdfReader(io.BytesIO(pdf))
    assert pdf.startswith(b"%PDF-1.7") or pdf.startswith(b"%PDF-2")
    metadata = reader.xmp_metadata
    assert metadata is not None
    xml = metadata.rdf_root.toxml()
    assert 'pdfaid:part="3"' in xml and 'pdfaid:conformance="B"' in xml
    [embedded] = reader.attachments["report.json"]
    assert embedded == report_json(document)
    # Associated with the document (PDF/A-3's /AF), not only listed as an attachment.
    assert "/AF" in reader.trailer["/Root"]
