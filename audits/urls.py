"""URLs of the audit domain."""
from django.urls import include, path

from . import views

app_name = "audits"
urlpatterns = [
    path("", views.home, name="home"),
    path("models/upload/", views.model_upload_view, name="model_upload"),
    path("models/<int:pk>/", views.model_detail, name="model_detail"),
    path("datasets/upload/", views.dataset_upload_view, name="dataset_upload"),
    path("datasets/<int:pk>/map/", views.dataset_map_view, name="dataset_map"),
    path("audits/new/", views.audit_new, name="audit_new"),
    path("audits/<int:pk>/", views.audit_detail, name="audit_detail"),
    path("audits/<int:pk>/progress/", views.audit_progress, name="audit_progress"),
    path("audits/<int:pk>/report/", views.audit_report, name="audit_report"),
    path("audits/<int:pk>/download/<str:kind>/", views.audit_download, name="audit_download"),
    path("identity-terms/", views.lexicon_view, name="lexicon"),
    path("", include("audits.urls_signing")),  # verify page and public key, in this namespace
    path("", include("audits.urls_review")),  # review, comparison, trail, regulator portal
    path("", include("audits.urls_mitigation")),  # debiasing runs
]
