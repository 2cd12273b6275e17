"""The OpenAPI schema: valid OpenAPI 3, served to authenticated callers, and complete."""
from __future__ import annotations

import pytest
import yaml
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from openapi_spec_validator import validate

EXPECTED = {
    "/api/models/": {"get", "post"}, "/api/models/{id}/": {"get"},
    "/api/datasets/": {"get", "post"}, "/api/datasets/{id}/": {"get"}, "/api/datasets/{id}/mapping/": {"post"},
    "/api/audits/": {"get", "post"}, "/api/audits/{id}/": {"get"}, "/api/audits/{id}/report.json": {"get"},
    "/api/audits/{id}/report.pdf": {"get"}, "/api/audits/{id}/gate/": {"get"},
}


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_generated_schema_is_valid_openapi_and_lists_every_endpoint():
    schema = _schema()
    validate(schema)
    assert {path: set(ops) for path, ops in schema["paths"].items()} == EXPECTED


def test_schema_documents_the_gate_and_uploads():
    schema = _schema()
    gate = schema["paths"]["/api/audits/{id}/gate/"]["get"]["responses"]
    assert {"200", "409", "425"} <= set(gate)
    upload = schema["paths"]["/api/models/"]["post"]["requestBody"]["content"]
    fields = upload["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"name", "archive", "files"} <= set(schema["components"]["schemas"][fields]["properties"])
    assert "application/pdf" in schema["paths"]["/api/audits/{id}/report.pdf"]["get"]["responses"]["200"]["content"]
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.django_db
def test_schema_endpoint_serves_the_same_valid_document(api):
    response = api.get(reverse("api:schema"))
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    validate(served)
    assert set(served["paths"]) == set(EXPECTED)
    as_json = api.get(reverse("api:schema") + "?format=json")
    assert as_json["Content-Type"].startswith("application/vnd.oai.openapi+json") and as_json.json() == served
