"""`manage.py ingest_dicom PATH... --project NAME`: ingest DICOM files, folders and zips now.

Runs in this process (no worker needed) as an ingest Job, so /api/jobs/ and the UI show its
progress like an upload's; prints progress lines as it goes, then the report: new images,
duplicates, skipped side files and every failed item with its reason. Exits non-zero when items
failed and nothing went in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from senolab.jobs.console import ProgressLines
from senolab.jobs.models import JobStatus
from senolab.projects.models import Project


class Command(BaseCommand):
    help = "Ingest DICOM files, folders and zip archives into a project (de-identified)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", help="DICOM files, folders or zip archives")
        parser.add_argument("--project", required=True, help="project name")

    def handle(self, *args: Any, **options: Any) -> None:
        from senolab.imaging.ingest.jobs import ingest_paths_in_process  # pydicom loads here

        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named '{options['project']}'")
        paths = [Path(p) for p in options["paths"]]
        missing = [str(n) for n, p in enumerate(paths, start=1) if not p.exists()]
        if missing:
            raise CommandError(f"no file or folder at path number {', '.join(missing)}")
        job, report = ingest_paths_in_process(
            project, paths, echo=ProgressLines(self.stderr.write, step=0.1)
        )
        if report is not None:
            self.stdout.write(
                f"{len(report.images)} images ingested, {report.duplicates} "
                f"duplicates, {report.skipped} side files skipped, "
                f"{len(report.failed)} failed"
            )
            for label, message in report.failed:
                self.stdout.write(f"  failed: {label}: {message}")
            if report.quarantined:
                self.stdout.write(f"  {report.quarantined} quarantined for burned-in text")
            for keyword, count in sorted(report.removed_characteristics.items()):
                self.stdout.write(f"  {keyword}: {count} invalid value(s) removed")
        self.stderr.write(f"job {job.pk}: {job.status}")
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(job.message or f"ingest {job.status}")
