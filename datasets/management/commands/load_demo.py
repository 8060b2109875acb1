"""`manage.py load_demo`: create the synthetic Demo project (idempotent; owned by the admin)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from datasets.demo import load_demo


class Command(BaseCommand):
    help = "Create or complete the Demo project: synthetic mammograms, ultrasound and a slide."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--owner", help="username of the owner (default: the admin)")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = None
        if options.get("owner"):
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"no user named '{options['owner']}'")
        started = time.monotonic()
        project = load_demo(owner=owner, log=self.stdout.write)
        self.stdout.write(
            f"Demo project id {project.pk} loaded in {time.monotonic() - started:.1f} s"
        )
