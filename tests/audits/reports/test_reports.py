"""The report layer: report.json contract, verdict, strict JSON, HTML, PDF and files."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.template.loader import render_to_string
from pypdf import PdfReader
from weasyprint import HTML

from audits.checks.policy import DEFAULT_POLICY
from audits.models import Audit, Dataset, ModelArtifact
from audits.reports import (
    AssetRefused,
    StaticOnlyFetcher,
    manifest_sha256,
    predictions_csv,
    render_html,
    render_pdf,
    report_build,
    report_context,
    report_files,
    report_json,
    summarize,
)
from audits.reports.pdf import BASE_URL

CONFIG = {
    "text_column": "text", "label_column": "label", "favorable_label": "True",
    "protected": {"gender": ["male"]}, "identity_terms": False, "checks": ["group_fairness"], "seed": 42,
}
MANIFEST = {"model": {"sha256": "a" * 64}, "dataset": {"sha256": "b" * 64}, "config": CONFIG,
            "libraries": {"torch": "2.13.0", "aif360": "0.6.1"}}
THRESHOLDS = DEFAULT_POLICY["thresholds"]


def metric(value, low, high, status, group, name):
    return {"value": value, "ci_low": low, "ci_high": high, "threshold": THRESHOLDS.get(name),
            "status": status, "group": group}


def fairness_check(attribute="gender", group="female", di=0.712, status="fail", message="Finding."):
    rates = {"count": 40.0, "selection_rate": 0.3, "base_rate": 0.4, "accuracy": 0.8,
             "tpr": 0.6, "fpr": 0.1, "fnr": 0.4}
    return {
        "id": "group_fairness", "attribute": attribute, "status": status, "message": message,
        "metrics": {
            "statistical_parity_difference": metric(-0.21, -0.3, -0.12, "fail", group, "statistical_parity_difference"),
            "disparate_impact": metric(di, 0.6, 0.83, status, group, "disparate_impact"),
            "equal_opportunity_difference": metric(-0.05, -0.12, 0.02, "pass", group, "equal_opportunity_difference"),
            "average_odds_difference": metric(0.01, -0.05, 0.06, "pass", group, "average_odds_difference"),
        },
        "groups": {
            group: {**rates, "statistical_parity_difference": -0.21, "disparate_impact": di,
                    "equal_opportunity_difference": -0.05, "average_odds_difference": 0.01},
            "privileged: male": {**rates, "count": 60.0, "selection_rate": 0.42},
        },
    }


@pytest.fixture
def audit(org, user):
    model = ModelArtifact.objects.create(
        organisation=org, name="tiny-bert", storage_prefix="models/x", sha256="a" * 64,
        architecture="BertForSequenceClassification", num_parameters=1_234_567, labels={"0": "False", "1": "True"},
    )
    dataset = Dataset.objects.create(
        organisation=org, name="reviews.csv", original_filename="reviews.csv", file_format="csv",
        parquet_path="datasets/x.parquet", sha256="b" * 64, rows=150,
    )
    return Audit.objects.create(
        organisation=org, model=model, dataset=dataset, config=CONFIG, status=Audit.Status.DONE,
        created_by=user, finished_at=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )


def build(audit, checks=None, manifest=None):
    return report_build(audit=audit, checks=[fairness_check()] if checks is None else checks,
                        manifest=MANIFEST if manifest is None else manifest,
                        policy=DEFAULT_POLICY, platform_version="0.1.0")


@pytest.fixture
def document(audit):
    return build(audit)


def test_document_follows_the_contract(audit, document):
    assert set(document) == {"schema_version", "audit", "model", "dataset", "manifest_sha256", "manifest",
                             "policy", "summary", "checks", "explanations", "mitigation", "regulatory"}
    assert document["schema_version"] == 1
    assert document["audit"] == {
        "id": audit.pk, "status": "done", "created_at": audit.created_at.isoformat(),
        "finished_at": "2025-01-02T03:04:05+00:00", "platform_version": "0.1.0", "seed": 42,
    }
    dt.datetime.fromisoformat(document["audit"]["created_at"])
    assert document["model"] == {"name": "tiny-bert", "sha256": "a" * 64, "architecture": "BertForSequenceClassification",
                                 "num_parameters": 1_234_567, "labels": {"0": "False", "1": "True"}}
    assert document["dataset"] == {"name": "reviews.csv", "sha256": "b" * 64, "rows": 150, "text_column": "text",
                                   "label_column": "label", "protected_attributes": {"gender": ["male"]},
                                   "favorable_label": "True"}
    assert document["policy"] == {"name": "default", "version": 1, "thresholds": THRESHOLDS}
    assert document["checks"] == [fairness_check()]
    assert document["explanations"] == [] and document["mitigation"] is None
    assert document["manifest"] == MANIFEST


@pytest.mark.parametrize(("statuses", "verdict"), [
    (["pass", "pass"], "pass"),
    (["pass", "warn"], "warn"),
    (["warn", "fail", "pass"], "fail"),
    (["pass", "error"], "fail"),
    (["skipped", "pass"], "pass"),
    # Nothing assessed is not a pass (no pass without evidence).
    (["skipped", "skipped"], "inconclusive"),
    (["inconclusive", "skipped"], "inconclusive"),
    (["skipped", "warn"], "warn"),
    ([], "inconclusive"),
])
def test_summary_is_the_worst_status(statuses, verdict):
    summary = summarize([{"id": "c", "status": s} for s in statuses])
    assert summary["status"] == verdict
    assert summary["counts"] == {s: statuses.count(s) for s in ("pass", "warn", "fail", "inconclusive", "skipped",
                                                                "error")}


def test_a_check_that_assessed_nothing_makes_the_audit_inconclusive_unless_something_breaches():
    results = [{"id": "group_fairness", "status": "pass"}, {"id": "group_fairness", "status": "skipped"},
               {"id": "counterfactual", "status": "skipped"}]
    summary = summarize(results)
    assert summary["status"] == "inconclusive"
    assert summary["checks"] == {"group_fairness": "pass", "counterfactual": "inconclusive"}
    assert summarize([*results, {"id": "subgroup_auc", "status": "warn"}])["status"] == "warn"
    assert summarize([*results[:2]])["status"] == "pass"


def test_summary_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="unknown status"):
        summarize([{"id": "c", "status": "fine"}])


def test_report_json_is_strict(audit):
    check = fairness_check()
    check["metrics"]["disparate_impact"].update(value=float("nan"), ci_low=np.float64("inf"), ci_high=np.nan)
    check["groups"]["female"]["count"] = np.int64(40)
    check["groups"]["female"]["tpr"] = np.float32("nan")
    check["extra"] = np.array([1.0, np.nan])
    check["missing"] = [pd.NA, pd.NaT, np.bool_(True)]
    document = build(audit, checks=[check], manifest={**MANIFEST, "note": float("-inf")})

    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    loaded = json.loads(report_json(document), parse_constant=refuse)
    assert loaded["checks"][0]["metrics"]["disparate_impact"]["value"] is None
    assert loaded["checks"][0]["metrics"]["disparate_impact"]["ci_low"] is None
    assert loaded["checks"][0]["groups"]["female"]["count"] == 40
    assert loaded["checks"][0]["groups"]["female"]["tpr"] is None
    assert loaded["checks"][0]["extra"] == [1.0, None]
    assert loaded["checks"][0]["missing"] == [None, None, True]
    assert loaded["manifest"]["note"] is None


def test_manifest_hash_is_reproducible(audit, document):
    reordered = {"libraries": {"aif360": "0.6.1", "torch": "2.13.0"}, "config": CONFIG,
                 "dataset": {"sha256": "b" * 64}, "model": {"sha256": "a" * 64}}
    expected = hashlib.sha256(
        json.dumps(MANIFEST, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert document["manifest_sha256"] == expected == manifest_sha256(reordered)
    assert build(audit)["manifest_sha256"] == expected
    # A regulator holding only report.json can verify it.
    loaded = json.loads(report_json(document))
    assert manifest_sha256(loaded["manifest"]) == loaded["manifest_sha256"]
    assert manifest_sha256({**MANIFEST, "libraries": {"torch": "2.14.0"}}) != expected


def test_html_shows_the_findings_and_escapes_user_text(audit):
    evil = "<script>alert(1)</script>"
    audit.model.name = evil
    document = build(audit, checks=[fairness_check(group=evil, message=f"Group {evil} is hurt.")])
    html = render_html(document)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for text in ("Disparate impact (DI)", "0.712", "[0.600, 0.830]", "0.800 to 1.250", "Fail", "1,234,567",
                 "a" * 64, "b" * 64, document["manifest_sha256"], "privileged: male", "default (version 1)"):
        assert text in html, text
    assert "<svg" in html


def test_html_file_inlines_the_stylesheet_and_the_pdf_page_links_it(document):
    standalone = render_html(document)
    assert "<link" not in standalone and "@page" in standalone
    assert '<link rel="stylesheet" href="/static/audits/report.css">' in render_html(document, pdf=True)


def test_body_renders_from_report_context_with_awkward_groups(audit):
    # "items" would shadow dict.items in a template loop over the groups.
    check = fairness_check(group="items")
    check["metrics"]["average_odds_difference"].update(value=None, ci_low=None, ci_high=None)
    document = build(audit, checks=[check, {
        "id": "sampling_bias", "attribute": None, "status": "error", "message": "Could not run."}])
    body = render_to_string("audits/report_body.html", report_context(document))
    assert "items" in body and "Could not run." in body and "Sampling bias" in body
    assert "—" in body  # a null figure is a dash, not "None"
    assert "None" not in body


def test_pdf_text_contains_the_disparate_impact(document):
    pdf = render_pdf(document)
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "0.712" in text and "Disparate impact" in text and "tiny-bert" in text


@pytest.mark.parametrize("url", [
    "http://example.com", "https://example.com/static/audits/report.css", "file:///etc/passwd",
    "data:text/css,body{}", "/static/../settings.py", "/static/audits/../../auditplatform/settings.py",
    f"{BASE_URL}static/%2e%2e/auditplatform/settings.py", f"{BASE_URL}static/audits%2f..%2f..%2fmanage.py",
    "//example.com/static/audits/report.css", f"{BASE_URL}media/secret.csv", "/static/audits/missing.css",
    "/static/", "ftp://example.com/static/audits/report.css",
])
def test_fetcher_refuses_everything_but_our_static_files(url):
    with pytest.raises(AssetRefused):
        StaticOnlyFetcher().fetch(url)


@pytest.mark.parametrize("url", ["/static/audits/report.css", f"{BASE_URL}static/audits/report.css"])
def test_fetcher_serves_our_stylesheet(url):
    response = StaticOnlyFetcher().fetch(url)
    expected = (Path(settings.BASE_DIR) / "static/audits/report.css").read_bytes()
    assert response.read() == expected
    assert response.content_type == "text/css"


def test_pdf_renderer_never_opens_a_socket(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the PDF renderer tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    page = ('<link rel="stylesheet" href="http://example.com/x.css"><img src="https://example.com/x.png">'
            '<img src="file:///etc/passwd"><p>offline</p>')
    assert HTML(string=page, base_url=BASE_URL, url_fetcher=StaticOnlyFetcher()).write_pdf().startswith(b"%PDF")


def predictions_frame():
    return pd.DataFrame({"row": [0, 1, 2], "label": ["True", "False", "True"], "prediction": ["True", "True", "False"],
                         "probability": [0.91, 0.55, 0.125], "gender": ["female", "male", "=cmd"], "age": ["30-40", "", "60+"]})


def test_predictions_csv_keeps_the_frame_order():
    data = predictions_csv(predictions_frame())
    lines = data.decode().splitlines()
    assert lines[0] == "row,label,prediction,probability,gender,age"
    assert lines[1] == "0,True,True,0.91,female,30-40"
    assert pd.read_csv(io.BytesIO(data), keep_default_na=False)["gender"].tolist() == ["female", "male", "=cmd"]


def test_predictions_csv_needs_the_fixed_columns_first():
    with pytest.raises(ValueError, match="must start with"):
        predictions_csv(predictions_frame()[["label", "row", "prediction", "probability"]])


def test_report_files_gives_the_four_files(document):
    files = report_files(document, predictions_frame())
    assert set(files) == {"report.json", "report.html", "report.pdf", "predictions.csv"}
    assert json.loads(files["report.json"]) == document
    assert files["report.json"].startswith(b'{"schema_version":1,')  # compact: no indentation
    assert files["report.html"].startswith(b"<!DOCTYPE html>") and b"<style>" in files["report.html"]
    assert files["report.pdf"].startswith(b"%PDF")
    assert files["predictions.csv"].startswith(b"row,label,prediction,probability,gender,age\n")
