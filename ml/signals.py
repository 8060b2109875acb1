"""Receivers of the ML app: training runs settled when their job finished elsewhere, new
exams pre-annotated after ingest, a retraining policy's PeriodicTask kept in step with it
both ways (every save of the policy, the admin's included, writes it; deleting the policy deletes
it; an admin's edit of the task becomes the policy's schedule, and deleting the task leaves the
policy without one), and a
project's active-learning round queued when a version from a training run is activated.

Keep TrainingRun.status true when a run's job was finished outside the ML code.

The worker finishing a training settles its run itself (ml.services.training.run_training); a
job failed because its worker died, by the reaper, or cancelled while still queued, is finished by
the jobs app, which knows nothing of runs. It announces those bulk finishes
(`jobs_finished_elsewhere`, after the commit), and the runs take their job's final status at once;
a (re)starting worker settles them too, for finishes that happened while no process was there to
hear the signal.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready
from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver
from django_celery_beat.models import PeriodicTask

from ml.models import RetrainingPolicy
from ml.services import active_learning, prediction, registry, retraining, training
from ml.services.errors import NoActiveModel
from senolab.imaging.ingest.service import images_ingested
from senolab.imaging.models import Image
from senolab.jobs.services import jobs_finished_elsewhere

logger = logging.getLogger(__name__)


@receiver(jobs_finished_elsewhere)
def settle_runs_when_jobs_finish_elsewhere(sender: Any = None, **kwargs: Any) -> int:
    # Retraining runs too: their decision becomes "failed" with the job's message.
    return training.settle_runs_of_finished_jobs() + retraining.settle_runs_of_finished_jobs()


@worker_ready.connect
def settle_runs_of_lost_jobs(sender: Any = None, **kwargs: Any) -> None:
    # The jobs app fails this worker's previous jobs on the same signal and announces it, so
    # the order of the two receivers does not matter; this pass catches up on finishes that no
    # process heard (one killed between a commit and its on_commit callbacks).
    count = settle_runs_when_jobs_finish_elsewhere()
    if count:
        logger.warning("settled %d training run(s) whose job had already finished", count)


@receiver(images_ingested)
def preannotate_ingested_exams(sender: Any = None, *, project=None, images=(), **kwargs: Any):
    """New exams are pre-annotated by the active versions when their project says so."""
    if project is None or not project.preannotate_on_ingest:
        return None
    exams = sorted(set(Image.objects.filter(pk__in=images).values_list("exam_id", flat=True)))
    if not exams:
        return None
    try:
        return prediction.start_preannotation(project, exams, trigger="ingest")
    except NoActiveModel:
        logger.info("project %s pre-annotates on ingest but has no active model", project.pk)
        return None


@receiver(post_save, sender=RetrainingPolicy)
def schedule_retraining_policy(sender: Any, instance: RetrainingPolicy, **kwargs: Any) -> None:
    retraining.sync_schedule(instance)


@receiver(post_delete, sender=RetrainingPolicy)
def unschedule_retraining_policy(sender: Any, instance: RetrainingPolicy, **kwargs: Any) -> None:
    retraining.delete_schedule(instance)


@receiver(post_save, sender=PeriodicTask)
def adopt_admin_schedule(sender: Any, instance: PeriodicTask, **kwargs: Any) -> None:
    # The other direction: an edit of the task in the admin becomes the policy's schedule.
    retraining.adopt_schedule(instance)


@receiver(pre_delete, sender=PeriodicTask)
def forget_admin_schedule(sender: Any, instance: PeriodicTask, **kwargs: Any) -> None:
    # Before the link is set to NULL, while the policy can still be found by it.
    retraining.forget_schedule(instance)


@receiver(registry.version_activated)
def start_round_after_training(sender: Any = None, *, version=None, **kwargs: Any):
    """A trained version just activated: the project's policy may ask for a round on it."""
    if version is None:
        return None
    return active_learning.start_policy_round(version)
