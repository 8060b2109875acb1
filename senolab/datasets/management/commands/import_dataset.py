"""`manage.py import_dataset --format busi PATH --project NAME [--create]`: import and summarise."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from senolab.datasets.importers import FORMATS, import_dataset
from senolab.projects.models import Membership, Project, Role


class Command(BaseCommand):
    help = "Import a public data set in its published layout, with its labels as ground truth."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path", help="the data set's folder (or file for medmnist)")
        parser.add_argument("--format", required=True, choices=sorted(FORMATS))
        parser.add_argument("--project", required=True, help="project name")
        parser.add_argument(
            "--create", action="store_true", help="create the project if it does not exist"
        )
        parser.add_argument("--owner", help="username made owner of a created project")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            if not options["create"]:
                raise CommandError(f"no project named '{options['project']}' (add --create)")
            project = Project.objects.create(
                name=options["project"], slug=slugify(options["project"])[:100] or "project"
            )
            owner = options.get("owner")
            if owner:
                user = get_user_model().objects.filter(username=owner).first()
                if user is None:
                    raise CommandError(f"no user named '{owner}'")
                Membership.objects.create(project=project, user=user, role=Role.OWNER)
        last = [-1]

        def progress(fraction: float, message: str) -> None:
            step = int(fraction * 20)
            if step != last[0]:
                last[0] = step
                self.stderr.write(f"{fraction:6.1%} {message}")

        try:
            report = import_dataset(project, options["format"], options["path"], progress=progress)
        except (ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.summary())
        if report.failed and not report.images and not report.slides and not report.duplicates:
            raise CommandError("nothing was imported")
