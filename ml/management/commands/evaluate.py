"""`manage.py evaluate --model-version ID --format FORMAT PATH --json OUT`.

Imports PATH (read only) into a throw-away project, evaluates the version on every imported
case with ground truth, writes the flat metrics as JSON, and deletes the project and its files.
Progress lines go to stderr as the evaluation runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.models import ModelVersion
from ml.services import evaluation
from senolab.jobs.console import ProgressLines

FORMATS = ("mini-mias", "busi", "medmnist", "dicom")


class Command(BaseCommand):
    help = "Evaluate a model version on an external data set; write its metrics as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("path")
        parser.add_argument("--model-version", type=int, required=True)
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--json", required=True, help="output file")
        parser.add_argument("--device", default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        version = ModelVersion.objects.filter(pk=options["model_version"]).first()
        if version is None:
            raise CommandError(f"no model version {options['model_version']}")
        if not Path(options["path"]).exists():
            raise CommandError("the data set path does not exist")
        self.stderr.write(f"importing the {options['format']} data set into a throw-away project")
        try:
            metrics = evaluation.evaluate_folder(
                version,
                options["format"],
                options["path"],
                device=options["device"],
                progress=ProgressLines(self.stderr.write),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        flat = {k: metrics[k] for k in evaluation.FLAT_METRIC_KEYS if metrics.get(k) is not None}
        # Curves and per-class figures are kept beside the flat keys for whoever wants them.
        extra = {k: v for k, v in metrics.items() if k not in flat}
        out = {**flat, "model_version": version.pk, "recipe": version.recipe, "extra": extra}
        Path(options["json"]).write_text(json.dumps(out, indent=2))
        self.stdout.write(json.dumps(flat))
