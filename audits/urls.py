"""URLs of the audit domain."""
from django.urls import path

from . import views

app_name = "audits"
urlpatterns = [
    path("", views.home, name="home"),
]
