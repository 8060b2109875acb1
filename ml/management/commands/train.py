"""`manage.py train --list-recipes` and `manage.py train --project NAME --recipe RECIPE [--wait]`.

Without --wait the run is queued on the `gpu` Celery queue and its ids are printed. With --wait
the training runs in this process (same code path as the worker: a Job row, progress, atomic
registration), so scripts need no running worker; progress lines go to stderr as it trains, and
the model version id is printed last on stdout.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.models import ModelVersion
from ml.services import engine, training
from ml.services.results import flat_metrics
from senolab.jobs import services as jobs
from senolab.jobs.console import ProgressLines
from senolab.jobs.models import Job, JobStatus
from senolab.projects.models import Project


class Command(BaseCommand):
    help = "List training recipes, or train one on a project's annotated cases."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--list-recipes", action="store_true")
        parser.add_argument("--project", help="project name")
        parser.add_argument("--recipe", help="recipe name (see --list-recipes)")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="train here and now; print the model version id last",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
        parser.add_argument("--input-size", type=int, help="override the recipe's input side")
        parser.add_argument("--batch-size", type=int, help="override the recipe's batch size")
        parser.add_argument("--ground-truth", default="any", choices=["any", "reference", "human"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list_recipes"]:
            for r in engine.recipe_descriptions():
                self.stdout.write(
                    f"{r['name']}\t{r['task']}\t{r['modality']}\t{r['label']}\t{r['description']}"
                )
            return
        if not options["project"] or not options["recipe"]:
            raise CommandError("give --project NAME and --recipe RECIPE (or --list-recipes)")
        project = Project.objects.filter(name=options["project"]).first()
        if project is None:
            raise CommandError(f"no project named '{options['project']}'")
        if options["recipe"] not in engine.recipe_names_without_torch():
            raise CommandError(f"unknown recipe '{options['recipe']}' (see --list-recipes)")
        overrides: dict[str, Any] = {}
        if options["epochs"]:
            overrides["epochs"] = options["epochs"]
        if options["input_size"]:
            overrides["input_size"] = [options["input_size"]] * 2
        if options["batch_size"]:
            overrides["batch_size"] = options["batch_size"]
        run = training.start_training(
            project,
            options["recipe"],
            seed=options["seed"],
            ground_truth=options["ground_truth"],
            enqueue=not options["wait"],
            overrides=overrides,
        )
        if not options["wait"]:
            self.stdout.write(f"training run {run.pk} queued as job {run.job_id}")
            return

        self.stderr.write(f"training run {run.pk} (job {run.job_id}) started")
        job = jobs.run_in_process(
            Job.objects.get(training_run=run),
            training.run_training,
            worker="manage.py train",
            echo=ProgressLines(self.stderr.write),
        )
        training.mirror_run_status(job)
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(f"training {job.status}: {job.message}")
        version = ModelVersion.objects.get(training_run=run)
        metrics = flat_metrics(version.metrics)
        shown = {
            k: metrics[k]
            for k in ("n", "auc", "auc_ci", "sensitivity", "specificity", "dice", "froc")
            if k in metrics
        }
        self.stderr.write(f"training run {run.pk}: {shown}")
        self.stdout.write(str(version.pk))
