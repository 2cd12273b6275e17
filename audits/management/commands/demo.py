"""`manage.py demo`: set up the demo organisation, users, model, dataset, audit and debiasing run.

Idempotent. In the foreground (the default) it builds everything before it returns: the
first run fine-tunes the model and audits it (tens of minutes on two CPU cores), later
runs find everything in place and only print the logins. With `--background` (what
`make run` uses) it makes the logins, queues the rest for the worker and returns at once;
the home page shows the build's progress.
"""
from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from audits.demo import URL, demo_logins, demo_setup
from audits.errors import BadInput
from audits.services.demo_builds import demo_build_queue


class Command(BaseCommand):
    help = "Create (or find) the demo: a fine-tuned MiniLM toxicity model audited on held-out comments."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=0, help="split and training seed (default 0)")
        parser.add_argument("--background", action="store_true",
                            help="make the logins now and let the worker build the rest (make run)")

    def handle(self, *args, **opts):
        # A fresh checkout has no tables yet; migrate is a no-op once they exist.
        call_command("migrate", interactive=False, verbosity=0)
        if not opts["background"]:
            self.stdout.write("Building the demo (training, audit, debiasing); this takes a while the first time.")
            try:
                demo_setup(stdout=self.stdout, seed=opts["seed"])
            except BadInput as exc:
                raise CommandError(str(exc)) from exc
            return
        build, people = demo_build_queue(seed=opts["seed"])
        state = ("ready" if build is None else
                 "being built by the worker: training the model, then its audit and a debiasing run;"
                 " the home page shows the progress")
        self.stdout.write(f"Demo at {URL} ({state})\n" + demo_logins(people))
