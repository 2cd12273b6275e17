"""App config for audits."""
from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # signals connects the frozen-report guards. Services start tasks by name
        # (audits.services.jobs), so every process, not only a worker, must know them.
        # worker connects the reconciler round a worker runs when it starts.
        from audits import (
            signals,  # noqa: F401
            tasks,  # noqa: F401
            worker,  # noqa: F401
        )
