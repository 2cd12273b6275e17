"""API views: the role verb (permissions.HasRoleVerb), the organisation's objects, one service
call. They call the services the web views call, so uploads, mappings and audits made
here are the same records, checked by the same rules, with the same messages."""
from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from audits import access
from audits.api import serializers as s
from audits.api.gate import RETRY_AFTER_SECONDS, gate_decision
from audits.api.permissions import HasRoleVerb
from audits.errors import BadInput, QueueUnavailable
from audits.models import Audit, Dataset, ModelArtifact
from audits.services.audits import audit_create_once, report_download
from audits.services.datasets import dataset_map, dataset_upload
from audits.services.model_prompts import prompt_spec_build
from audits.services.model_uploads import model_upload

DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}


class InvalidInput(APIException):
    """A service refused the input; its message names the file, row or column."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_input"


class OrganisationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List and detail of one organisation's objects; `verbs` names each action's role verb."""

    permission_classes = [HasRoleVerb]
    verbs: dict[str, str] = {}
    scope = None  # access.org_models / org_datasets / org_audits
    model_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no organisation
            return self.model_class.objects.none()
        return self.scope(self.request.organisation)

    def handle_exception(self, exc):
        if isinstance(exc, BadInput):
            exc = InvalidInput(str(exc))
        return super().handle_exception(exc)

    def created(self, serializer_class, instance, url_name: str) -> Response:
        data = serializer_class(instance, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED,
                        headers={"Location": reverse(url_name, args=[instance.pk])})


BAD_INPUT = OpenApiResponse(DETAIL, description="Refused input; `detail` names the file, row or column.")
QUEUE_DOWN = OpenApiResponse(DETAIL, description=(
    "The job queue (broker) cannot be reached: the audit is stored as queued (`id`) and starts "
    "when the queue is back (Retry-After)."))


class ModelViewSet(OrganisationViewSet):
    """Uploaded models: a Hugging Face folder, checked, hashed and stored."""

    serializer_class = s.ModelSerializer
    parser_classes = [MultiPartParser]
    verbs = {"list": "read", "retrieve": "read", "create": "upload"}
    scope = staticmethod(access.org_models)
    model_class = ModelArtifact

    @extend_schema(request={"multipart/form-data": s.ModelUploadSerializer},
                   responses={201: s.ModelSerializer, 400: BAD_INPUT})
    def create(self, request):
        upload = s.ModelUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        data = upload.validated_data
        prompt = prompt_spec_build(template=data.get("prompt_template"), verbalizers=data.get("verbalizers"),
                                   few_shot=data.get("few_shot"), calibrate=data["calibrate"])
        model = model_upload(organisation=request.organisation, user=request.user,
                             name=data["name"], files=upload.uploads(), prompt=prompt)
        return self.created(s.ModelSerializer, model, "api:model-detail")


class DatasetViewSet(OrganisationViewSet):
    """Uploaded datasets (CSV, JSONL, Parquet) and their column mapping."""

    serializer_class = s.DatasetSerializer
    parser_classes = [MultiPartParser, JSONParser]
    verbs = {"list": "read", "retrieve": "read", "create": "upload", "mapping": "upload"}
    scope = staticmethod(access.org_datasets)
    model_class = Dataset

    @extend_schema(request={"multipart/form-data": s.DatasetUploadSerializer},
                   responses={201: s.DatasetSerializer, 400: BAD_INPUT})
    def create(self, request):
        upload = s.DatasetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        dataset = dataset_upload(organisation=request.organisation, user=request.user,
                                 name=upload.validated_data["name"], uploaded_file=upload.validated_data["file"])
        return self.created(s.DatasetSerializer, dataset, "api:dataset-detail")

    @extend_schema(request=s.MappingSerializer, responses={200: s.DatasetSerializer, 400: BAD_INPUT})
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def mapping(self, request, pk=None):
        dataset = self.get_object()
        given = s.MappingSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        dataset = dataset_map(dataset=dataset, mapping=given.validated_data)
        return Response(s.DatasetSerializer(dataset, context=self.get_serializer_context()).data)


class AuditViewSet(OrganisationViewSet):
    """Audits: start one, follow its progress, fetch its report, gate a release on it."""

    serializer_class = s.AuditSerializer
    parser_classes = [JSONParser]
    verbs = {"list": "read", "retrieve": "read", "create": "audit", "report_json": "read",
             "report_pdf": "read", "gate": "read"}
    scope = staticmethod(access.org_audits)
    model_class = Audit

    @extend_schema(
        request=s.AuditCreateSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description=(
            "Optional, up to 100 characters: a retried request with the same key returns the audit "
            "the first one made (200) instead of starting another."))],
        responses={201: s.AuditSerializer, 200: s.AuditSerializer, 400: BAD_INPUT, 503: QUEUE_DOWN})
    def create(self, request):
        given = s.AuditCreateSerializer(data=request.data, context=self.get_serializer_context())
        given.is_valid(raise_exception=True)
        try:
            # Sent to a worker once committed, as from the web form.
            audit, new = audit_create_once(
                organisation=request.organisation, user=request.user, model=given.validated_data["model"],
                dataset=given.validated_data["dataset"], config=given.config(),
                request_key=request.headers.get("Idempotency-Key", ""))
        except QueueUnavailable as exc:
            audit_id = exc.job_ids[0]
            return Response(
                {"detail": "The audit is stored, queued, but the job queue cannot be reached; it starts "
                           "when the queue is back. Follow it at its URL, or retry with the same "
                           "Idempotency-Key.", "id": audit_id, "status": "queued"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Location": reverse("api:audit-detail", args=[audit_id])})
        if not new:
            data = s.AuditSerializer(audit, context=self.get_serializer_context()).data
            return Response(data, headers={"Location": reverse("api:audit-detail", args=[audit.pk])})
        return self.created(s.AuditSerializer, audit, "api:audit-detail")

    @extend_schema(operation_id="audits_report_json", responses={(200, "application/json"): OpenApiTypes.OBJECT,
                              404: OpenApiResponse(DETAIL, description="Not found, or no report yet.")},
                   description="The stored report.json document of a finished audit (DESIGN.md).")
    @action(detail=True, methods=["get"])
    def report_json(self, request, pk=None):
        return self._file(self.get_object(), "report.json", "application/json")

    @extend_schema(operation_id="audits_report_pdf", responses={(200, "application/pdf"): OpenApiTypes.BINARY,
                              404: OpenApiResponse(DETAIL, description="Not found, or no report yet.")},
                   description="The PDF report of a finished audit.")
    @action(detail=True, methods=["get"])
    def report_pdf(self, request, pk=None):
        return self._file(self.get_object(), "report.pdf", "application/pdf")

    @extend_schema(operation_id="audits_gate", responses={200: s.GateSerializer, 409: s.GateSerializer, 425: s.GateSerializer},
                   description="CI gate. 200: done and no check fails the policy (warnings allowed). "
                               "409: a check fails the policy or errored, or the audit failed. "
                               "425 (with Retry-After): still queued or running.")
    @action(detail=True, methods=["get"])
    def gate(self, request, pk=None):
        code, body = gate_decision(self.get_object())
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if code == status.HTTP_425_TOO_EARLY else None
        return Response(body, status=code, headers=headers)

    def _file(self, audit: Audit, name: str, content_type: str) -> FileResponse:
        try:
            handle = report_download(audit=audit, user=self.request.user, name=name, detail={"via": "api"})
        except FileNotFoundError as exc:
            raise NotFound(f"Audit {audit.pk} has no {name} (status: {audit.status}).") from exc
        return FileResponse(handle, filename=f"audit-{audit.pk}-{name}", content_type=content_type)
