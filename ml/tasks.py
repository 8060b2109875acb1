"""Thin Celery entry points of the ML app, routed to the `gpu` queue (CELERY_TASK_ROUTES "ml.*").

Each takes a Job id and calls one service through the shared JobTask base, which records the
outcome on the Job row. A worker killed mid-task leaves the Job running until the worker_ready
handler or the reaper fails it; nothing is registered before the artifact is stored and
verified, so a kill leaves no ModelVersion behind.
"""

from __future__ import annotations

from celery import shared_task

from senolab.jobs.base import JobTask
from senolab.jobs.models import Job


@shared_task(bind=True, base=JobTask, name="ml.train_task")
def train_task(self: JobTask, job_id: str) -> str:
    from ml import services

    try:
        return self.run_job(job_id, services.run_training)
    finally:
        services.mirror_run_status(Job.objects.get(pk=job_id))


@shared_task(bind=True, base=JobTask, name="ml.evaluate_task")
def evaluate_task(self: JobTask, job_id: str) -> str:
    from ml import inference

    return self.run_job(job_id, inference.run_evaluation)


@shared_task(bind=True, base=JobTask, name="ml.predict_task")
def predict_task(self: JobTask, job_id: str) -> str:
    from ml import inference

    return self.run_job(job_id, inference.run_prediction)
