"""Every long operation is a Job row: the one thing the UI and API poll."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from senolab.projects.models import Project


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class JobKind(models.TextChoices):
    """What a job does. Each kind names the service function that runs it."""

    INGEST = "ingest", "DICOM ingest"  # uploads and `manage.py ingest_dicom`
    IMPORT_DATASET = "import_dataset", "Data set import"  # `manage.py import_dataset`
    TRAIN = "train", "Training"
    EVALUATE = "evaluate", "Evaluation"
    PREDICT = "predict", "Prediction"
    EXPORT = "export", "Data set export"  # ml.services.exports
    ACTIVE_ROUND = "active_round", "Active-learning round"
    RETRAIN = "retrain", "Retraining"  # ml.services.retraining


FINISHED_STATUSES = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=40, choices=JobKind.choices, db_index=True)
    status = models.CharField(
        max_length=20, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    # What the job was asked to do (primary keys, options); never file contents or identifiers.
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Celery hostname running it")
    queue = models.CharField(max_length=40, default="default")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
