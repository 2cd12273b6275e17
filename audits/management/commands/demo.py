"""`manage.py demo`: set up the demo organisation, user, model, dataset and audit.

Idempotent: the first run fine-tunes the model (a few minutes on two CPU cores) and
runs the audit; later runs find everything in place and only print the login.
"""
from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from audits.demo import demo_setup


class Command(BaseCommand):
    help = "Create (or find) the demo: a fine-tuned MiniLM toxicity model audited on held-out comments."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")

    def handle(self, *args, **opts):
        # A fresh checkout has no tables yet; migrate is a no-op once they exist.
        call_command("migrate", interactive=False, verbosity=0)
        demo_setup(stdout=self.stdout, seed=opts["seed"])
