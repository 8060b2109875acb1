"""`manage.py import_dataset --format busi PATH --project NAME [--create]`: import and summarise.

Runs in this process (no worker needed) as an import_dataset Job, so /api/jobs/ and the UI show
its progress; prints progress lines as it goes, then the summary.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from datasets.importers import FORMATS
from datasets.services import import_dataset_in_process
from senolab.jobs.console import ProgressLines
from senolab.jobs.models import JobStatus
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
        user = None
        if options.get("owner"):
            user = get_user_model().objects.filter(username=options["owner"]).first()
            if user is None:
                raise CommandError(f"no user named '{options['owner']}'")
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            if not options["create"]:
                raise CommandError(f"no project named '{options['project']}' (add --create)")
            project = Project.objects.create(
                name=options["project"], slug=slugify(options["project"])[:100] or "project"
            )
            if user is not None:
                Membership.objects.create(project=project, user=user, role=Role.OWNER)
        job, report = import_dataset_in_process(
            project,
            options["format"],
            options["path"],
            user=user,
            echo=ProgressLines(self.stderr.write),
        )
        if report is not None:
            self.stdout.write(report.summary())
        self.stderr.write(f"job {job.pk}: {job.status}")
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(job.message or f"import {job.status}")
