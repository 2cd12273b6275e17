"""API URLs (namespace "api"), mounted at the site root: /api/... and /account/token/.

Paths are written out rather than made by a router so each has the exact shape the
README documents (report.json without a trailing slash) and a plain name: `api:<thing>-<action>`.
"""
from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from audits.api import account
from audits.api.views import AuditViewSet, DatasetViewSet, ModelViewSet

app_name = "api"


def _view(viewset, mapping: dict[str, str], *, detail: bool, basename: str):
    """The viewset bound to `mapping`, with each @action's own settings (parsers), as a router would."""
    initkwargs = {"basename": basename, "detail": detail}
    for method in mapping.values():
        func = getattr(viewset, method)
        if hasattr(func, "mapping"):  # an @action; list/create/retrieve carry no settings of their own
            initkwargs.update(func.kwargs)
    return viewset.as_view(mapping, **initkwargs)


urlpatterns = [
    path("api/models/", _view(ModelViewSet, {"get": "list", "post": "create"}, detail=False, basename="model"),
         name="model-list"),
    path("api/models/<int:pk>/", _view(ModelViewSet, {"get": "retrieve"}, detail=True, basename="model"),
         name="model-detail"),
    path("api/datasets/", _view(DatasetViewSet, {"get": "list", "post": "create"}, detail=False,
                                basename="dataset"), name="dataset-list"),
    path("api/datasets/<int:pk>/", _view(DatasetViewSet, {"get": "retrieve"}, detail=True, basename="dataset"),
         name="dataset-detail"),
    path("api/datasets/<int:pk>/mapping/", _view(DatasetViewSet, {"post": "mapping"}, detail=True,
                                                 basename="dataset"), name="dataset-mapping"),
    path("api/audits/", _view(AuditViewSet, {"get": "list", "post": "create"}, detail=False, basename="audit"),
         name="audit-list"),
    path("api/audits/<int:pk>/", _view(AuditViewSet, {"get": "retrieve"}, detail=True, basename="audit"),
         name="audit-detail"),
    path("api/audits/<int:pk>/report.json", _view(AuditViewSet, {"get": "report_json"}, detail=True,
                                                  basename="audit"), name="audit-report-json"),
    path("api/audits/<int:pk>/report.pdf", _view(AuditViewSet, {"get": "report_pdf"}, detail=True,
                                                 basename="audit"), name="audit-report-pdf"),
    path("api/audits/<int:pk>/gate/", _view(AuditViewSet, {"get": "gate"}, detail=True, basename="audit"),
         name="audit-gate"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("account/token/", account.token_view, name="account-token"),
]
