"""URLs of debiasing runs: start one from an audit, follow it, cancel it."""
from django.urls import path

from . import views_mitigation as views

urlpatterns = [
    path("audits/<int:pk>/mitigate/", views.mitigation_start, name="mitigation_start"),
    path("mitigations/<int:pk>/", views.mitigation_detail, name="mitigation_detail"),
    path("mitigations/<int:pk>/progress/", views.mitigation_progress, name="mitigation_progress"),
    path("mitigations/<int:pk>/cancel/", views.mitigation_cancel_view, name="mitigation_cancel"),
]
