"""URLs of signed reports; included into the audits namespace by audits/urls.py."""
from django.urls import path

from . import views_signing

urlpatterns = [
    path("verify/", views_signing.verify_report, name="verify_report"),
    path("signing-key/", views_signing.signing_key, name="signing_key"),
    path("signing-key.pem", views_signing.signing_key_pem, name="signing_key_pem"),
]
