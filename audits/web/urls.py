"""URLs of the web pages (namespace "audits"), grouped by area; each group's views live
in the module of the same name. Names and paths are what templates and tests reverse."""
from django.urls import path

from audits.web import audits, compression, deletion, mitigation, regulator, review, signing, uploads

app_name = "audits"

audit_patterns = [
    path("", audits.home, name="home"),
    path("demo/progress/", audits.demo_progress, name="demo_progress"),
    path("audits/new/", audits.audit_new, name="audit_new"),
    path("audits/<int:pk>/", audits.audit_detail, name="audit_detail"),
    path("audits/<int:pk>/progress/", audits.audit_progress, name="audit_progress"),
    path("audits/<int:pk>/rerun/", audits.audit_rerun_view, name="audit_rerun"),
    path("audits/<int:pk>/report/", audits.audit_report, name="audit_report"),
    path("audits/<int:pk>/download/<str:kind>/", audits.audit_download, name="audit_download"),
    path("audits/<int:pk>/compression/", compression.audit_compression, name="audit_compression"),
]

upload_patterns = [
    path("models/upload/", uploads.model_upload_view, name="model_upload"),
    path("models/<int:pk>/", uploads.model_detail, name="model_detail"),
    path("datasets/upload/", uploads.dataset_upload_view, name="dataset_upload"),
    path("datasets/<int:pk>/map/", uploads.dataset_map_view, name="dataset_map"),
    path("identity-terms/", uploads.lexicon_view, name="lexicon"),
    path("models/<int:pk>/delete/", deletion.model_delete, name="model_delete"),
    path("datasets/<int:pk>/delete/", deletion.dataset_delete, name="dataset_delete"),
    path("audits/<int:pk>/delete/", deletion.audit_delete, name="audit_delete"),
]

# Open to everyone, logged in or not: checking a signed report needs no account.
signing_patterns = [
    path("verify/", signing.verify_report, name="verify_report"),
    path("signing-key/", signing.signing_key, name="signing_key"),
    path("signing-key.pem", signing.signing_key_pem, name="signing_key_pem"),
]

review_patterns = [
    path("start/", review.start, name="start"),
    path("reviews/", review.review_queue_view, name="review_queue"),
    path("audits/compare/", review.audit_compare_view, name="audit_compare"),
    path("audits/<int:pk>/review/", review.audit_review, name="audit_review"),
    path("audits/<int:pk>/signoff/", review.audit_signoff, name="audit_signoff"),
    path("notices/", review.notices_view, name="notices"),
    path("audits/<int:pk>/share/", review.audit_share, name="audit_share"),
    path("audits/<int:pk>/trail.csv", review.audit_trail_csv, name="audit_trail_csv"),
]

regulator_patterns = [
    path("regulator/", regulator.regulator_home, name="regulator_home"),
    path("regulator/reports/<int:pk>/", regulator.regulator_report, name="regulator_report"),
    path("regulator/reports/<int:pk>/download/<str:kind>/", regulator.regulator_download,
         name="regulator_download"),
]

mitigation_patterns = [
    path("audits/<int:pk>/mitigate/", mitigation.mitigation_start, name="mitigation_start"),
    path("mitigations/<int:pk>/", mitigation.mitigation_detail, name="mitigation_detail"),
    path("mitigations/<int:pk>/progress/", mitigation.mitigation_progress, name="mitigation_progress"),
    path("mitigations/<int:pk>/cancel/", mitigation.mitigation_cancel_view, name="mitigation_cancel"),
]

urlpatterns = [*audit_patterns, *upload_patterns, *signing_patterns, *review_patterns, *regulator_patterns,
               *mitigation_patterns]
