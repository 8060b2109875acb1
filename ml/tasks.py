"""Thin Celery entry points of the ML app, routed to the `gpu` queue (CELERY_TASK_ROUTES "ml.*").

Each takes a Job id and calls one service through the shared JobTask base, which records the
outcome on the Job row. A worker killed mid-task leaves the Job running until the worker_ready
handler or the reaper fails it; nothing is registered before the artifact is stored and
verified, so a kill leaves no ModelVersion behind. The services enqueue these by name
(ml.services.*.…_TASK) and never import this module.
"""

from __future__ import annotations

from celery import shared_task

from ml.services import active_learning, evaluation, exports, prediction, retraining, training
from senolab.jobs.base import JobTask
from senolab.jobs.models import Job


@shared_task(bind=True, base=JobTask, name=training.TRAIN_TASK)
def train_task(self: JobTask, job_id: str) -> str:
    try:
        return self.run_job(job_id, training.run_training)
    finally:
        training.mirror_run_status(Job.objects.get(pk=job_id))


@shared_task(bind=True, base=JobTask, name=evaluation.EVALUATE_TASK)
def evaluate_task(self: JobTask, job_id: str) -> str:
    return self.run_job(job_id, evaluation.run_evaluation)


@shared_task(bind=True, base=JobTask, name=prediction.PREDICT_TASK)
def predict_task(self: JobTask, job_id: str) -> str:
    return self.run_job(job_id, prediction.run_prediction)


# An export is CPU and storage work: its Job names the default queue, which apply_async passes
# explicitly and which wins over the "ml.*" route to the gpu queue.
@shared_task(bind=True, base=JobTask, name=exports.EXPORT_TASK)
def export_task(self: JobTask, job_id: str) -> str:
    return self.run_job(job_id, exports.run_export)


@shared_task(bind=True, base=JobTask, name=active_learning.ROUND_TASK)
def active_round_task(self: JobTask, job_id: str) -> str:
    return self.run_job(job_id, active_learning.run_round)


@shared_task(bind=True, base=JobTask, name=retraining.RETRAIN_TASK)
def retrain_task(self: JobTask, job_id: str) -> str:
    try:
        return self.run_job(job_id, retraining.run_retraining)
    finally:
        training.mirror_run_status(Job.objects.get(pk=job_id))


# The beat's look at a policy: a few queries, no Job (a run it starts is one). Its PeriodicTask
# names the default queue, which wins over the "ml.*" route to the gpu queue.
@shared_task(name=retraining.CHECK_TASK)
def check_retraining_policy_task(policy_id: int) -> dict:
    return retraining.check_policy(policy_id)
