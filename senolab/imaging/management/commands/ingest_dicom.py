"""`manage.py ingest_dicom PATH... --project NAME`: ingest DICOM files, folders and zips now.

Runs in this process (no worker needed) and prints the report: new images, duplicates,
skipped side files and every failed item with its reason. Exits non-zero when items failed
and nothing went in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from senolab.projects.models import Project


class Command(BaseCommand):
    help = "Ingest DICOM files, folders and zip archives into a project (de-identified)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", help="DICOM files, folders or zip archives")
        parser.add_argument("--project", required=True, help="project name")

    def handle(self, *args: Any, **options: Any) -> None:
        from senolab.imaging.ingest.service import ingest_paths

        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named '{options['project']}'")
        paths = [Path(p) for p in options["paths"]]
        missing = [str(n) for n, p in enumerate(paths, start=1) if not p.exists()]
        if missing:
            raise CommandError(f"no file or folder at path number {', '.join(missing)}")
        last = [-1]

        def progress(fraction: float, message: str) -> None:
            step = int(fraction * 10)
            if step != last[0]:
                last[0] = step
                self.stderr.write(f"{fraction:6.1%} {message}")

        report = ingest_paths(project, paths, progress=progress)
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
        if report.failed and not report.images and not report.duplicates:
            raise CommandError("nothing was ingested")
