"""URLs of the review workflow, comparison, audit trail and regulator portal
(included from audits/urls.py, so their names are in the `audits` namespace)."""
from django.urls import path

from . import views_review as views

urlpatterns = [
    path("start/", views.start, name="start"),
    path("reviews/", views.review_queue_view, name="review_queue"),
    path("audits/compare/", views.audit_compare_view, name="audit_compare"),
    path("audits/<int:pk>/review/", views.audit_review, name="audit_review"),
    path("audits/<int:pk>/share/", views.audit_share, name="audit_share"),
    path("audits/<int:pk>/trail.csv", views.audit_trail_csv, name="audit_trail_csv"),
    path("regulator/", views.regulator_home, name="regulator_home"),
    path("regulator/reports/<int:pk>/", views.regulator_report, name="regulator_report"),
    path("regulator/reports/<int:pk>/download/<str:kind>/", views.regulator_download, name="regulator_download"),
]
