"""App config for audits."""
from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from audits import signals  # noqa: F401 - connects the frozen-report guards
